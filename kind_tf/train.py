"""Trains one KinD stage: the one training driver.

    python -m kind_tf.train --stage decom|restoration|adjust [--data_dir LOLdataset] ...

`train_decom.py`, `train_restoration.py` and `train_adjustment.py` (the original's names) run
it with their stage. The flags are parsed here into a `train_config.Config`; re-running
resumes from the stage's latest checkpoint.

TensorBoard logs go to `--tensorboard_dir`. Its old name `--log_dir` is absl.logging's own
flag (where absl would write its log files, which these scripts never ask it to): it is not
redefined, and a value given to it is taken as `--tensorboard_dir`.
"""

from absl import flags, logging

from kind_tf import cli, distribution, image_store, models, stages, train_config, training
from kind_tf.errors import UserError

FLAGS = flags.FLAGS

# The flags `train_config.make_config` takes, by the same names.
CONFIG_FLAGS = (
    "data_dir", "ckpt_dir", "sample_dir", "tensorboard_dir", "seed", "epochs", "batch_size",
    "patch_size", "lr", "decay_every", "decay_factor", "save_every", "schedule", "precision",
    "train_pairs", "num_samples", "exclude_pairs", "data_mode", "memory_budget_gb",
    "cache_dir", "strategy",
)
DECOM_FLAGS = ("illumination_prior_weight", "illumination_prior_epochs",
               "illumination_prior_weight_after", "illumination_prior_offset")


def define_flags(stage=None):
    """Defines the training flags; `stage` (a `--stage` name): the script of that stage,
    whose `--stage` and `--epochs` default to it and which has only its own flags."""
    if stage is None:
        flags.DEFINE_enum("stage", None, stages.STAGE_NAMES, "The stage to train: decom "
                          "(DecomNet), restoration (RestorationNet), adjust (IllumAdjustNet), "
                          "in this order.")
        flags.mark_flag_as_required("stage")
        epochs_default = None
    else:
        flags.DEFINE_enum("stage", stage, [stage], "The stage this script trains.")
        epochs_default = stages.named(stage).default_epochs
    flags.DEFINE_string(
        "data_dir", "LOLdataset", "LOL dataset folder holding our485/ and eval15/, each with "
        "low/ and high/ images matched by file name (see LOLdataset/README.md)."
    )
    flags.DEFINE_string(
        "ckpt_dir", "checkpoint", "Checkpoint root: this stage's checkpoints go to its own "
        "sub-folder (" + ", ".join(spec.folder for spec in stages.STAGES) + "); stages 2 and 3 "
        f"read the trained DecomNet from <ckpt_dir>/{stages.STAGES[0].folder}. Re-running "
        "resumes from the stage's latest checkpoint."
    )
    flags.DEFINE_string(
        "sample_dir", "samples", "Sample images (PNG, as the original) go to "
        "<sample_dir>/<stage sub-folder>/ at every checkpoint."
    )
    flags.DEFINE_string(
        "tensorboard_dir", "logs", "TensorBoard logs (each loss term, learning rate, sample "
        "images) go to <tensorboard_dir>/<stage sub-folder>/. --log_dir is taken as this."
    )
    flags.DEFINE_integer("seed", 0, "Seed of the weight initialization and patch sampling.")
    flags.DEFINE_integer(
        "epochs", epochs_default, "Train until this epoch (1 epoch = number of training pairs "
        "// batch_size steps). Default: the stage's, "
        + ", ".join(f"{spec.name} {spec.default_epochs}" for spec in stages.STAGES) + ".")
    flags.DEFINE_integer("batch_size", train_config.REFERENCE_BATCH_SIZE, "Patches per step "
                         "(the global batch with --strategy mirrored or multi_worker). "
                         "--schedule original: the stage's own value.")
    flags.DEFINE_integer("patch_size", train_config.REFERENCE_PATCH_SIZE, "Side of the square "
                         "training patches. --schedule original: the stage's own value.")
    flags.DEFINE_float("lr", 1e-4, "Initial Adam learning rate.")
    flags.DEFINE_integer("decay_every", 500, "--schedule reference: multiply the learning rate "
                         "by --decay_factor every this many epochs.")
    flags.DEFINE_float("decay_factor", 0.1, "--schedule reference: learning rate decay factor.")
    flags.DEFINE_integer("save_every", 100, "Write a checkpoint and sample images every this "
                         "many epochs, and at the end. A killed run loses at most this many.")
    flags.DEFINE_enum(
        "schedule", "reference", ["reference", "original"],
        "reference: patch 48, batch 10, lr decayed by --decay_factor every --decay_every epochs. "
        "original: the authors' per-script settings (decom/adjustment: constant lr; "
        "restoration: patch 384, batch 4, lr /2 after epoch 800, /4 after 1250, /10 after 1500); "
        "an explicit --patch_size/--batch_size still wins."
    )
    flags.DEFINE_enum(
        "precision", "fp32", sorted(models.PRECISIONS),
        "fp32 (default): the original's numerics. bf16: Keras mixed_bfloat16, bf16 convolutions "
        "with float32 weights, optimizer, output heads and losses, for CPUs with AVX512_BF16 "
        "and recent GPUs (bench/README.md). Checkpoints are the same either way.",
    )
    flags.DEFINE_integer(
        "train_pairs", None, "Train on the first N pairs of our485 (by file name). Default: the "
        "original split on a set up to LOL's 485 pairs (restoration 466, adjustment 450, "
        "decomposition all), and all but the sample pairs on a larger set.", lower_bound=1)
    flags.DEFINE_integer(
        "num_samples", None, "Held-out pairs (after the trained ones, skipping one, as the "
        "original) whose sample images are written at every checkpoint. Default: the "
        "original's (restoration 13, i.e. [467:480], plus eval15; adjustment 10, i.e. "
        "[451:461]; decomposition 0, eval15 only).", lower_bound=0)
    flags.DEFINE_string(
        "exclude_pairs", None, "Beyond the original: a file of pair names (one per line, '#' "
        "comments; e.g. written by python -m kind_tf.pair_check) to leave out of training; "
        "each one left out is reported. Held-out sample pairs are not affected.")
    flags.DEFINE_enum(
        "data_mode", "auto", list(image_store.DATA_MODES),
        "memory: hold the training images in memory (uint8 photos, float32 decompositions). "
        "stream: write them once to a store folder under --cache_dir and read each patch from "
        "it (the same patches; for sets larger than memory). auto: memory when the set fits "
        "in --memory_budget_gb.")
    flags.DEFINE_float(
        "memory_budget_gb", None, "--data_mode auto streams sets larger than this (GiB). "
        "Default: a quarter of this machine's memory.", lower_bound=0)
    flags.DEFINE_string(
        "cache_dir", None, "Decompositions of stages 2 and 3 (computed once per DecomNet and "
        "image, shared by both stages and every resume) and streamed stores go here. "
        "Default: <ckpt_dir>/cache.")
    flags.DEFINE_enum(
        "strategy", "default", list(distribution.STRATEGIES),
        "default: one device (the GPU when there is one). mirrored: data-parallel over all "
        "local GPUs with tf.distribute.MirroredStrategy; the batch is split over them. "
        "multi_worker: data-parallel over the hosts of the cluster in the TF_CONFIG "
        "environment variable (tf.distribute.MultiWorkerMirroredStrategy), the same command "
        "on every host; the chief writes checkpoints, samples and logs (see README)."
    )
    if stage in (None, "decom"):
        define_decom_flags()
    # --help lists the device flags with these.
    flags.adopt_module_key_flags(cli)


