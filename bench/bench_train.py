"""Training speed: seconds per train step of each stage, and a whole `train_decom.py` run.

Each number is compared with the original measured in the same sitting (`original_step.py`:
the authors' TF1 graphs fed from Python, run in a subprocess), because this machine's speed
drifts; the original's timings in ../shared/kind_reference/README.md are printed too.

Step times run the real loop (`training.StageTrainer.fit` on the `patches.patch_dataset`
pipeline, `training.steps_per_execution`) on 41 random 400x600 training images (held as
the stages hold them: DecomNet's as uint8 levels normalized per patch), after a warm-up epoch:
the best epoch time divided by its steps (the best of repeated runs filters out other load on
the machine). The script run times `train_decom.py` from process start, as the
original's `decomposition_net_train.py` was timed: 100 epochs on the 41 pairs of
../shared/LOLdataset, --save_every 100 (so one checkpoint and the 30 eval15 samples at the end;
the original saves a checkpoint every epoch and no samples before epoch 200).

    .venv/bin/python -m bench.bench_train                  # step times, all nets
    .venv/bin/python -m bench.bench_train --script         # plus the whole-script run

Ours is timed at each of --precisions (fp32, the default and the original's numerics, and
bf16, `--precision bf16` of the training scripts); the original is fp32.

The roof: first this CPU's large-matmul rate and the DecomNet step's 3x3 convolution kernels
timed one at a time; then, for each step, its GFLOP (TensorFlow's graph profiler) and the
GFLOP/s ours and the original reach. Writes bench/results/bench_train.json.
"""

import math
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
import tensorflow as tf

from bench import results_file
from kind_tf import image_store, models, optimizers, patches, runtime, stages, training
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet

flags.DEFINE_integer("epochs", 3, "Timed epochs per setting (after one warm-up epoch).")
flags.DEFINE_integer("rounds", 3, "Alternating rounds of ours and the original; best kept.")
flags.DEFINE_list("nets", ["decom", "adjust", "restoration"], "Which nets to time.")
flags.DEFINE_bool("script", False, "Also time train_decom.py for --script_epochs epochs.")
flags.DEFINE_integer("script_epochs", 100, "Epochs of the whole-script run.")
flags.DEFINE_list("precisions", ["fp32", "bf16"], "Precisions to time ours at.")
FLAGS = flags.FLAGS

# (net, batch, patch) -> (timed steps per epoch, the original's timing in seconds in
# ../shared/kind_reference/README.md, where it has one).
SETTINGS = {
    "decom": [((10, 48), 20, 0.068)],
    "adjust": [((10, 48), 20, 0.014)],
    "restoration": [((10, 48), 10, None), ((4, 48), 10, 0.105), ((4, 384), 2, 2.42)],
}
# The matmul dtype each precision's convolutions run in.
PEAK_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _stage(name, rng):
    """Stage `name` on 41 random 400x600 training images, without samples."""

    def images(channels, count=41):
        store = image_store.ImageStore.create([(400, 600)] * count, channels, np.float32)
        for index in range(count):
            store.put(index, rng.random((400, 600, channels), dtype=np.float32))
        return store

    def pairs_as_levels(count=41):
        # As `stages.decom_stage` holds them: uint8 levels of low|high, each photo's range.
        store = image_store.ImageStore.create([(400, 600)] * count, 6, np.uint8)
        for index in range(count):
            stages.put_levels(store, index, [rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
                                             for _ in ("low", "high")])
        return store

    no_samples = lambda predict, epoch: []  # noqa: E731
    if name == "decom":
        return training.Stage(DecomNet, stages.decom_batch_loss, stages.DECOM_TERMS,
                              pairs_as_levels(), stages.decom_example, no_samples)
    if name == "adjust":
        return training.Stage(IllumAdjustNet, stages.adjust_batch_loss, stages.ADJUST_TERMS,
                              images(2), stages.adjustment_example, no_samples, 7, False)
    return training.Stage(RestorationNet, stages.restoration_batch_loss,
                          stages.RESTORATION_TERMS, images(7), stages.restoration_example,
                          no_samples)


