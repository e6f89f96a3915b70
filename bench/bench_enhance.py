"""Benchmarks of enhancement: latency of one 600x400 image, bf16 cost, 12-megapixel memory.

Usage: python -m bench.bench_enhance [--ckpt DIR] [--lol_dir ../shared/LOLdataset]
       [--runs 7] [--sections latency,quality,memory]

- latency: median seconds to enhance eval15 low/1.png (600x400), fp32 and bf16: our one
  compiled call (nets + post-processing), our file-to-file CLI path, and, measured in the same
  run, the original's TF1 structure (a tf.compat.v1 graph of the same ops, three session runs
  and the numpy/scikit-image post-processing), built from the same checkpoints.
- quality: eval15 PSNR/SSIM (GT-ratio protocol) with fp32 and with bf16 nets.
- memory: peak RSS and time for a 12-megapixel (4000x3000) photo, untiled and tiled, each in a
  fresh process.

Without --ckpt it uses the reference checkpoints of ../shared/kind_reference (authors' decom
and adjust weights, seeded random restoration weights: quality numbers are then those of an
untrained restoration net; only the fp32/bf16 difference means something).

Each section writes bench/results/bench_enhance_<section>.json.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench import results_file
from kind_tf import enhance, evaluation, image_io, models, runtime, stages
from kind_tf.kind import KinD

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "kind_reference"))
PHOTO_12MP = (3000, 4000)  # height, width


def link_reference_checkpoints(root):
    """Makes `root` a checkpoint root: the reference checkpoints under the scripts' names."""
    for folder, source in (("decom_net_train", "decom_net_train"),
                           ("Restoration_net_train", "restoration_random_seeded"),
                           ("illumination_adjust_net_train", "illumination_adjust_net_train")):
        os.symlink(os.path.abspath(os.path.join(REFERENCE, "checkpoint", source)),
                   os.path.join(root, folder))
    return root


