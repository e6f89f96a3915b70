"""Finds LOL-style pairs whose low and high images may not show the same scene.

Users of the original report pairs of the public our485 whose two images differ (KinD issue 6,
RetinexNet issue 9). A short and a normal exposure of one scene differ by a tone curve, noise
and clipped light sources, so their pixels need not correlate linearly (our485 142.png: 0.29,
a ceiling lit by one blue lamp). What they share is the layout of dark and bright regions:
the check scores a pair by the rank (Spearman) correlation of its two grayscale images'
`BLOCK` x `BLOCK` block means (blocks average the low image's noise away, ranks ignore the tone
curve) and lists the pairs below `--min_correlation`; `--exclude_pairs` of the training
scripts leaves such a list out of training.

    python -m kind_tf.pair_check --data_dir ~/data/LOL/our485 --out suspect_pairs.txt
"""

import os
import sys

import numpy as np
from absl import flags
from scipy import stats

from kind_tf import cli, image_io, lol_pairs, outputs, progress
from kind_tf.errors import UserError

BLOCK = 8
# our485 at 8x8 blocks (2026-12-03): median 0.995, 1st percentile 0.70; the lowest, 648.png
# (0.48), is the one whose images visibly differ:
# the camera moved between the two exposures.
DEFAULT_MIN_CORRELATION = 0.6


def _block_means(gray, block=BLOCK):
    height, width = (size // block * block for size in gray.shape)
    if not (height and width):
        raise UserError(f"an image of {gray.shape[1]}x{gray.shape[0]} px is smaller than a "
                        f"{block}x{block} block")
    blocks = gray[:height, :width].reshape(height // block, block, width // block, block)
    return blocks.mean(axis=(1, 3))


def _gray(rgb):
    # ITU-R 601 luma, as `tf.image.rgb_to_grayscale` in the original's losses.
    return np.asarray(rgb, np.float64) @ np.array([0.2989, 0.5870, 0.1140])


def structure_correlation(low, high, block=BLOCK):
    """Spearman correlation of the `block` x `block` means of two RGB images' gray levels;
    1 for one scene at any exposure, near 0 for unrelated scenes."""
    low, high = (_block_means(_gray(image), block).ravel() for image in (low, high))
    if np.ptp(low) == 0 or np.ptp(high) == 0:
        return 0.0  # A flat image (e.g. an all-zero pair) shows no scene to match.
    return float(stats.spearmanr(low, high)[0])


def suspect_pairs(pairs, min_correlation=DEFAULT_MIN_CORRELATION):
    """[(pair name, correlation or None, reason)] of `pairs` whose `structure_correlation`
    is below `min_correlation` or that cannot be read as one pair, with a progress bar."""
    found = []
    bar = progress.progress_bar(len(pairs), "pair")
    for index, (low_path, high_path) in enumerate(pairs):
        name = os.path.basename(low_path)
        try:
            low, high = image_io.read_rgb(low_path), image_io.read_rgb(high_path)
            if low.shape != high.shape:
                raise UserError(f"the images are {low.shape[1]}x{low.shape[0]} and "
                                f"{high.shape[1]}x{high.shape[0]}")
            correlation = structure_correlation(low, high)
            if correlation < min_correlation:
                found.append((name, correlation, f"structure correlation {correlation:.3f} < "
                                                 f"{min_correlation}"))
        except UserError as error:
            found.append((name, None, str(error)))
        bar.update(index + 1)
    return found


def define_flags():
    flags.DEFINE_string("data_dir", None, "A LOL-style split folder holding low/ and high/ "
                        "(e.g. ~/data/LOL/our485).")
    flags.DEFINE_float("min_correlation", DEFAULT_MIN_CORRELATION, "List pairs whose "
                       "structure correlation is below this.")
    flags.DEFINE_string("out", None, "Write the listed pair names here, one per line with "
                        "the reason, for the training scripts' --exclude_pairs.")
    flags.mark_flag_as_required("data_dir")


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}: see --help")
    values = flags.FLAGS
    pairs = lol_pairs.list_pairs(values.data_dir)
    print(f"checking {len(pairs)} pairs of {values.data_dir}")
    found = suspect_pairs(pairs, values.min_correlation)
    for name, _, reason in found:
        print(f"{name}: {reason}")
    print(f"{len(found)} of {len(pairs)} pairs listed", file=sys.stderr)
    if values.out:
        with outputs.atomic_write(values.out) as file:
            file.writelines(f"{name}  # {reason}\n" for name, _, reason in found)
        print(f"wrote {values.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
