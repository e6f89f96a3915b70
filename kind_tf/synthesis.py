"""Synthetic low-light pairs from normal-light photos, the way LLIE papers make training data.

A normal-light image x in [0, 1] becomes `y = beta * (alpha * x) ** gamma` (the random
darkening of Lv et al., MBLLEN, BMVC 2018, with a darker beta range so that the mean level is
near LOL's low images, about 0.05), then Poisson-Gaussian
sensor noise is added in the dark image's linear domain: `poisson(y * peak) / peak +
normal(0, read_noise)` (Foi et al., 2008), and the result is quantized to 8 bits.

Command line (writes LOL layout, `low/` + `high/` with matching names):

    python -m kind_tf.synthesis --input photos/ --output_dir my_pairs/our485 --seed 0
"""

import os

import numpy as np
from absl import flags

from kind_tf import cli, image_io
from kind_tf.outputs import write_png


def darken_and_add_noise(
    image,
    rng,
    alpha_range=(0.9, 1.0),
    beta_range=(0.15, 0.5),
    gamma_range=(1.8, 3.0),
    peak_range=(30.0, 300.0),
    read_noise_range=(0.001, 0.006),
):
    """Synthesizes a low-light version of `image` (uint8 or float in [0, 1], (H, W, 3)).

    Each parameter is drawn uniformly from its range with `rng` (a `np.random.Generator`);
    `peak` is the photon count of a full-scale pixel (lower = noisier). Returns uint8.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image / 255.0
    alpha, beta, gamma, peak, read_noise = (
        rng.uniform(*bounds)
        for bounds in (alpha_range, beta_range, gamma_range, peak_range, read_noise_range)
    )
    dark = beta * (alpha * np.clip(image, 0.0, 1.0)) ** gamma
    noisy = rng.poisson(dark * peak) / peak + rng.normal(0.0, read_noise, dark.shape)
    return np.round(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_pair(split_dir, name, high, low):
    """Writes `high` and `low` (uint8 RGB) as `<split_dir>/{high,low}/<name>.png`."""
    for folder, image in (("high", high), ("low", low)):
        os.makedirs(os.path.join(split_dir, folder), exist_ok=True)
        write_png(os.path.join(split_dir, folder, f"{name}.png"), image)


def synthesize_folder(paths, split_dir, seed=0):
    """Writes one synthetic pair per photo in `paths` into `split_dir` (LOL layout)."""
    rng = np.random.default_rng(seed)
    for path in paths:
        high = image_io.read_rgb(path)
        name = os.path.splitext(os.path.basename(path))[0]
        write_pair(split_dir, name, high, darken_and_add_noise(high, rng))
    return len(paths)


def _define_flags():
    flags.DEFINE_string("input", None, "A photo, or a folder of photos, to darken.")
    flags.DEFINE_string("output_dir", None, "Folder to write low/ and high/ into.")
    flags.DEFINE_integer("seed", 0, "Random seed of the darkening and noise.")
    flags.mark_flags_as_required(["input", "output_dir"])


def main(argv):
    del argv
    paths = image_io.image_paths(flags.FLAGS.input)
    count = synthesize_folder(paths, flags.FLAGS.output_dir, flags.FLAGS.seed)
    print(f"wrote {count} low/high pairs to {flags.FLAGS.output_dir}")


if __name__ == "__main__":
    _define_flags()
    cli.run(main)
