"""How well does a DecomNet minimize the released decomposition objective, and how dark is its L?

Scores DecomNet checkpoints with the original `loss_Decom` (`losses.decom_loss`, fp32) on LOL
pairs, next to the mean illumination it gives the low and the high images: the evidence
behind the README's "where the gap is". Two ways:
- on 48x48 patches, what training minimizes: `--patches_per_pair` random crops of each pair
  (the same crop of low and high, seeded, the same crops for every net), in shuffled batches
  of 10 as training's (the loss's `gradient()` normalizes over a batch), averaged;
- on whole images, as the nets are used (and as `bench_bf16_training.py` scores).

    .venv/bin/python bench/bench_decom_objective.py --data_dir ~/data/LOL \
        --ckpt authors=../shared/kind_reference/checkpoint,ours=pretrained    # ~1 min
"""

import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kind_tf import checkpoints, image_io, lol_pairs, losses  # noqa: E402
from kind_tf.models import DecomNet  # noqa: E402

FLAGS = flags.FLAGS
# The original trains DecomNet on our485 and holds out its last pairs as samples.
TRAIN_PAIRS = 466
PATCH_SIZE = 48
BATCH_SIZE = 10


def load_decom(ckpt_root):
    """The DecomNet under checkpoint root `ckpt_root`."""
    net = DecomNet()
    checkpoints.load_net(net, ckpt_root)
    return net


def _terms(net, low, high):
    """`losses.decom_loss` terms of `net` on (B,H,W,3) `low`/`high`, with mean L_low, L_high."""
    (r_low, l_low), (r_high, l_high) = net(low), net(high)
    terms = losses.decom_loss(low, high, r_low, l_low, r_high, l_high)
    return {**{name: float(value) for name, value in terms.items()},
            "L_low": float(tf.reduce_mean(l_low)), "L_high": float(tf.reduce_mean(l_high))}


def _mean(terms):
    return {name: np.mean([t[name] for t in terms]) for name in terms[0]}


def decom_objective(net, pairs):
    """Mean decom loss terms, L_low and L_high of `net` over the whole images of `pairs`."""
    return _mean([_terms(net, image_io.load_image(low)[None], image_io.load_image(high)[None])
                  for low, high in pairs])


def random_patches(pairs, per_pair, seed):
    """(low, high) stacks of `per_pair` random `PATCH_SIZE` crops of each pair (normalized
    as training normalizes, the same crop of low and high), in a seeded random order."""
    rng = np.random.default_rng(seed)
    lows, highs = [], []
    for low_path, high_path in pairs:
        low, high = image_io.load_image(low_path), image_io.load_image(high_path)
        for _ in range(per_pair):
            top = rng.integers(0, low.shape[0] - PATCH_SIZE + 1)
            left = rng.integers(0, low.shape[1] - PATCH_SIZE + 1)
            lows.append(low[top : top + PATCH_SIZE, left : left + PATCH_SIZE])
            highs.append(high[top : top + PATCH_SIZE, left : left + PATCH_SIZE])
    order = rng.permutation(len(lows))
    return np.stack(lows)[order], np.stack(highs)[order]


def patch_objective(net, patches):
    """Mean decom loss terms, L_low and L_high of `net` over the `BATCH_SIZE` batches of a
    `random_patches`."""
    lows, highs = patches
    return _mean([_terms(net, lows[start : start + BATCH_SIZE], highs[start : start + BATCH_SIZE])
                  for start in range(0, len(lows) - BATCH_SIZE + 1, BATCH_SIZE)])


def main(argv):
    del argv
    train = lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "our485"))[:TRAIN_PAIRS:FLAGS.stride]
    eval15 = lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "eval15"))
    patches = random_patches(train, FLAGS.patches_per_pair, seed=0)
    train_name = f"our485[0:{TRAIN_PAIRS}:{FLAGS.stride}]"
    header = None
    for entry in FLAGS.ckpt:
        name, _, root = entry.partition("=")
        if not root:
            raise app.UsageError(f"--ckpt entry '{entry}' is not name=checkpoint_root")
        net = load_decom(root)
        for where, result in (
            (f"{train_name}, {len(patches[0])} patches {PATCH_SIZE}x{PATCH_SIZE}, batches of "
             f"{BATCH_SIZE}", patch_objective(net, patches)),
            (f"{train_name}, {len(train)} whole images", decom_objective(net, train)),
            (f"eval15, {len(eval15)} whole images", decom_objective(net, eval15)),
        ):
            if header is None:
                header = list(result)
                print("| DecomNet | scored on | " + " | ".join(header) + " |")
                print("|---" * (len(header) + 2) + "|")
            print(f"| {name} | {where} | "
                  + " | ".join(f"{result[key]:.4f}" for key in header) + " |", flush=True)


if __name__ == "__main__":
    flags.DEFINE_string("data_dir", None, "LOL folder holding our485/ and eval15/.")
    flags.DEFINE_list("ckpt", None, "name=checkpoint_root entries (each root holds "
                      "decom_net_train/).")
    flags.DEFINE_integer("stride", 12, "Score every this-th of the our485 training pairs.")
    flags.DEFINE_integer("patches_per_pair", 20, "Random patches of each scored pair.")
    flags.mark_flags_as_required(["data_dir", "ckpt"])
    app.run(main)
