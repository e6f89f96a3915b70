"""TensorBoard scalars and images, written without the `tensorboard` package.

`tf.summary.scalar`/`image` live in the `tensorboard` package, which TensorFlow no longer
installs; these write the same records (the summary format TensorBoard's scalar and image
plugins read) with TensorFlow's core `tf.summary.write`. Call them inside
`writer.as_default(step=...)`.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from kind_tf import outputs


def _metadata(plugin_name, data_class):
    metadata = summary_pb2.SummaryMetadata(data_class=data_class)
    metadata.plugin_data.plugin_name = plugin_name
    return metadata


_SCALAR = _metadata("scalars", summary_pb2.DATA_CLASS_SCALAR)
_IMAGE = _metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE)


def scalar(tag, value):
    """Writes one float scalar, as `tf.summary.scalar`."""
    return tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR)


def image(tag, pixels):
    """Writes one (H, W) or (H, W, C) image in [0, 1] as PNG, as `tf.summary.image`.

    zlib level 1, as the sample PNGs (`outputs.PNG_FAST_COMPRESS_LEVEL`): at the default level
    compressing the samples is most of a save's TensorBoard time.
    """
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    encoded = tf.io.encode_png(
        outputs.to_uint8(pixels),
        compression=outputs.PNG_FAST_COMPRESS_LEVEL,
    )
    height, width = pixels.shape[:2]
    # The image plugin's record: [width, height, png, ...] as strings.
    return tf.summary.write(tag, tf.stack([str(width), str(height), encoded]), metadata=_IMAGE)
