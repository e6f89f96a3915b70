"""LOL-style paired datasets: the pairs of a split folder, their sizes, the train/sample split,
the pairs listed to leave out."""

import os

from kind_tf import image_io
from kind_tf.errors import UserError


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
    low = {os.path.basename(path): path for path in image_io.list_images(low_dir)}
    high = {os.path.basename(path): path for path in image_io.list_images(high_dir)}
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


def check_patch_fits(path, shape, patch_size):
    """Raises `UserError` when image `path` of `shape` (H, W, ...) cannot hold a patch."""
    height, width = shape[:2]
    if height < patch_size or width < patch_size:
        raise UserError(
            f"image '{path}' is {width}x{height}, smaller than the {patch_size}x{patch_size} "
            "training patch: lower --patch_size or remove the image"
        )


def pair_size(low_path, high_path, patch_size):
    """(height, width) of a training pair, checked (from the headers) to be one size that
    holds a `patch_size` patch."""
    low, high = image_io.image_size(low_path), image_io.image_size(high_path)
    if low != high:
        raise UserError(
            f"'{low_path}' is {low[1]}x{low[0]} but its partner '{high_path}' is "
            f"{high[1]}x{high[0]}: a pair must have one size"
        )
    check_patch_fits(low_path, low, patch_size)
    return low


LOL_TRAIN_PAIRS = 485  # our485


def split(pairs, train_pairs=None, num_samples=0, original_train_pairs=None):
    """(pairs to train on, held-out pairs to write samples of) of the sorted training set.

    The first `train_pairs` are trained on; the samples are the `num_samples` pairs after
    the next one, as the original scripts skip one (restoration: train [0:466], samples
    [467:480]; adjustment: [0:450] and [451:461]). `train_pairs` None is the original's split
    (`original_train_pairs`, None for all) on a set up to LOL's size, and every pair but the
    held-out ones on a larger set. Raises `UserError` for counts the set cannot give.
    """
    if num_samples < 0:
        raise UserError(f"--num_samples must be 0 or more, got {num_samples}")
    if train_pairs is None:
        if original_train_pairs is None:
            train_pairs = len(pairs)
        elif len(pairs) <= LOL_TRAIN_PAIRS:
            train_pairs = min(original_train_pairs, len(pairs))
        else:
            train_pairs = len(pairs) - 1 - num_samples
    if not 1 <= train_pairs <= len(pairs):
        raise UserError(f"--train_pairs {train_pairs}: the training set has {len(pairs)} pairs; "
                        f"pass 1 to {len(pairs)}")
    return pairs[:train_pairs], pairs[train_pairs + 1 : train_pairs + 1 + num_samples]


def read_exclusions(path):
    """The pair names listed in file `path` (one per line; text after '#' is a comment)."""
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError as error:
        raise UserError(f"--exclude_pairs: cannot read '{path}': {error.strerror}") from None
    return {line.split("#")[0].strip() for line in lines} - {""}
