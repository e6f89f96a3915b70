"""Benchmark of the TFLite export: file sizes, LiteRT CPU latency, the float16 weights' cost.

Usage: python bench/bench_tflite.py [--ckpt pretrained/] [--lol_dir ../shared/LOLdataset]
       [--runs 7] [--num_threads N]

- size: the float32 and the float16-weights model (`export.export_tflite`).
- latency: median seconds to enhance eval15 low/1.png (600x400) at ratio 5.0, each model run
  by the LiteRT interpreter (`ai-edge-litert`, its default XNNPACK delegate) with its default
  thread count and with --num_threads, and each as a ratio against `pipeline.enhance` (the
  one compiled TF call) timed in the same run, before and after the LiteRT rows (the ratio
  uses the mean of both, so that load from other processes hits both alike).
- accuracy: on the 15 eval15 low images, the float32 model's float output against
  `pipeline.enhance` (max abs difference) and the float16 model's 8-bit output against the
  float32 model's (PSNR, dB).
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from kind_tf import checkpoints, export, image_io, metrics, pipeline, runtime  # noqa: E402

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATIO = 5.0


def seconds(function, runs):
    """Median seconds of `runs` calls after a warm-up (tracing, allocation, weight packing)."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tf_enhance(nets, pixels):
    """`pipeline.enhance` of a uint8 (1,H,W,3) image, normalized as the original."""
    return pipeline.enhance(image_io.normalize(pixels / np.float32(255.0)), *nets, RATIO).numpy()


def sizes(paths):
    for weights, path in paths.items():
        print(f"  {weights:<8} weights: {os.path.getsize(path) / 2**20:6.1f} MiB  {path}")


def latency(nets, paths, image_path, runs, num_threads):
    pixels = image_io.read_rgb(image_path)[None]
    ratio = np.float32(RATIO)
    rows = {"TF pipeline.enhance": seconds(lambda: tf_enhance(nets, pixels), runs)}
    for weights, path in paths.items():
        for threads in (None, num_threads):
            runner = export.load_tflite(path, threads)
            label = f"LiteRT {weights}, {'default' if threads is None else threads} threads"
            rows[label] = seconds(lambda: runner(image=pixels, ratio=ratio), runs)
    rows["TF pipeline.enhance, again"] = seconds(lambda: tf_enhance(nets, pixels), runs)
    baseline = statistics.mean((rows["TF pipeline.enhance"], rows["TF pipeline.enhance, again"]))
    print(f"  {'':<36}{'median':>8}   / TF (mean of both TF rows)")
    for name, median in rows.items():
        print(f"  {name:<36}{median:8.3f} s {median / baseline:6.2f}x")


def accuracy(nets, paths, lol_dir):
    runners = {weights: export.load_tflite(path) for weights, path in paths.items()}
    differences, psnrs = [], []
    for image_path in image_io.list_images(os.path.join(lol_dir, "eval15", "low")):
        pixels = image_io.read_rgb(image_path)[None]
        results = {weights: runner(image=pixels, ratio=np.float32(RATIO))
                   for weights, runner in runners.items()}
        differences.append(np.abs(results["float32"]["enhanced"] - tf_enhance(nets, pixels)).max())
        psnrs.append(metrics.psnr(results["float16"]["enhanced_uint8"][0],
                                  results["float32"]["enhanced_uint8"][0]))
    print(f"  float32 model vs pipeline.enhance, float output: max abs diff "
          f"{max(differences):.1e} over {len(differences)} images")
    print(f"  float16 weights vs float32 model, 8-bit output: PSNR mean {np.mean(psnrs):.2f} dB, "
          f"min {min(psnrs):.2f} dB")


def main(argv):
    del argv
    print(f"device: {runtime.configure()}; checkpoint root: {FLAGS.ckpt}; ratio {RATIO}")
    nets = pipeline.load_nets(FLAGS.ckpt)
    with tempfile.TemporaryDirectory() as folder:
        paths = {weights: export.export_tflite(nets, os.path.join(folder, f"kind_{weights}.tflite"),
                                               weights)
                 for weights in export.TFLITE_WEIGHTS}
        print("size:")
        sizes(paths)
        image_path = os.path.join(FLAGS.lol_dir, "eval15", "low", "1.png")
        print(f"latency, {image_path} (600x400), median of {FLAGS.runs}:")
        latency(nets, paths, image_path, FLAGS.runs, FLAGS.num_threads)
        print("accuracy, eval15 low images:")
        accuracy(nets, paths, FLAGS.lol_dir)


if __name__ == "__main__":
    flags.DEFINE_string("ckpt", checkpoints.PRETRAINED_DIR, "Checkpoint root (default: the "
                        "shipped weights).")
    flags.DEFINE_string("lol_dir", os.path.join(os.path.dirname(REPO), "shared", "LOLdataset"),
                        "LOL dataset folder (holding eval15/).")
    flags.DEFINE_integer("runs", 7, "Timed runs per measurement (median reported).")
    flags.DEFINE_integer("num_threads", os.cpu_count(), "LiteRT threads of the second row per "
                         "model (TF uses every core).")
    app.run(main)
