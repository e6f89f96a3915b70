"""Result files written whole or not at all: an interrupted run never leaves a half file."""

import contextlib
import csv
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from kind_tf.errors import UserError


def make_output_dir(path, flag="--output_dir"):
    """Creates folder `path` (and parents); `UserError` naming `flag` if that is impossible."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(f"{flag} '{path}': cannot create the folder ({error.strerror})") from None


def result_name(input_path):
    """The original names a result after its input's file name up to the first dot."""
    return os.path.basename(input_path).split(".")[0]


def kindle_path(input_path, output_dir):
    """`<output_dir>/<result_name>_kindle.png`, the original's result file."""
    return os.path.join(output_dir, f"{result_name(input_path)}_kindle.png")


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kwargs):
    """Opens a temporary file beside `path`; renames it to `path` once the block succeeds.

    `os.replace` is atomic on one file system, so readers see the old file or the new one.
    On an error the temporary file is removed and `path` is left as it was.
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, mode, **open_kwargs) as file:
            yield file
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


# Pillow's default zlib level, and the fast one for files shown at once (the app): the same
# pixels, quicker to write, bigger files.
PNG_COMPRESS_LEVEL = 6
PNG_FAST_COMPRESS_LEVEL = 1


def to_uint8(image):
    """The original `save_images` conversion, `uint8(clip(x * 255, 0, 255))`: truncation.

    In TF ops, so that the exported enhancer converts as the scripts do: a tensor for a
    tensor (in a graph too), a numpy array for anything else.
    """
    pixels = tf.cast(tf.clip_by_value(tf.convert_to_tensor(image) * 255.0, 0.0, 255.0),
                     tf.uint8)
    return pixels if tf.is_tensor(image) else pixels.numpy()


def write_png(path, pixels, compress_level=PNG_COMPRESS_LEVEL):
    """Writes a uint8 (H, W, 3) or (H, W) array as a PNG (zlib level `compress_level`)."""
    with atomic_write(path, "wb") as file:
        Image.fromarray(pixels).save(file, format="png", compress_level=compress_level)


def write_json(path, value):
    with atomic_write(path) as file:
        json.dump(value, file, indent=2)
        file.write("\n")


def write_csv(path, rows, columns):
    """Writes dicts `rows` as CSV with a header of `columns` (in that order)."""
    with atomic_write(path, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def side_by_side(*images):
    """The images, each without a batch axis of size 1 and a channel axis of size 1,
    concatenated left to right (the original's `np.squeeze`, which would also drop the axes
    of a 1-pixel-high or -wide image)."""
    def squeezed(image):
        image = np.asarray(image)
        if image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        return image

    return np.concatenate([squeezed(image) for image in images], axis=1)


def save_images(path, *images, compress_level=PNG_COMPRESS_LEVEL):
    """The original `save_images`: images side by side, `uint8(clip(x * 255))`, PNG.

    Like the original, values are truncated, not rounded. The file is written whole or not at
    all (`write_png`).
    """
    write_png(path, to_uint8(side_by_side(*images)), compress_level=compress_level)
