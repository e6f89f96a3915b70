"""Benchmark of the TFLite export: file sizes, LiteRT CPU latency, the float16 weights' cost.

Usage: python -m bench.bench_tflite [--ckpt pretrained/] [--lol_dir ../shared/LOLdataset]
       [--rounds 3] [--runs 3] [--num_threads N]

- size: the float32 and the float16-weights model (`export.export_tflite`).
- latency: median seconds to enhance eval15 low/1.png (600x400) at ratio 5.0, each model run
  by the LiteRT interpreter (`ai-edge-litert`, its default XNNPACK delegate) with its default
  one thread and with --num_threads, and each as a ratio against `KinD.enhance` (the one
  compiled TF call, on every core), all timed in the same interleaved rounds.
- accuracy: on the 15 eval15 low images, the float32 model's float output against
  `KinD.enhance` (max abs difference) and the float16 model's 8-bit output against the
  float32 model's (PSNR, dB).

Writes bench/results/bench_tflite.json.
"""

import importlib.metadata
import os
import statistics
import tempfile
import time

import numpy as np
from absl import app, flags

from bench import results_file
from kind_tf import checkpoints, export, image_io, metrics, runtime
from kind_tf.kind import KinD

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATIO = 5.0


def interleaved_medians(functions, rounds, runs):
    """{name: median seconds} of `functions`, each called `runs` times per round, the rounds
    cycling through all of them after one warm-up call each (tracing, allocation, weight
    packing), so that load from other processes drifts over all of them alike."""
    times = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(runs):
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def tf_enhance(model, pixels):
    """`KinD.enhance` of a uint8 (1,H,W,3) image, normalized as the original."""
    return model.enhance(image_io.normalize_pixels(pixels[0])[None], RATIO).numpy()


def sizes(paths):
    for weights, path in paths.items():
        print(f"  {weights:<8} weights: {os.path.getsize(path) / 2**20:6.1f} MiB  {path}")
    return {weights: round(os.path.getsize(path) / 2**20, 2) for weights, path in paths.items()}


def latency(model, paths, image_path, rounds, runs, num_threads):
    pixels = image_io.read_rgb(image_path)[None]
    ratio = np.float32(RATIO)
    functions = {"TF KinD.enhance": lambda: tf_enhance(model, pixels)}
    for weights, path in paths.items():
        for threads in sorted({1, num_threads}):
            runner = export.load_tflite(path, threads)
            label = f"LiteRT {weights}, {threads} thread{'s' * (threads > 1)}"
            functions[label] = lambda runner=runner: runner(image=pixels, ratio=ratio)
    medians = interleaved_medians(functions, rounds, runs)
    baseline = medians["TF KinD.enhance"]
    print(f"  {'':<36}{'median':>8}   / TF")
    for name, median in medians.items():
        print(f"  {name:<36}{median:8.3f} s {median / baseline:6.2f}x")
    return {name: {"median_seconds": round(median, 4), "to_tf": round(median / baseline, 3)}
            for name, median in medians.items()}


def accuracy(model, paths, lol_dir):
    runners = {weights: export.load_tflite(path) for weights, path in paths.items()}
    differences, psnrs = [], []
    for image_path in image_io.list_images(os.path.join(lol_dir, "eval15", "low")):
        pixels = image_io.read_rgb(image_path)[None]
        results = {weights: runner(image=pixels, ratio=np.float32(RATIO))
                   for weights, runner in runners.items()}
        differences.append(np.abs(results["float32"]["enhanced"] - tf_enhance(model, pixels)).max())
        psnrs.append(metrics.psnr(results["float16"]["enhanced_uint8"][0],
                                  results["float32"]["enhanced_uint8"][0]))
    print(f"  float32 model vs KinD.enhance, float output: max abs diff "
          f"{max(differences):.1e} over {len(differences)} images")
    print(f"  float16 weights vs float32 model, 8-bit output: PSNR mean {np.mean(psnrs):.2f} dB, "
          f"min {min(psnrs):.2f} dB")
    return {"images": len(differences),
            "float32_vs_pipeline_max_abs_diff": float(max(differences)),
            "float16_vs_float32_uint8_psnr_mean": round(float(np.mean(psnrs)), 2),
            "float16_vs_float32_uint8_psnr_min": round(float(min(psnrs)), 2)}


def main(argv):
    del argv
    print(f"device: {runtime.configure()}; checkpoint root: {FLAGS.ckpt}; ratio {RATIO}")
    model = KinD.from_checkpoint(FLAGS.ckpt)
    with tempfile.TemporaryDirectory() as folder:
        paths = {weights: export.export_tflite(model, os.path.join(folder, f"kind_{weights}.tflite"),
                                               weights)
                 for weights in export.TFLITE_WEIGHTS}
        print("size:")
        found = {"size_mib": sizes(paths)}
        image_path = os.path.join(FLAGS.lol_dir, "eval15", "low", "1.png")
        print(f"latency, {image_path} (600x400), median of {FLAGS.rounds} x {FLAGS.runs}:")
        found["latency_600x400"] = latency(model, paths, image_path, FLAGS.rounds, FLAGS.runs,
                                           FLAGS.num_threads)
        print("accuracy, eval15 low images:")
        found["accuracy_eval15"] = accuracy(model, paths, FLAGS.lol_dir)
    found["litert"] = importlib.metadata.version("ai-edge-litert")
    results_file.write("bench_tflite", found)


if __name__ == "__main__":
    flags.DEFINE_string("ckpt", checkpoints.PRETRAINED_DIR, "Checkpoint root (default: the "
                        "shipped weights).")
    flags.DEFINE_string("lol_dir", os.path.join(os.path.dirname(REPO), "shared", "LOLdataset"),
                        "LOL dataset folder (holding eval15/).")
    flags.DEFINE_integer("rounds", 3, "Rounds through all the latency rows.")
    flags.DEFINE_integer("runs", 3, "Timed calls per row and round (the median of all "
                         "reported).")
    flags.DEFINE_integer("num_threads", os.cpu_count(), "LiteRT threads of the second row per "
                         "model (the first has LiteRT's default, 1; TF uses every core).")
    app.run(main)
