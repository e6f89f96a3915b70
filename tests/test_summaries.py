"""TensorBoard records written without the tensorboard package, read back as TensorBoard would."""

import glob
import io

import numpy as np
import tensorflow as tf
from PIL import Image

from kind_tf import summaries


def read_events(folder):
    """({tag: plugin name}, {tag: {step: value array}}) of the one event file in `folder`."""
    (path,) = glob.glob(f"{folder}/events.out.tfevents.*")
    plugins, values = {}, {}
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name:  # written with a tag's first record
                plugins[value.tag] = value.metadata.plugin_data.plugin_name
            values.setdefault(value.tag, {})[event.step] = tf.make_ndarray(value.tensor)
    return plugins, values


def test_scalar_and_image_records(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    gray = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    with writer.as_default(step=7):
        summaries.scalar("loss", 0.25)
        summaries.image("sample", gray)
    with writer.as_default(step=8):
        summaries.scalar("loss", 0.125)
    writer.close()
    plugins, values = read_events(tmp_path)
    assert plugins == {"loss": "scalars", "sample": "images"}
    assert values["loss"] == {7: 0.25, 8: 0.125}
    width, height, png = values["sample"][7]
    assert (int(width), int(height)) == (4, 3)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(decoded, (gray * 255).astype(np.uint8))
