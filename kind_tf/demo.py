"""The whole KinD workflow on data that ships with the install: `python -m kind_tf.demo`.

1. Makes a small LOL-layout dataset (`our485/` + `eval15/`, `low/` + `high/`) from the photos
   scikit-image installs (`skimage.data`), darkened with `synthesis.darken_and_add_noise`.
2. Shows the shipped weights (`pretrained/`, trained on LOL by `kind_tf.recipe`) at work
   first, in seconds: enhances the eval split's low photos and evaluates them.
3. Runs `train_decom.py`, `train_restoration.py` and `train_adjustment.py` in order on the
   synthetic pairs, with few epochs: the same scripts and code paths as a real run,
   checkpoints under `--work_dir`.
4. Runs `evaluate.py` with those nets on the synthetic eval split (metrics table, comparison
   image) and prints how much the enhanced images gained over the low inputs.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import skimage.data
from absl import flags

from kind_tf import checkpoints, cli, synthesis
from kind_tf.errors import UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Natural colour photos bundled with scikit-image (no download needed).
TRAIN_PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "coffee": skimage.data.coffee,
    "rocket": skimage.data.rocket,
    "motorcycle": lambda: skimage.data.stereo_motorcycle()[0],
}
EVAL_PHOTOS = {
    "chelsea": skimage.data.chelsea,
    "motorcycle_right": lambda: skimage.data.stereo_motorcycle()[1],
}

def _center_crop(image, size):
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def make_dataset(root, crops_per_photo, crop_size, eval_size, seed):
    """Writes the synthetic LOL-layout dataset under `root`; returns (train pairs, eval pairs)."""
    rng = np.random.default_rng(seed)
    train_dir, eval_dir = os.path.join(root, "our485"), os.path.join(root, "eval15")
    for name, load in TRAIN_PHOTOS.items():
        photo = load()
        for index in range(crops_per_photo):
            top = rng.integers(0, photo.shape[0] - crop_size + 1)
            left = rng.integers(0, photo.shape[1] - crop_size + 1)
            high = photo[top : top + crop_size, left : left + crop_size]
            synthesis.write_pair(
                train_dir, f"{name}_{index}", high, synthesis.darken_and_add_noise(high, rng)
            )
    for name, load in EVAL_PHOTOS.items():
        high = _center_crop(load(), eval_size)
        synthesis.write_pair(eval_dir, name, high, synthesis.darken_and_add_noise(high, rng))
    return len(TRAIN_PHOTOS) * crops_per_photo, len(EVAL_PHOTOS)


def _run_script(title, script, *args):
    """Runs `script` (a file of the repository, or `-m module`) with `args`, as a user would."""
    command = script.split() if script.startswith("-m ") else [os.path.join(REPO_ROOT, script)]
    print(f"\n=== {title}: python {script} {' '.join(args)}", flush=True)
    started = time.time()
    result = subprocess.run([sys.executable, *command, *args], cwd=REPO_ROOT)
    if result.returncode != 0:
        raise UserError(f"{script} failed (exit code {result.returncode}); see its output above")
    print(f"=== {title} done in {time.time() - started:.0f} s", flush=True)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    started = time.time()
    root = os.path.abspath(FLAGS.work_dir)
    data_dir, ckpt_dir = os.path.join(root, "LOLdataset"), os.path.join(root, "checkpoint")
    results_dir = os.path.join(root, "results")
    print(f"kind_tf demo: everything goes to {root}")
    if os.path.isdir(os.path.join(REPO_ROOT, "LOLdataset", "our485")):
        print(
            "LOLdataset/our485 exists: for the real training run train_decom.py, "
            "train_restoration.py and train_adjustment.py (defaults read LOLdataset/ and write "
            "checkpoint/), then `python evaluate.py --ckpt checkpoint/`."
        )
    n_train, n_eval = make_dataset(
        data_dir, FLAGS.crops_per_photo, FLAGS.crop_size, FLAGS.eval_size, FLAGS.seed
    )
    print(f"made {n_train} training and {n_eval} eval pairs from skimage.data photos in {data_dir}")
    eval_dir = os.path.join(data_dir, "eval15")
    pretrained_dir = os.path.join(root, "pretrained_results")
    _run_script(
        "1/5 the shipped weights: enhance the low photos", "-m kind_tf.enhance",
        f"--ckpt={checkpoints.PRETRAINED_DIR}", f"--input={os.path.join(eval_dir, 'low')}",
        f"--output_dir={os.path.join(pretrained_dir, 'enhanced')}",
    )
    _run_script(
        "2/5 the shipped weights: evaluate", "evaluate.py", f"--ckpt={checkpoints.PRETRAINED_DIR}",
        f"--data_dir={eval_dir}", f"--output_dir={pretrained_dir}",
    )
    report_gain(data_dir, pretrained_dir)
    common = [
        f"--data_dir={data_dir}",
        f"--ckpt_dir={ckpt_dir}",
        f"--batch_size={FLAGS.batch_size}",
        f"--seed={FLAGS.seed}",
        f"--log_dir={os.path.join(root, 'logs')}",
    ]
    for title, script, epochs, stage in (
        ("3/5 train: decomposition", "train_decom.py", FLAGS.decom_epochs, "decom"),
        ("4/5 train: restoration", "train_restoration.py", FLAGS.restoration_epochs,
         "restoration"),
        ("5/5 train: illumination adjustment", "train_adjustment.py", FLAGS.adjust_epochs,
         "adjust"),
    ):
        _run_script(
            title,
            script,
            *common,
            f"--epochs={epochs}",
            f"--save_every={epochs}",
            f"--sample_dir={os.path.join(root, 'samples', stage)}",
        )
    _run_script(
        "evaluate the nets just trained",
        "evaluate.py",
        f"--ckpt={ckpt_dir}",
        f"--data_dir={eval_dir}",
        f"--output_dir={results_dir}",
    )
    report_gain(data_dir, results_dir)
    print(f"\ndemo finished in {time.time() - started:.0f} s; look at {results_dir}")


def report_gain(data_dir, results_dir):
    """Prints the PSNR of the low inputs and of `results_dir`'s outputs against ground truth."""
    from kind_tf import image_io, lol_pairs, metrics

    with open(os.path.join(results_dir, "metrics.json")) as file:
        enhanced = json.load(file)
    low_psnr = [
        metrics.psnr(image_io.read_rgb(low), image_io.read_rgb(high))
        for low, high in lol_pairs.list_pairs(os.path.join(data_dir, "eval15"))
    ]
    print(
        f"\nPSNR on the synthetic eval split: low input {np.mean(low_psnr):.2f} dB -> "
        f"enhanced {enhanced['mean']['psnr']:.2f} dB ({os.path.basename(results_dir)})"
    )


def _define_flags():
    # Defined only when run as a program: the scripts it drives define some of the same names.
    flags.DEFINE_string(
        "work_dir", "demo_run", "Folder for the demo's dataset, checkpoints and results."
    )
    flags.DEFINE_integer("crops_per_photo", 8, "Training pairs cut from each training photo.")
    flags.DEFINE_integer("crop_size", 192, "Side of the square training crops.")
    flags.DEFINE_integer("eval_size", 256, "Side of the square centre crop of each eval photo.")
    flags.DEFINE_integer("decom_epochs", 150, "Epochs of train_decom.py.")
    flags.DEFINE_integer("restoration_epochs", 75, "Epochs of train_restoration.py.")
    flags.DEFINE_integer("adjust_epochs", 150, "Epochs of train_adjustment.py.")
    flags.DEFINE_integer("batch_size", 10, "Patches per training step.")
    flags.DEFINE_integer("seed", 0, "Seed of the crops, the darkening and the training.")


if __name__ == "__main__":
    _define_flags()
    cli.run(main)
