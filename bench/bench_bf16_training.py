"""Does `--precision bf16` train DecomNet as well as fp32? Eval15 loss after the same epochs.

Trains `train_decom.py` on the 41 pairs of ../shared/LOLdataset for --epochs at fp32 and bf16
(seed 0) and at fp32 with seed 1 (how much a seed alone moves the result), then scores each
checkpoint with an fp32 DecomNet: the mean `losses.decom_loss` terms (and mean L) over the 15
full-size eval15 pairs (`bench_decom_objective.decom_objective`).

    .venv/bin/python -m bench.bench_bf16_training --epochs 300

Writes bench/results/bench_bf16_training.json.
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench import results_file
from bench.bench_decom_objective import decom_objective, load_decom
from kind_tf import lol_pairs

flags.DEFINE_integer("epochs", 300, "Training epochs of each run.")
FLAGS = flags.FLAGS
LOL = os.path.join(os.path.dirname(ROOT), "shared", "LOLdataset")
RUNS = [("fp32", 0), ("bf16", 0), ("fp32", 1)]


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for precision, seed in RUNS:
            folder = os.path.join(work, f"{precision}_{seed}")
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, os.path.join(ROOT, "train_decom.py"), f"--data_dir={LOL}",
                 f"--epochs={FLAGS.epochs}", f"--save_every={FLAGS.epochs}",
                 f"--precision={precision}", f"--seed={seed}", f"--ckpt_dir={folder}/ckpt",
                 f"--sample_dir={folder}/samples", f"--tensorboard_dir={folder}/logs"],
                check=True, capture_output=True,
            )
            seconds = time.perf_counter() - start
            loss = decom_objective(load_decom(os.path.join(folder, "ckpt")),
                                   lol_pairs.list_pairs(os.path.join(LOL, "eval15")))
            terms = " ".join(f"{name} {value:.4f}" for name, value in loss.items())
            print(f"{precision} seed {seed}: {FLAGS.epochs} epochs in {seconds:.0f} s; eval15 "
                  f"{terms}", flush=True)
            rows.append({"precision": precision, "seed": seed, "epochs": FLAGS.epochs,
                         "seconds": round(seconds), "eval15": {
                             name: round(float(value), 4) for name, value in loss.items()}})
    results_file.write("bench_bf16_training", rows)


if __name__ == "__main__":
    app.run(main)
