"""Training at dataset scale: peak memory and time to the first step of stages 1 and 2.

Runs `train_decom.py` / `train_restoration.py` of a checkout (`--repo`, this one by default:
pass an older checkout to measure "before") in a fresh process per run, stopped
`--train_seconds` into training, and reports the process's peak resident memory (`wait4`)
and the seconds from launch to the start of training: the loop's "training <net> on ..."
line, printed when everything is loaded (images read, decomposed or read from the cache, the
pipeline built) and the first step is about to run.
The sets:

- `lol`: the full LOL (`--lol_dir`, our485 + eval15);
- `lol1600`: 1,600 LOL-size pairs, symlinks cycling through our485 (eval15 as it is);
- `12mp`: `--big_pairs` pairs of 4000x3000 (LOL pairs upscaled, written once to
  `--work_dir`).

Stage 2 runs twice on a set, the second time in the same folders: what a user waits for when
resuming (the decompositions are cached from the first run, where the code caches them; the
runs save every epoch, so the second resumes from a checkpoint when the first finished an
epoch: the row's "resumed").

    .venv/bin/python -m bench.bench_data_scale --lol_dir ~/data/LOL --work_dir /tmp/scale \
        [--repo ../old_checkout] [--sets lol,lol1600,12mp] [--stages 1,2]

The rows go to bench/results/bench_data_scale_<label>.json.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from absl import app, flags
from PIL import Image

from bench import results_file

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = flags.FLAGS
flags.DEFINE_string("repo", os.path.dirname(HERE), "Checkout whose training scripts to run.")
flags.DEFINE_string("lol_dir", None, "The full LOL (our485/, eval15/).")
flags.DEFINE_string("work_dir", "/tmp/kind_scale", "Where the made sets and runs go.")
flags.DEFINE_string("decom_ckpt", os.path.join(os.path.dirname(HERE), "pretrained"),
                    "A checkpoint root with decom_net_train/ for stage 2.")
flags.DEFINE_list("sets", ["lol", "lol1600", "12mp"], "Sets to run on.")
flags.DEFINE_list("stages", ["1", "2"], "Stages to run.")
flags.DEFINE_integer("big_pairs", 30, "Pairs of the 12 MP set.")
flags.DEFINE_string("label", "", "A label for the results (e.g. before / after).")
flags.DEFINE_float("train_seconds", 30, "Seconds of training after the first step starts, "
                   "then the run is stopped.")
flags.DEFINE_float("max_rss_gb", 16, "Kill a run whose resident memory passes this (GiB), "
                   "so that an old checkout's run cannot exhaust the machine's memory.")
flags.mark_flag_as_required("lol_dir")

SCRIPTS = {"1": "train_decom.py", "2": "train_restoration.py"}


def _link_set(source, target, count):
    """A LOL folder of `count` our485 pairs, symlinks cycling through `source`'s."""
    if os.path.isdir(target):
        return target
    names = sorted(os.listdir(os.path.join(source, "our485", "low")))
    for side in ("low", "high"):
        os.makedirs(os.path.join(target, "our485", side))
        for index in range(count):
            os.symlink(os.path.join(source, "our485", side, names[index % len(names)]),
                       os.path.join(target, "our485", side, f"{index:05d}.png"))
    os.symlink(os.path.join(source, "eval15"), os.path.join(target, "eval15"))
    return target


def _big_set(source, target, count, size=(4000, 3000)):
    """A LOL folder of `count` pairs upscaled to `size` (W, H), and eval15 as it is."""
    if os.path.isdir(target):
        return target
    names = sorted(os.listdir(os.path.join(source, "our485", "low")))[:count]
    for side in ("low", "high"):
        os.makedirs(os.path.join(target, "our485", side) + ".partial")
        for name in names:
            image = Image.open(os.path.join(source, "our485", side, name)).resize(size)
            image.save(os.path.join(target, "our485", side) + f".partial/{name}",
                       compress_level=1)
        os.replace(os.path.join(target, "our485", side) + ".partial",
                   os.path.join(target, "our485", side))
    os.symlink(os.path.join(source, "eval15"), os.path.join(target, "eval15"))
    return target