def define_decom_flags(flag_values=FLAGS):
    """The flags of stage 1's `train_config.DecomOptions` (also the recipe's)."""
    flags.DEFINE_float(
        "illumination_prior_weight", 0.0, "Beyond the original: add this weight times "
        "mean|L - max_c I| of the low and the high image (LIME's illumination prior) to the "
        "DecomNet loss. 0 (default): the original loss.", lower_bound=0,
        flag_values=flag_values)
    flags.DEFINE_integer(
        "illumination_prior_epochs", 0, "With --illumination_prior_weight: apply that weight in "
        "the first this many epochs only, --illumination_prior_weight_after after them; 0: "
        "every epoch.", lower_bound=0, flag_values=flag_values)
    flags.DEFINE_float(
        "illumination_prior_weight_after", 0.0, "The prior's weight after "
        "--illumination_prior_epochs; 0 (default): the original loss.", lower_bound=0,
        flag_values=flag_values)
    flags.DEFINE_float(
        "illumination_prior_offset", 0.0, "The prior's target is max_c I + this, at most 1 "
        "(the authors' DecomNet puts L about 0.05 above max_c I).", lower_bound=0,
        flag_values=flag_values)


def config_from_flags(flag_values):
    """(the `StageSpec` of --stage, the `train_config.Config` of the parsed flags)."""
    spec = stages.named(flag_values.stage)
    values = {name: flag_values[name].value for name in CONFIG_FLAGS}
    if flag_values["log_dir"].present:
        if flag_values["tensorboard_dir"].present:
            raise UserError("--log_dir is the old name of --tensorboard_dir: pass only one")
        values["tensorboard_dir"] = flag_values.log_dir
    if values["epochs"] is None:
        values["epochs"] = spec.default_epochs
    for name in ("batch_size", "patch_size"):
        if not flag_values[name].present:  # --schedule original: the stage's own.
            values[name] = None
    if spec.name == "decom":
        values.update({name: flag_values[name].value for name in DECOM_FLAGS})
    else:
        given = [name for name in DECOM_FLAGS if name in flag_values and flag_values[name].present]
        if given:
            raise UserError(f"--{given[0]} is an option of --stage decom, not {spec.name}")
    return spec, train_config.make_config(spec.original, **values)


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}: see --help")
    if not FLAGS["verbosity"].present:
        # absl.app turns INFO logging on, which lets TensorFlow's Python chatter through.
        logging.set_verbosity(logging.WARNING)
    print(f"device: {cli.configure_device()}")
    spec, config = config_from_flags(FLAGS)
    training.run(spec.build, config)


def run(stage=None):
    """The command line of `python -m kind_tf.train`, or with `stage` of its script."""
    define_flags(stage)
    cli.run(main)


if __name__ == "__main__":
    run()
