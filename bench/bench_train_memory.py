"""Memory of the training data: `train_decom.py`'s images loaded into the patch pipeline.

Builds the decom stage on ../shared/LOLdataset (41 training pairs, 400x600, and the 15 eval15
pairs it keeps for samples), starts the `tf.data` patch pipeline and draws 100 batches, then
prints the peak and current resident memory above what the process held after importing
TensorFlow, next to the size of one float32 copy of the training set. Run it in a fresh
process (it is one):

    .venv/bin/python bench/bench_train_memory.py
"""

import os
import resource
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402  (imported before the baseline is taken)

from kind_tf import data, stages  # noqa: E402

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
    stage = stages.decom_stage(types.SimpleNamespace(data_dir=data_dir, patch_size=48))
    loaded = time.perf_counter()
    batches = iter(data.patch_dataset(stage.images, 48, 10, 0, stage.to_example))
    for _ in range(100):
        next(batches)
    one_copy = stage.images.variable.shape.num_elements() * 4 / MIB
    print(f"TensorFlow {tf.__version__}; training set: {len(stage.images)} pairs, one float32 copy {one_copy:.0f} MiB; "
          f"loading {loaded - start:.2f} s")
    print(f"above the TensorFlow import: peak {peak_mib() - baseline:.0f} MiB, "
          f"now {resident_mib() - baseline:.0f} MiB (includes the 30 eval15 sample images)")


if __name__ == "__main__":
    main()
