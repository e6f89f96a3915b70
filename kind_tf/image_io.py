"""Image files: reading any format Pillow opens as the original's normalized float32, listing."""

import contextlib
import os

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from kind_tf.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# The original `load_images` divides by at least this range (a flat image stays finite).
MIN_RANGE = 0.001


def min_max_scaled(values, low, high):
    """`(x - min) / max(max - min, 0.001)`, the original's per-image normalization, in
    float32: on numpy arrays, or in TF ops (in a graph too) when the bounds are tensors."""
    span = high - low
    maximum = tf.maximum if tf.is_tensor(span) else np.maximum
    return (values - low) / maximum(span, np.float32(MIN_RANGE))


@contextlib.contextmanager
def _opened(path):
    """Pillow's lazy `Image.open(path)`; a missing or unreadable file is a one-line error."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise UserError(f"image '{path}' not found") from None
    # Pillow refuses images of over twice Image.MAX_IMAGE_PIXELS (about 179 MP) as possible
    # decompression bombs.
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read image '{path}': {error}; is it an image file?") from None


def read_rgb(path):
    """Reads any image Pillow can open as uint8 RGB (H, W, 3); grayscale/RGBA/palette converted.

    16-bit grayscale keeps the high byte of each level, as Pillow reads 16-bit RGB: its own
    conversion clips the levels at 255, which made such photos white.
    """
    with _opened(path) as image:
        if image.mode.startswith("I;16"):
            gray = (np.asarray(image) >> 8).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def image_header(path):
    """(height, width, Pillow mode) of image `path`, from its header (the pixels are not
    decoded): what a caller checks before paying for `read_rgb`."""
    with _opened(path) as image:
        return image.height, image.width, image.mode


def image_size(path):
    """(height, width) of image `path`, from its header."""
    return image_header(path)[:2]


_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)  # uint8 / 255 in float32


def level_range(pixels):
    """(min, max) of uint8 `pixels` / 255 in float32: what the original normalizes by."""
    return _LEVELS[pixels.min()], _LEVELS[pixels.max()]


def load_image(path):
    """Loads an image as the original does: float32 (H, W, 3) in [0, 1], min-max normalized."""
    return normalize_pixels(read_rgb(path))


def normalize_pixels(pixels):
    """uint8 `pixels` normalized as the original `load_images`: `min_max_scaled` of
    `pixels / 255` over the whole image (all channels), bit for bit."""
    # The original normalizes the float32 image uint8 / 255 pixel by pixel, so a pixel's value
    # depends only on its uint8 level (and the image's min and max levels): a table of the
    # 256 levels through the same float32 ops gives the same values in one pass.
    table = min_max_scaled(_LEVELS, *level_range(pixels))
    return table[pixels]


def list_images(folder):
    """Sorted image file paths in `folder` (by file name string, as the original's `sort()`)."""
    if not os.path.isdir(folder):
        raise UserError(f"folder '{folder}' does not exist")
    names = sorted(
        name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    return [os.path.join(folder, name) for name in names]


def image_paths(source, flag="--input"):
    """The images named by `source`: the file itself, or the images of folder `source`."""
    if os.path.isdir(source):
        paths = list_images(source)
        if not paths:
            raise UserError(
                f"{flag} folder '{source}' holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        return paths
    if os.path.isfile(source):
        return [source]
    raise UserError(f"{flag} '{source}' is neither a photo nor a folder")
