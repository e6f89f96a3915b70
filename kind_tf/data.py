"""Image loading and LOL-style pair discovery, with the original's normalization."""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from kind_tf.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def normalize(image):
    """The original `load_images` normalization: per-image min-max over all channels.

    `(x - min) / max(max - min, 0.001)` on `uint8 / 255` values.
    """
    image = np.asarray(image, dtype=np.float32)
    low, high = image.min(), image.max()
    return np.float32((image - low) / np.maximum(high - low, 0.001))


def read_rgb(path):
    """Reads any image Pillow can open as uint8 RGB (H, W, 3); grayscale/RGBA/palette converted."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise UserError(f"image '{path}' not found") from None
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read image '{path}': {error}; is it an image file?") from None


def load_image(path):
    """Loads an image as the original does: float32 (H, W, 3) in [0, 1], min-max normalized."""
    return normalize(read_rgb(path) / np.float32(255.0))


def list_images(folder):
    """Sorted image file paths in `folder` (by file name string, as the original's `sort()`)."""
    if not os.path.isdir(folder):
        raise UserError(f"folder '{folder}' does not exist")
    names = sorted(
        name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    return [os.path.join(folder, name) for name in names]


def list_pairs(split_dir):
    """[(low_path, high_path), ...] of a LOL split folder holding `low/` and `high/`.

    Pairs are matched by file name and sorted by it, as the original scripts' sorted globs.
    Raises `UserError` for a missing or empty folder, or names without a partner.
    """
    low_dir, high_dir = os.path.join(split_dir, "low"), os.path.join(split_dir, "high")
    for folder in (low_dir, high_dir):
        if not os.path.isdir(folder):
            raise UserError(
                f"folder '{folder}' does not exist: a LOL split holds low/ and high/ "
                "(see LOLdataset/README.md)"
            )
    low = {os.path.basename(path): path for path in list_images(low_dir)}
    high = {os.path.basename(path): path for path in list_images(high_dir)}
    if not low and not high:
        raise UserError(f"no images in '{low_dir}' and '{high_dir}': put the LOL pairs there")
    unmatched = sorted(set(low) ^ set(high))
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        raise UserError(
            f"'{split_dir}': {len(unmatched)} images have no partner of the same name in "
            f"low/ and high/: {shown}"
        )
    return [(low[name], high[name]) for name in sorted(low)]