def _rss_guard(process, limit, tripped):
    """Kills `process` when its resident memory passes `limit` bytes; sets `tripped`.

    Reads /proc only (never waits on the process: `run` reaps it with wait4 for its rusage);
    an exited process has no VmRSS line."""
    while True:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                rss = next(int(line.split()[1]) * 1024 for line in status
                           if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            return
        if rss > limit:
            tripped.set()
            process.kill()
            return
        time.sleep(0.2)


def run(stage, data_dir, run_dir):
    """(peak RSS GiB, seconds to the first step, exit code (a text when the memory guard
    killed it) or None if stopped, whether it resumed from a checkpoint) of one run.

    The run is stopped `--train_seconds` after its first step started: peak memory is reached
    while loading and in the first steps, and a whole epoch of a large set takes minutes.
    """
    command = [sys.executable, "-u", os.path.join(FLAGS.repo, SCRIPTS[stage]),
               "--data_dir", data_dir, "--ckpt_dir", os.path.join(run_dir, "ckpt"),
               "--sample_dir", os.path.join(run_dir, "samples"),
               "--log_dir", os.path.join(run_dir, "logs"),
               # A checkpoint after every epoch, so that the second run of stage 2 resumes
               # from one (as a user's restart does) when the first got through an epoch.
               "--save_every", "1"]
    start = time.perf_counter()
    runs = len([name for name in os.listdir(run_dir) if name.endswith(".log")])
    log = open(os.path.join(run_dir, f"stage{stage}_run{runs + 1}.log"), "w")
    process = subprocess.Popen(command, cwd=FLAGS.repo, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    tripped = threading.Event()
    threading.Thread(target=_rss_guard, args=(process, FLAGS.max_rss_gb * 2**30, tripped),
                     daemon=True).start()
    first_step, stopper, resumed = None, None, False
    for line in process.stdout:
        log.write(line)
        resumed = resumed or line.startswith("resuming from ")
        # The loop prints "training <net> on ..." when everything is loaded and model.fit
        # starts ("training images: ..." comes before loading).
        if first_step is None and re.match(r"training \S+ on ", line):
            first_step = time.perf_counter() - start
            stopper = threading.Timer(FLAGS.train_seconds, process.terminate)
            stopper.start()
    _, status, usage = os.wait4(process.pid, 0)
    if stopper:
        stopper.cancel()
    log.close()
    stopped = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    code = None if stopped else os.waitstatus_to_exitcode(status)
    if tripped.is_set():
        code = f"killed above {FLAGS.max_rss_gb:g} GiB (--max_rss_gb)"
    return usage.ru_maxrss / 2**20, first_step, code, resumed


def main(argv):
    del argv
    sets = {
        "lol": lambda: FLAGS.lol_dir,
        "lol1600": lambda: _link_set(FLAGS.lol_dir, os.path.join(FLAGS.work_dir, "lol1600"), 1600),
        "12mp": lambda: _big_set(FLAGS.lol_dir, os.path.join(FLAGS.work_dir, "12mp"),
                                 FLAGS.big_pairs),
    }
    rows = []
    for name in FLAGS.sets:
        data_dir = sets[name]()
        for stage in FLAGS.stages:
            run_dir = os.path.join(FLAGS.work_dir, "runs", f"{FLAGS.label}_{name}_{stage}")
            shutil.rmtree(run_dir, ignore_errors=True)
            os.makedirs(run_dir)
            if stage == "2":
                shutil.copytree(os.path.join(FLAGS.decom_ckpt, "decom_net_train"),
                                os.path.join(run_dir, "ckpt", "decom_net_train"))
            for again in (False, True) if stage == "2" else (False,):
                peak, first, code, resumed = run(stage, data_dir, run_dir)
                row = {"label": FLAGS.label, "set": name, "stage": stage,
                       "run": "again (cached)" if again else "first", "resumed": resumed,
                       "peak_rss_gib": round(peak, 2),
                       "seconds_to_first_step": None if first is None else round(first, 1),
                       "exit_code": "stopped while training" if code is None else code}
                print(json.dumps(row), flush=True)
                rows.append(row)
    results_file.write(f"bench_data_scale_{FLAGS.label or 'run'}",
                       {"repo": os.path.abspath(FLAGS.repo), "rows": rows})


if __name__ == "__main__":
    app.run(main)