def seconds(function, runs):
    """(median, min) seconds of `runs` calls after a warm-up (tracing, oneDNN primitives)."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


# The original layers in the order `original_step.py`'s builders create their variables.
ORIGINAL_LAYERS = {
    "DecomNet": ["g_conv1_1", "g_conv2_1", "g_conv3_1", "g_up_1", "g_conv8_1", "g_up_2",
                 "g_conv9_1", "g_conv10", "l_conv1_2", "l_conv1_4"],
    "Restoration_net": [f"de_conv{level}_{k}" for level in range(1, 6) for k in (1, 2)] + [
        layer for level in range(6, 10)
        for layer in (f"up_{level}", f"de_conv{level}_1", f"de_conv{level}_2")] + ["de_conv10"],
    "Illumination_adjust_net": ["en_conv_1", "en_conv_2", "en_conv_3", "en_conv_4"],
}


def original_tf1_worker(ckpt, image_path, runs, output_path):
    """The original evaluate.py's structure: TF1 graph, three session runs, numpy/skimage
    post-processing. Prints JSON timings and saves the output to `output_path`."""
    from bench import original_step  # Disables eager execution: this runs in its own process.
    from skimage import color, filters

    v1 = original_step.v1
    image, r_in, i_in, ratio_in = (v1.placeholder("float32", [None, None, None, c])
                                   for c in (3, 3, 1, 1))
    decom_r, decom_i = original_step.decom_net(image)
    restored = original_step.restoration_net(r_in, i_in)
    adjusted = original_step.adjust_net(i_in, ratio_in)
    session = v1.Session()
    session.run(v1.global_variables_initializer())
    readers = {spec.net_class().name: tf.train.load_checkpoint(os.path.join(ckpt, spec.folder))
               for spec in stages.STAGES}
    stored = [(readers[scope], f"{scope}/{layer}/{kind}")
              for scope, layers in ORIGINAL_LAYERS.items() for layer in layers
              for kind in (("weights",) if "up_" in layer else ("weights", "biases"))]
    variables = v1.global_variables()
    assert len(variables) == len(stored), (len(variables), len(stored))
    for variable, (reader, name) in zip(variables, stored):
        variable.load(reader.get_tensor(name), session)  # Shape-checked by TF.
    low = image_io.load_image(image_path)[None]

    def nets():
        r, i = session.run([decom_r, decom_i], {image: low})
        restoration_r = session.run(restored, {r_in: r, i_in: i})
        ratio_map = np.ones(i.shape) * 5.0
        return r, i, restoration_r, session.run(adjusted, {i_in: i, ratio_in: ratio_map})

    outputs = nets()

    def postprocess():
        r, i, restoration_r, adjust_i = outputs
        r_gray_gaussion = filters.gaussian(color.rgb2gray(np.squeeze(r)), 3)
        low_i = np.minimum((r_gray_gaussion * 2) ** 0.5, 1)[None, :, :, None]
        return i * low + (1 - i) * (restoration_r * low_i * adjust_i)

    np.save(output_path, postprocess())
    print(json.dumps({"nets": seconds(nets, runs), "postprocess": seconds(postprocess, runs)}))


def memory_worker(ckpt, photo, tile):
    """Enhances `photo` in this fresh process; prints JSON seconds and peak RSS in GiB."""
    model = KinD.from_checkpoint(ckpt)
    with tempfile.TemporaryDirectory() as output_dir:
        start = time.perf_counter()
        enhance.enhance_file(photo, model, output_dir, 5.0, tile=tile)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak}))


def run_worker(*args):
    result = subprocess.run([sys.executable, "-m", "bench.bench_enhance", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"worker {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def latency(ckpt, image_path, runs):
    low = image_io.load_image(image_path)[None]
    kinds = {precision: KinD.from_checkpoint(ckpt, dtype=models.dtype_policy(precision))
             for precision in models.PRECISIONS}

    def compiled_call(precision):
        return seconds(lambda: kinds[precision].enhance(low, 5.0).numpy(), runs)

    rows = {}
    for precision in models.PRECISIONS:
        rows[f"ours {precision}: one compiled call"] = compiled_call(precision)
        with tempfile.TemporaryDirectory() as output_dir:
            rows[f"ours {precision}: file to file"] = seconds(
                lambda: enhance.enhance_file(image_path, kinds[precision], output_dir, 5.0), runs)
    ours = kinds["fp32"].enhance(low, 5.0).numpy()
    with tempfile.TemporaryDirectory() as folder:
        original_output = os.path.join(folder, "original.npy")
        original = run_worker("--worker=original", f"--ckpt={ckpt}", f"--runs={runs}",
                              f"--output={original_output}")
        difference = np.abs(np.load(original_output) - ours).max()
    rows["original TF1 graph: 3 session runs"] = original["nets"]
    rows["original: numpy/skimage post-processing"] = original["postprocess"]
    # Again after the original, so that load from other processes hits both alike.
    rows["ours fp32: one compiled call, again"] = compiled_call("fp32")
    print(f"  {'':<44}{'median':>8}{'min':>8}")
    for name, (median, fastest) in rows.items():
        print(f"  {name:<44}{median:8.3f}{fastest:8.3f} s")
    fp32 = statistics.mean(rows[f"ours fp32: one compiled call{again}"][0]
                           for again in ("", ", again"))
    bf16 = rows["ours bf16: one compiled call"][0]
    baseline = original["nets"][0] + original["postprocess"][0]
    print(f"  medians: original total / ours fp32 (mean of both) {baseline / fp32:.2f}x; "
          f"ours fp32 / ours bf16 {fp32 / bf16:.2f}x")
    print(f"  max abs diff, original-structure output vs ours: {difference:.1e}")
    return {"seconds": {name: {"median": round(median, 4), "min": round(fastest, 4)}
                        for name, (median, fastest) in rows.items()},
            "original_total_to_ours_fp32": round(baseline / fp32, 3),
            "ours_fp32_to_ours_bf16": round(fp32 / bf16, 3),
            "max_abs_diff_original_structure_vs_ours": float(difference)}


def quality(ckpt, lol_dir):
    """eval15 means per precision, with the restoration net and without it (R_low * L_adj)."""
    found = {}
    for restored in (True, False):
        means = {}
        for precision in models.PRECISIONS:
            model = KinD.from_checkpoint(ckpt, restoration=restored,
                                         dtype=models.dtype_policy(precision))
            with tempfile.TemporaryDirectory() as output_dir:
                means[precision] = evaluation.evaluate(
                    model, os.path.join(lol_dir, "eval15"), output_dir, verbose=0)["mean"]
            mean = means[precision]
            print(f"  {'with' if restored else 'without'} restoration net, {precision}: "
                  f"PSNR {mean['psnr']:.3f}  SSIM {mean['ssim']:.4f}  "
                  f"SSIM gray {mean['ssim_gray']:.4f}")
        print(f"    bf16 - fp32: PSNR {means['bf16']['psnr'] - means['fp32']['psnr']:+.3f} dB, "
              f"SSIM {means['bf16']['ssim'] - means['fp32']['ssim']:+.4f}")
        found["with restoration net" if restored else "without restoration net"] = means
    return found


def memory(ckpt, image_path):
    from PIL import Image

    found = {}
    with tempfile.TemporaryDirectory() as folder:
        photo = os.path.join(folder, "photo_12mp.jpg")
        height, width = PHOTO_12MP
        Image.open(image_path).resize((width, height), Image.Resampling.BICUBIC).save(
            photo, quality=95)
        for tile in (0, 1024):
            result = run_worker("--worker=memory", f"--ckpt={ckpt}", f"--photo={photo}",
                                f"--tile={tile}")
            label = "untiled" if tile == 0 else f"--tile {tile}"
            print(f"  {width}x{height} {label:<12} peak RSS {result['peak_rss_gib']:5.1f} GiB, "
                  f"{result['seconds']:6.1f} s")
            found[label] = result
    return found


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as folder:
        run_sections(FLAGS.ckpt or link_reference_checkpoints(folder))


def run_sections(ckpt):
    image_path = os.path.join(FLAGS.lol_dir, "eval15", "low", "1.png")
    if FLAGS.worker == "original":
        return original_tf1_worker(ckpt, image_path, FLAGS.runs, FLAGS.output)
    if FLAGS.worker == "memory":
        return memory_worker(ckpt, FLAGS.photo, FLAGS.tile)
    print(f"device: {runtime.configure()}; checkpoint root: {ckpt}")
    checkpoint = FLAGS.ckpt or "reference checkpoints (authors' decom + adjust, random restoration)"
    sections = FLAGS.sections
    # One results file per section, so that each can be measured again on its own.
    if "latency" in sections:
        print(f"latency, {image_path} (600x400), median of {FLAGS.runs}:")
        found = latency(ckpt, image_path, FLAGS.runs)
        results_file.write("bench_enhance_latency", {"ckpt": checkpoint, "runs": FLAGS.runs,
                                                     **found})
    if "quality" in sections:
        print("quality, eval15, GT-ratio protocol:")
        results_file.write("bench_enhance_quality", {"ckpt": checkpoint,
                                                     **quality(ckpt, FLAGS.lol_dir)})
    if "memory" in sections:
        print("memory, 12-megapixel photo (eval15 low/1.png upscaled), fp32, fresh process each:")
        results_file.write("bench_enhance_memory", {"ckpt": checkpoint,
                                                    **memory(ckpt, image_path)})


if __name__ == "__main__":
    flags.DEFINE_string("ckpt", None, "Checkpoint root (default: the reference checkpoints).")
    flags.DEFINE_string("lol_dir", os.path.join(os.path.dirname(REFERENCE), "LOLdataset"),
                        "LOL dataset folder (holding eval15/).")
    flags.DEFINE_integer("runs", 7, "Timed runs per measurement (median reported).")
    flags.DEFINE_list("sections", ["latency", "quality", "memory"], "What to measure.")
    flags.DEFINE_enum("worker", None, ["original", "memory"], "Internal: subprocess role.")
    flags.DEFINE_string("photo", None, "Internal: the memory worker's photo.")
    flags.DEFINE_string("output", None, "Internal: where the original worker saves its output.")
    flags.DEFINE_integer("tile", 0, "Internal: the memory worker's --tile.")
    app.run(main)
