"""The yardsticks of a DecomNet: how dark its L is, and how well it minimizes the released objective.

For each DecomNet checkpoint (`--ckpt name=path`: a checkpoint root holding decom_net_train/,
that folder, or one checkpoint prefix such as .../decom_net_train/model.ckpt-100):
- on eval15, whole images normalized as the original's `load_images`: the mean illumination
  of the low and the high images (L_low, L_high), the range of the ground-truth ratios
  mean(L_high / (L_low + 1e-4)) of the LOL protocol, and mean |R_low - R_high|;
- the original `loss_Decom` (`losses.decom_loss`, fp32) on 48x48 patches, what training
  minimizes: `--patches_per_pair` random crops of each pair (the same crop of low and high,
  seeded, the same crops for every net), in shuffled batches of 10 as training's (the loss's
  `gradient()` normalizes over a batch), averaged;
- the same loss on whole images, as the nets are used (and as `bench_bf16_training.py`
  scores). `--eval15_only` skips both losses.

`--offsets 0,0.1,...` also walks the loss of the first net along a brightening of its L_low:
L_low + offset with R_low scaled to keep R_low * L_low (the reconstruction) unchanged, which
shows which terms pull L_low up or down (docs/reproducing_kind.md, "the mechanism").

Every row is printed and merged into `--out` (JSON, by name, with host, date and command).

    .venv/bin/python -m bench.bench_decom_objective --data_dir ~/data/LOL \
        --ckpt authors=../shared/kind_reference/checkpoint,ours=pretrained
"""

import datetime
import json
import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import tensorflow as tf

from kind_tf import checkpoints, image_io, lol_pairs, losses, recipe
from kind_tf.models import DecomNet

FLAGS = flags.FLAGS
# The original trains DecomNet on our485 and holds out its last pairs as samples.
TRAIN_PAIRS = 466
PATCH_SIZE = 48
BATCH_SIZE = 10


def load_decom(path):
    """The DecomNet of `path`: a checkpoint root holding decom_net_train/, or a checkpoint
    folder or prefix."""
    net = DecomNet()
    if os.path.isdir(checkpoints.net_folder(path, net)):
        checkpoints.load_net(net, path)
    else:
        checkpoints.load_weights(net, path)
    return net


def eval15_yardsticks(net, pairs):
    """Mean L_low and L_high, the range of the ground-truth ratios and mean |R_low - R_high|
    of `net` on the whole images of `pairs`."""
    l_low, l_high, ratios, r_diff = [], [], [], []
    for low_path, high_path in pairs:
        (r_low, il_low), (r_high, il_high) = (
            net(image_io.load_image(path)[None]) for path in (low_path, high_path))
        l_low.append(float(tf.reduce_mean(il_low)))
        l_high.append(float(tf.reduce_mean(il_high)))
        ratios.append(float(tf.reduce_mean(il_high / (il_low + 1e-4))))
        r_diff.append(float(tf.reduce_mean(tf.abs(r_low - r_high))))
    return {"L_low": np.mean(l_low), "L_high": np.mean(l_high), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "R_diff": np.mean(r_diff)}


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


def brightening(net, patches, offsets):
    """{offset: mean decom loss terms} of `net`'s decomposition of `patches` in batches of
    `BATCH_SIZE`, with L_low + offset and R_low * L_low / (L_low + offset)."""
    lows, highs = patches
    rows = {offset: [] for offset in offsets}
    for start in range(0, len(lows) - BATCH_SIZE + 1, BATCH_SIZE):
        low, high = lows[start : start + BATCH_SIZE], highs[start : start + BATCH_SIZE]
        (r_low, l_low), (r_high, l_high) = net(low), net(high)
        for offset in offsets:
            brighter = l_low + offset
            terms = losses.decom_loss(low, high, r_low * l_low / brighter, brighter, r_high,
                                      l_high)
            rows[offset].append({name: float(value) for name, value in terms.items()})
    return {offset: _mean(terms) for offset, terms in rows.items()}


def _merge_results(path, name, rows):
    """Merges `rows` ({scored on: {yardstick: value}}) of DecomNet `name` into the JSON `path`."""
    results = {}
    if os.path.exists(path):
        with open(path) as file:
            results = json.load(file)
    results[name] = {
        "date": datetime.date.today().isoformat(), "host": recipe.host_description(),
        "command": " ".join(["python -m bench.bench_decom_objective"] + sys.argv[1:]),
        **{where: {key: round(float(value), 5) for key, value in row.items()}
           for where, row in rows.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as file:
        json.dump(results, file, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def main(argv):
    del argv
    train = lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "our485"))[:TRAIN_PAIRS:FLAGS.stride]
    eval15 = lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "eval15"))
    train_name = f"our485[0:{TRAIN_PAIRS}:{FLAGS.stride}]"
    FLAGS.offsets = [float(offset) for offset in FLAGS.offsets]
    patches = None if FLAGS.eval15_only else random_patches(train, FLAGS.patches_per_pair, seed=0)
    for entry in FLAGS.ckpt:
        name, _, path = entry.partition("=")
        if not path:
            raise app.UsageError(f"--ckpt entry '{entry}' is not name=checkpoint_path")
        net = load_decom(path)
        rows = {f"eval15, {len(eval15)} whole images, yardsticks": eval15_yardsticks(net, eval15)}
        if patches is not None:
            rows[f"{train_name}, {len(patches[0])} patches {PATCH_SIZE}x{PATCH_SIZE}, batches of "
                 f"{BATCH_SIZE}"] = patch_objective(net, patches)
            rows[f"{train_name}, {len(train)} whole images"] = decom_objective(net, train)
            rows[f"eval15, {len(eval15)} whole images"] = decom_objective(net, eval15)
        for where, result in rows.items():
            print(f"| {name} | {where} | "
                  + " | ".join(f"{key} {value:.4f}" for key, value in result.items()) + " |",
                  flush=True)
        if FLAGS.offsets and entry == FLAGS.ckpt[0] and patches is not None:
            for offset, result in brightening(net, patches, FLAGS.offsets).items():
                rows[f"L_low + {offset}, R_low * L_low kept, patches"] = result
                print(f"| {name} | L_low + {offset} | " + " | ".join(
                    f"{key} {value:.4f}" for key, value in result.items()) + " |", flush=True)
        if FLAGS.out:
            _merge_results(FLAGS.out, name, rows)


if __name__ == "__main__":
    flags.DEFINE_string("data_dir", None, "LOL folder holding our485/ and eval15/.")
    flags.DEFINE_list("ckpt", None, "name=path entries: a checkpoint root holding "
                      "decom_net_train/, that folder, or a checkpoint prefix.")
    flags.DEFINE_list("offsets", [], "Offsets added to the first net's L_low on the patches "
                      "(see the module doc), e.g. 0,0.1,0.2,0.35.")
    flags.DEFINE_bool("eval15_only", False, "Only the eval15 yardsticks (no objective).")
    flags.DEFINE_string("out", os.path.join(ROOT, "bench", "results", "decom_objective.json"),
                        "JSON file the rows are merged into, by name ('' for none).")
    flags.DEFINE_integer("stride", 12, "Score every this-th of the our485 training pairs.")
    flags.DEFINE_integer("patches_per_pair", 20, "Random patches of each scored pair.")
    flags.mark_flags_as_required(["data_dir", "ckpt"])
    app.run(main)