class _EpochTimes(keras.callbacks.Callback):
    """Records the wall time of every epoch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def step_seconds(name, batch_size, patch_size, steps, precision):
    """Best seconds per train step of stage `name` over the timed epochs (the real loop)."""
    stage = _stage(name, np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    net = stage.build_net(dtype=models.dtype_policy(precision))
    trainer = training.StageTrainer(net, stage.loss, stage.term_names)
    trainer.compile(optimizer=optimizers.Adam(1e-4),
                    steps_per_execution=training.steps_per_execution(steps))
    dataset = patches.patch_dataset(stage.images, patch_size, batch_size, 0, stage.to_example,
                                    modes=stage.augment_modes, reshuffle=stage.reshuffle)
    epoch_times = _EpochTimes()
    trainer.fit(dataset, epochs=FLAGS.epochs + 1, steps_per_epoch=steps,
                callbacks=[epoch_times], shuffle=False, verbose=0)
    return min(epoch_times.times[1:]) / steps  # The first epoch traces the step.


def step_gflop(name, batch_size, patch_size):
    """Floating-point work of one train step of stage `name` in GFLOP, as TensorFlow's graph
    profiler counts it (the convolutions forward and backward, the loss, Adam)."""
    stage = _stage(name, np.random.default_rng(0))
    trainer = training.StageTrainer(stage.build_net(), stage.loss, stage.term_names)
    trainer.compile(optimizer=optimizers.Adam(1e-4))
    batch = next(iter(patches.patch_dataset(stage.images, patch_size, batch_size, 0,
                                            stage.to_example)))
    specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), batch)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = tf.function(trainer.train_step).get_concrete_function(specs).graph
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops / 1e9


def _best_seconds(function, *args, repeats=10):
    """Best wall time of `function(*args)` (a `tf.function`) after a warm-up call."""
    function(*args).numpy()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args).numpy()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak_gflops(dtype, size=2048):
    """This CPU's best GFLOP/s on a large matmul of `dtype`: the roof a train step runs under."""
    a = tf.cast(tf.random.normal((size, size)), dtype)
    return 2 * size**3 / _best_seconds(tf.function(tf.matmul), a, a) / 1e9


# The 3x3 convolutions of a DecomNet train step, low and high in one batch of 20:
# (side, input channels, output channels). The first needs no input gradient.
DECOM_CONVS = [(48, 4, 32), (24, 32, 64), (12, 64, 128), (24, 128, 64), (48, 64, 32),
               (48, 32, 32)]


def decom_conv_kernels(dtype, batch=20):
    """[(GFLOP, best seconds)] of each convolution kernel a DecomNet train step runs for its
    3x3 layers (forward, weight gradient, input gradient), timed one at a time."""
    strides = [1, 1, 1, 1]
    timings = []
    for index, (side, channels_in, channels_out) in enumerate(DECOM_CONVS):
        x = tf.cast(tf.random.normal((batch, side, side, channels_in)), dtype)
        w = tf.cast(tf.random.normal((3, 3, channels_in, channels_out)), dtype)
        dy = tf.cast(tf.random.normal((batch, side, side, channels_out)), dtype)
        kernels = [
            (tf.nn.conv2d, (x, w, 1, "SAME")),
            (tf.raw_ops.Conv2DBackpropFilter, (x, w.shape, dy, strides, "SAME")),
        ]
        if index:
            kernels.append((tf.raw_ops.Conv2DBackpropInput, (x.shape, w, dy, strides, "SAME")))
        gflop = 2 * batch * side * side * 9 * channels_in * channels_out / 1e9
        for kernel, args in kernels:
            timings.append((gflop, _best_seconds(tf.function(lambda k=kernel, a=args: k(*a)))))
    return timings


