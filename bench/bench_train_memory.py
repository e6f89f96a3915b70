"""Memory of the training data: `train_decom.py`'s images loaded into the patch pipeline.

Builds the decom stage on ../shared/LOLdataset (41 training pairs, 400x600, and the 15 eval15
pairs it keeps for samples), starts the `tf.data` patch pipeline and draws 100 batches, then
prints the peak and current resident memory above what the process held after importing
TensorFlow, next to the size of the stored (uint8) set and of one float32 copy of it, and
writes them to bench/results/bench_train_memory.json. Run it in a fresh process (it is one):

    .venv/bin/python -m bench.bench_train_memory
"""

import os
import resource
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import tensorflow as tf  # Imported before the baseline is taken.

from bench import results_file
from kind_tf import patches, stages, train_config

MIB = 2**20


def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    data_dir = os.path.join(os.path.dirname(ROOT), "shared", "LOLdataset")
    baseline = resident_mib()
    start = time.perf_counter()
    stage = stages.decom_stage(train_config.make_config(
        stages.named("decom").original, data_dir=data_dir, ckpt_dir="unused", epochs=1,
        data_mode="memory"))
    loaded = time.perf_counter()
    batches = iter(patches.patch_dataset(stage.images, 48, 10, 0, stage.to_example))
    for _ in range(100):
        next(batches)
    stored = stage.images.nbytes / MIB
    float32_copy = stage.images.total_rows * stage.images.channels * 4 / MIB
    print(f"TensorFlow {tf.__version__}; training set: {len(stage.images)} pairs, stored "
          f"{stored:.0f} MiB ({stage.images.dtype}), one float32 copy {float32_copy:.0f} MiB; "
          f"loading {loaded - start:.2f} s")
    peak, now = peak_mib() - baseline, resident_mib() - baseline
    print(f"above the TensorFlow import: peak {peak:.0f} MiB, "
          f"now {now:.0f} MiB (includes the 30 eval15 sample images)")
    results_file.write("bench_train_memory", {
        "tensorflow": tf.__version__, "training_pairs": len(stage.images),
        "stored_mib": round(stored, 1), "stored_dtype": str(stage.images.dtype),
        "float32_copy_mib": round(float32_copy, 1), "loading_seconds": round(loaded - start, 2),
        "peak_mib_above_import": round(peak), "after_100_batches_mib_above_import": round(now)})


if __name__ == "__main__":
    main()
