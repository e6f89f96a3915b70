"""Does `--precision bf16` train DecomNet as well as fp32? Eval15 loss after the same epochs.

Trains `train_decom.py` on the 41 pairs of ../shared/LOLdataset for --epochs at fp32 and bf16
(seed 0) and at fp32 with seed 1 (how much a seed alone moves the result), then scores each
checkpoint with an fp32 DecomNet: the mean `losses.decom_loss` terms over the 15 full-size
eval15 pairs.

    .venv/bin/python bench/bench_bf16_training.py --epochs 300     # ~5 min on 2 CPU cores
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from kind_tf import checkpoints, image_io, lol_pairs, losses  # noqa: E402
from kind_tf.models import DecomNet  # noqa: E402

flags.DEFINE_integer("epochs", 300, "Training epochs of each run.")
FLAGS = flags.FLAGS
LOL = os.path.join(os.path.dirname(ROOT), "shared", "LOLdataset")
RUNS = [("fp32", 0), ("bf16", 0), ("fp32", 1)]


def eval15_loss(ckpt_root):
    """Mean decom loss terms of the trained DecomNet over the eval15 pairs, fp32."""
    net = DecomNet()
    checkpoints.load_net(net, ckpt_root)
    terms = []
    for low_path, high_path in lol_pairs.list_pairs(os.path.join(LOL, "eval15")):
        low, high = image_io.load_image(low_path)[None], image_io.load_image(high_path)[None]
        (r_low, l_low), (r_high, l_high) = net(low), net(high)
        terms.append(losses.decom_loss(low, high, r_low, l_low, r_high, l_high))
    return {name: np.mean([float(t[name]) for t in terms]) for name in terms[0]}


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as work:
        for precision, seed in RUNS:
            folder = os.path.join(work, f"{precision}_{seed}")
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, os.path.join(ROOT, "train_decom.py"), f"--data_dir={LOL}",
                 f"--epochs={FLAGS.epochs}", f"--save_every={FLAGS.epochs}",
                 f"--precision={precision}", f"--seed={seed}", f"--ckpt_dir={folder}/ckpt",
                 f"--sample_dir={folder}/samples", f"--log_dir={folder}/logs"],
                check=True, capture_output=True,
            )
            seconds = time.perf_counter() - start
            loss = eval15_loss(os.path.join(folder, "ckpt"))
            terms = " ".join(f"{name} {value:.4f}" for name, value in loss.items())
            print(f"{precision} seed {seed}: {FLAGS.epochs} epochs in {seconds:.0f} s; eval15 "
                  f"{terms}", flush=True)


if __name__ == "__main__":
    app.run(main)