def _wall_seconds(command, cwd=None):
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def original_step_seconds(name, batch_size, patch_size, steps):
    """The original's best seconds per step over --epochs runs of `steps`, now (subprocess)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.original_step", name, str(batch_size), str(patch_size),
         str(steps), str(FLAGS.epochs)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return float(result.stdout.split()[-1])


def script_seconds(epochs):
    """Wall seconds from process start of ours (per precision) and of the original decom
    script, same data."""
    data_dir = os.path.join(os.path.dirname(ROOT), "shared", "LOLdataset")
    ours = {}
    with tempfile.TemporaryDirectory() as work:
        for precision in FLAGS.precisions:
            ours[precision] = _wall_seconds([
                sys.executable, os.path.join(ROOT, "train_decom.py"), f"--data_dir={data_dir}",
                f"--epochs={epochs}", "--save_every=100", f"--precision={precision}",
                f"--ckpt_dir={work}/{precision}/checkpoint",
                f"--sample_dir={work}/{precision}/samples", f"--tensorboard_dir={work}/{precision}/logs"])
        original = _wall_seconds([
            sys.executable, "-m", "bench.original_step", "script", data_dir, str(epochs),
            f"{work}/original"], cwd=ROOT)
    return ours, original


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)  # The TF1 graph profiler of `step_gflop` warns.
    print(f"device: {runtime.configure()}, load average {os.getloadavg()[0]:.2f}; best of "
          f"{FLAGS.rounds} alternating rounds")
    found = {"load_average_1min_before": round(os.getloadavg()[0], 2), "rounds": FLAGS.rounds,
             "matmul_peak_gflops": {}, "decom_conv_kernels": {}, "steps": [], "script": None}
    for precision in FLAGS.precisions:
        found["matmul_peak_gflops"][precision] = round(
            matmul_peak_gflops(PEAK_DTYPES[precision]))
    print("matmul peak of this CPU: " + ", ".join(
        f"{precision} {peak} GFLOP/s" for precision, peak in found["matmul_peak_gflops"].items()))
    for precision in FLAGS.precisions:
        timings = decom_conv_kernels(PEAK_DTYPES[precision])
        rates = [gflop / seconds for gflop, seconds in timings]
        together = sum(seconds for _, seconds in timings)
        print(f"decom step's 3x3 convolution kernels one by one, {precision}: "
              f"{min(rates):.0f}-{max(rates):.0f} GFLOP/s, together "
              f"{together * 1e3:.1f} ms a step", flush=True)
        found["decom_conv_kernels"][precision] = {
            "gflop": round(sum(gflop for gflop, _ in timings), 2),
            "gflops_min": round(min(rates)), "gflops_max": round(max(rates)),
            "ms_together": round(together * 1e3, 1)}
    for name in FLAGS.nets:
        for (batch_size, patch_size), steps, readme in SETTINGS[name]:
            ours = dict.fromkeys(FLAGS.precisions, math.inf)
            original = math.inf
            for _ in range(FLAGS.rounds):
                for precision in FLAGS.precisions:
                    ours[precision] = min(ours[precision], step_seconds(
                        name, batch_size, patch_size, steps, precision))
                original = min(original, original_step_seconds(name, batch_size, patch_size, steps))
            note = f", kind_reference README {readme:.3f} s" if readme else ""
            timings = ", ".join(f"{precision} {seconds:.4f} s ({seconds / original:.2f}x)"
                                for precision, seconds in ours.items())
            print(f"{name:12s} batch {batch_size:2d} patch {patch_size:3d}: ours {timings}; "
                  f"original now {original:.4f} s/step{note}", flush=True)
            gflop = step_gflop(name, batch_size, patch_size)
            rates = ", ".join(f"{precision} {gflop / seconds:.0f}"
                              for precision, seconds in ours.items())
            print(f"{'':12s} {gflop:.2f} GFLOP/step: ours {rates}, original "
                  f"{gflop / original:.0f} GFLOP/s", flush=True)
            found["steps"].append({
                "net": name, "batch": batch_size, "patch": patch_size,
                "ours_seconds": {precision: round(seconds, 4)
                                 for precision, seconds in ours.items()},
                "original_seconds": round(original, 4), "original_reference_readme": readme,
                "gflop": round(gflop, 2)})
    if FLAGS.script:
        ours = dict.fromkeys(FLAGS.precisions, math.inf)
        original = math.inf
        for _ in range(FLAGS.rounds):
            ours_now, original_now = script_seconds(FLAGS.script_epochs)
            ours = {precision: min(ours[precision], ours_now[precision]) for precision in ours}
            original = min(original, original_now)
        timings = ", ".join(f"{precision} {seconds:.1f} s ({seconds / original:.2f}x)"
                            for precision, seconds in ours.items())
        print(f"train_decom.py {FLAGS.script_epochs} epochs on 41 pairs: ours {timings}; "
              f"original now {original:.1f} s")
        found["script"] = {"epochs": FLAGS.script_epochs,
                           "ours_seconds": {precision: round(seconds, 1)
                                            for precision, seconds in ours.items()},
                           "original_seconds": round(original, 1)}
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    results_file.write("bench_train", found)


if __name__ == "__main__":
    app.run(main)
