"""The one training loop of the three KinD stages: flags, schedule, resume, samples, logs.

A stage (see `stages.py`) says what to train: the net, its loss on a batch, the training
images and how a patch becomes an example, and the sample images to write. `train` runs the
loop the three original scripts share: batches of random patches, Adam, a per-epoch learning
rate, a checkpoint and sample images every `--save_every` epochs and at the end. Beyond the
original it resumes from its last checkpoint (weights, optimizer state, epoch), logs to
TensorBoard, and can train data-parallel.
"""

import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import tempfile
from typing import Callable, Optional

import keras
import tensorflow as tf
from absl import flags, logging

from kind_tf import (checkpoints, cli, image_store, models, optimizers, outputs, patches,
                     summaries)
from kind_tf.errors import UserError

FLAGS = flags.FLAGS

# TensorBoard gets the first few sample images of each save (the PNGs hold all of them).
TENSORBOARD_IMAGES = 6


def define_flags(default_epochs):
    """Defines the flags every training script shares; `default_epochs` is the stage's."""
    flags.DEFINE_string(
        "data_dir", "LOLdataset", "LOL dataset folder holding our485/ and eval15/, each with "
        "low/ and high/ images matched by file name (see LOLdataset/README.md)."
    )
    flags.DEFINE_string(
        "ckpt_dir", "checkpoint", "Checkpoint root: this stage's checkpoints go to its own "
        "sub-folder (decom_net_train, Restoration_net_train, illumination_adjust_net_train); "
        "stages 2 and 3 read the trained DecomNet from <ckpt_dir>/decom_net_train. Re-running "
        "resumes from the stage's latest checkpoint."
    )
    flags.DEFINE_string(
        "sample_dir", "samples", "Sample images (PNG, as the original) go to "
        "<sample_dir>/<stage sub-folder>/ at every checkpoint."
    )
    # absl.logging owns a --log_dir for its own log files, which these scripts never write:
    # the name is taken over for the TensorBoard logs.
    if "log_dir" in FLAGS:
        delattr(FLAGS, "log_dir")
    flags.DEFINE_string(
        "log_dir", "logs", "TensorBoard logs (each loss term, learning rate, sample images) go "
        "to <log_dir>/<stage sub-folder>/."
    )
    flags.DEFINE_integer("seed", 0, "Seed of the weight initialization and patch sampling.")
    flags.DEFINE_integer("epochs", default_epochs, "Train until this epoch (1 epoch = "
                         "number of training pairs // batch_size steps).")
    flags.DEFINE_integer("batch_size", 10, "Patches per step (the global batch with "
                         "--strategy mirrored or multi_worker). --schedule original: the "
                         "stage's own value.")
    flags.DEFINE_integer("patch_size", 48, "Side of the square training patches. --schedule "
                         "original: the stage's own value.")
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
        "with float32 weights, optimizer, output heads and losses; about 1.2-1.9x faster steps on "
        "CPUs with AVX512_BF16 and on recent GPUs. Checkpoints are the same either way.",
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
        "strategy", "default", ["default", "mirrored", "multi_worker"],
        "default: one device (the GPU when there is one). mirrored: data-parallel over all "
        "local GPUs with tf.distribute.MirroredStrategy; the batch is split over them. "
        "multi_worker: data-parallel over the hosts of the cluster in the TF_CONFIG "
        "environment variable (tf.distribute.MultiWorkerMirroredStrategy), the same command "
        "on every host; the chief writes checkpoints, samples and logs (see README)."
    )


def reference_lr(epoch, lr, decay_every, decay_factor):
    """The reference loop's schedule: `lr * decay_factor ** (epoch // decay_every)`."""
    return lr * decay_factor ** (epoch // decay_every)


def constant_lr(epoch, lr):
    """The original decom and adjustment scripts' schedule: `lr` throughout."""
    del epoch
    return lr


def original_restoration_lr(epoch, lr):
    """The original restoration script's `lr_schedule` (0-based epoch, as it is called)."""
    if epoch <= 800:
        return lr
    if epoch <= 1250:
        return lr / 2
    if epoch <= 1500:
        return lr / 4
    return lr / 10


@dataclasses.dataclass(frozen=True)
class OriginalSettings:
    """A stage's settings in the authors' script, used with `--schedule original`."""

    patch_size: int
    batch_size: int
    lr_schedule: Callable[[int, float], float]


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything the loop needs from the command line, with the schedule resolved."""

    data_dir: str
    ckpt_dir: str
    sample_dir: str
    log_dir: str
    seed: int
    epochs: int
    batch_size: int
    patch_size: int
    save_every: int
    strategy: str
    lr_at: Callable[[int], float]
    precision: str = "fp32"
    train_pairs: Optional[int] = None
    num_samples: Optional[int] = None
    data_mode: str = "auto"
    memory_budget: Optional[int] = None  # bytes
    cache_dir: Optional[str] = None
    exclude_pairs: Optional[str] = None
    # Options of stage 1's loss beyond the original (`stages.DecomOptions`; None: the original).
    decom_options: Optional[object] = None


def config_from_flags(original):
    """The `Config` of the parsed flags; `original` is the stage's `OriginalSettings`."""
    for name in ("epochs", "batch_size", "patch_size", "save_every", "decay_every"):
        if FLAGS[name].value < 1:
            raise UserError(f"--{name} must be at least 1, got {FLAGS[name].value}")
    for name in ("lr", "decay_factor"):
        if not (FLAGS[name].value > 0 and math.isfinite(FLAGS[name].value)):
            raise UserError(f"--{name} must be a positive number, got {FLAGS[name].value}")
    ckpt_dir = os.path.abspath(FLAGS.ckpt_dir)
    if ckpt_dir == checkpoints.PRETRAINED_DIR or ckpt_dir.startswith(
            checkpoints.PRETRAINED_DIR + os.sep):
        # The shipped weights are only ever written by kind_tf.recipe, whole.
        raise UserError(f"--ckpt_dir '{FLAGS.ckpt_dir}' is the shipped weights' folder, which "
                        "training never writes: pass another --ckpt_dir (e.g. checkpoint)")
    batch_size, patch_size = FLAGS.batch_size, FLAGS.patch_size
    if FLAGS.schedule == "original":
        batch_size = batch_size if FLAGS["batch_size"].present else original.batch_size
        patch_size = patch_size if FLAGS["patch_size"].present else original.patch_size
        lr_at = functools.partial(original.lr_schedule, lr=FLAGS.lr)
    else:
        lr_at = functools.partial(reference_lr, lr=FLAGS.lr, decay_every=FLAGS.decay_every,
                                  decay_factor=FLAGS.decay_factor)
    return Config(
        data_dir=FLAGS.data_dir,
        ckpt_dir=FLAGS.ckpt_dir,
        sample_dir=FLAGS.sample_dir,
        log_dir=FLAGS.log_dir,
        seed=FLAGS.seed,
        epochs=FLAGS.epochs,
        batch_size=batch_size,
        patch_size=patch_size,
        save_every=FLAGS.save_every,
        strategy=FLAGS.strategy,
        precision=FLAGS.precision,
        lr_at=lr_at,
        train_pairs=FLAGS.train_pairs,
        num_samples=FLAGS.num_samples,
        data_mode=FLAGS.data_mode,
        memory_budget=None if FLAGS.memory_budget_gb is None else int(
            FLAGS.memory_budget_gb * 2**30),
        cache_dir=FLAGS.cache_dir,
        exclude_pairs=FLAGS.exclude_pairs,
    )


@dataclasses.dataclass
class Stage:
    """What one training script trains; built by `stages.py`, run by `train`.

    build_net: `build_net(dtype=...)` makes the net to train (called inside the distribution
        strategy's scope).
    loss: `loss(net, batch)` -> dict of named loss terms plus `total`.
    term_names: the keys `loss` returns (each is logged as its epoch mean).
    images: an `image_store.ImageStore`: per training pair, its inputs stacked on the channel
        axis (see `patches.patch_dataset`); to_example turns a batch of patches of them into
        the batch the train step takes.
    samples: `samples(predict, epoch)` -> [(PNG file name, [images to put side by side])];
        `predict(inputs, training=False)` runs the net being trained.
    augment_modes, reshuffle: see `patches.patch_dataset`.
    callbacks: Keras callbacks of the stage's own (e.g. a loss weight set per epoch).
    """

    build_net: Callable[..., keras.Model]
    loss: Callable
    term_names: tuple
    images: image_store.ImageStore
    to_example: Callable
    samples: Callable
    augment_modes: int = 8
    reshuffle: bool = True
    callbacks: tuple = ()


class StageTrainer(keras.Model):
    """Wraps a stage's net; `train_step` minimizes the stage loss and reports every term.

    The progress bar and the logs show each term's mean over the epoch so far.
    """

    def __init__(self, net, loss, term_names, **kwargs):
        super().__init__(name=f"{net.name}_trainer", **kwargs)
        self.net = net
        self.stage_loss = loss
        self.trackers = [keras.metrics.Mean(name=name) for name in term_names]
        # The net is built; nothing is left to build by tracing a call on a batch (which
        # Keras would otherwise do under a distribution strategy).
        self.built = True

    @property
    def metrics(self):
        return self.trackers

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build (see `__init__`). Keras' own version first takes a batch and
        averages it over the replicas, which MultiWorkerMirroredStrategy cannot do for a
        batch that is a dict (keras-team/keras#20329, Keras 3.15: "Attempt to convert a value
        ({'low': PerReplica...}) ... to a Tensor")."""
        del iterator, data_batch

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            terms = self.stage_loss(self.net, batch)
            # Replica gradients are summed: scale so the update is that of the global batch.
            total = terms["total"] / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.net.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        for tracker in self.trackers:
            tracker.update_state(terms[tracker.name])
        results = {tracker.name: tracker.result() for tracker in self.trackers}
        if multi_worker(tf.distribute.get_strategy()):
            # Keras 3.15 averages each result over a cluster's replicas along axis 0, which
            # a scalar lacks ("Invalid reduction dimension 0 for input with 0 dimensions",
            # tensorflow/tensorflow#72388): give it one, the average is then a scalar again.
            results = {name: value[None] for name, value in results.items()}
        return results


class NonFiniteLossError(UserError):
    """Training diverged: a loss became NaN or infinite."""


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops with a clear error when an epoch's loss is not finite; runs before saving."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        bad = sorted(name for name, value in (logs or {}).items() if not math.isfinite(value))
        if bad:
            latest = tf.train.latest_checkpoint(self.folder)
            kept = f"the last good checkpoint '{latest}' is kept" if latest else "none saved yet"
            raise NonFiniteLossError(
                f"loss became non-finite ({', '.join(bad)}) in epoch {epoch + 1}; {kept}. "
                "Lower --lr, or check the training images"
            )


class _SaveCheckpointAndSamples(keras.callbacks.Callback):
    """Every `save_every` epochs and at the last: checkpoint, sample PNGs, TensorBoard images.

    `sample_folder` None: a worker other than the chief, which only saves (to its scratch
    folder: see `train`).
    """

    def __init__(self, stage, config, manager, epoch_counter, sample_folder, writer):
        super().__init__()
        self.stage, self.config = stage, config
        self.manager, self.epoch_counter = manager, epoch_counter
        self.sample_folder, self.writer = sample_folder, writer
        self.predict = None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.config.save_every and done != self.config.epochs:
            return
        self.epoch_counter.assign(done)
        path = self.manager.save(checkpoint_number=done)
        if self.sample_folder is None:
            return
        if self.predict is None:
            # One graph for all sample images (faster than eager calls on full-size images).
            self.predict = tf.function(self.model.net, reduce_retracing=True)
        samples = self.stage.samples(self.predict, done)
        with self.writer.as_default(step=done):
            for index, (name, images) in enumerate(samples):
                outputs.save_images(os.path.join(self.sample_folder, name), *images,
                                 compress_level=outputs.PNG_FAST_COMPRESS_LEVEL)
                if index < TENSORBOARD_IMAGES:
                    summaries.image(f"sample_{index + 1}", outputs.side_by_side(*images))
        print(f"\nepoch {done}: saved {path}, {len(samples)} samples in {self.sample_folder}")


class _TensorBoardScalars(keras.callbacks.Callback):
    """Writes every epoch's logs (each loss term's epoch mean, the learning rate)."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default(step=epoch + 1):
            for name, value in (logs or {}).items():
                summaries.scalar(name, value)


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def check_tf_config(value):
    """Raises a `UserError` unless `value`, the TF_CONFIG environment variable, names a
    cluster and this process's task in it (a chief or a worker; --strategy multi_worker)."""
    example = f"e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' on the first host, index 1 on the second"
    if not value:
        raise UserError("--strategy multi_worker needs the TF_CONFIG environment variable "
                        f"set to the cluster and this host's task in it, {example}")
    try:
        config = json.loads(value)
        task_type, index = config["task"]["type"], config["task"]["index"]
        hosts = config["cluster"][task_type]
        if task_type not in ("chief", "worker"):
            raise ValueError(f"task type '{task_type}': chief and worker tasks train")
        if not (isinstance(index, int) and 0 <= index < len(hosts)):
            raise ValueError(f"task index {index} of {len(hosts)} {task_type} host(s)")
    except (ValueError, KeyError, TypeError) as error:
        reason = f"no {error}" if isinstance(error, KeyError) else error
        raise UserError(f"TF_CONFIG '{' '.join(value.split())}' is not a cluster with this "
                        f"host's task in it ({reason}): set it as {example}") from None


@functools.cache
def distribution_strategy(name):
    """The distribution strategy of `--strategy`.

    mirrored: over all local GPUs, else all CPUs. multi_worker: over the cluster of TF_CONFIG
    (each host's GPUs, else its CPU). Made once per process: MultiWorkerMirroredStrategy sets
    up collective ops, which fails once any op has run ("Collective ops must be configured at
    program startup"), so `stage_main` makes it right after the device set-up and `train`
    gets the same one.
    """
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name != "mirrored":
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def multi_worker(strategy):
    """Whether `strategy` spans a cluster of processes (--strategy multi_worker)."""
    return strategy.cluster_resolver is not None and strategy.cluster_resolver.task_type is not None


def is_chief(strategy):
    """Whether this process writes the run's files: always, except under --strategy
    multi_worker, where the chief does (task type chief, else worker 0)."""
    if not multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if "chief" in resolver.cluster_spec().jobs:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def steps_per_execution(steps_per_epoch, limit=16):
    """Train steps per compiled call: the largest divisor of the epoch up to `limit`.

    One call running several steps saves Keras' per-step Python work (about 3 ms a step,
    a fifth of an adjustment step on a 2-core CPU); a divisor, so that every epoch ends on a
    call (Keras would otherwise run past it); `limit` keeps the progress bar moving.
    """
    return max(d for d in range(1, min(limit, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


def _restore(checkpoint, latest, folder):
    """Restores `latest`, the latest checkpoint of `folder` (or None); returns the epoch to
    start from."""
    if latest is None:
        return 0
    try:
        if checkpoints.is_tf1_checkpoint(tf.train.load_checkpoint(latest)):
            # The manager would delete these files when it rotates its own checkpoints.
            raise UserError(
                f"'{folder}' holds a TF1 checkpoint (the authors' weights?) that training "
                "would replace: move it away or pass another --ckpt_dir"
            )
        checkpoint.restore(latest).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as error:
        raise checkpoints.CheckpointError(
            f"cannot resume from '{latest}': {str(error).splitlines()[0]}; move the folder away "
            "to start afresh"
        ) from error
    return int(checkpoint.epoch.numpy())


def stage_main(build_stage, original, options_from_flags=None):
    """The `main` of a training script: `build_stage(config)` -> `Stage`, then `train`.

    `options_from_flags()`: the stage's loss options from its own flags (`Config.decom_options`).
    """

    def main(argv):
        if len(argv) > 1:
            raise UserError(f"unexpected arguments {' '.join(argv[1:])}: see --help")
        if not FLAGS["verbosity"].present:
            # absl.app turns INFO logging on, which lets TensorFlow's Python chatter through.
            logging.set_verbosity(logging.WARNING)
        print(f"device: {cli.configure_device()}")
        config = config_from_flags(original)
        if options_from_flags is not None:
            config = dataclasses.replace(config, decom_options=options_from_flags())
        strategy = distribution_strategy(config.strategy)  # Before any op: see there.
        if is_chief(strategy):
            train(build_stage(config), config)
            return
        # Nor does another worker write the cache (decompositions, streamed stores): it
        # builds its own in a scratch folder.
        with tempfile.TemporaryDirectory(prefix="kind_tf_worker_cache_") as cache:
            config = dataclasses.replace(config, cache_dir=cache)
            train(build_stage(config), config)

    return main


def train(stage, config):
    """Trains `stage` as configured; resumes from the stage's latest checkpoint."""
    steps_per_epoch = len(stage.images) // config.batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"{len(stage.images)} training pairs are fewer than --batch_size "
            f"{config.batch_size}: lower --batch_size or add pairs"
        )
    strategy = distribution_strategy(config.strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise UserError(
            f"--batch_size {config.batch_size} does not split evenly over "
            f"{strategy.num_replicas_in_sync} devices: use a multiple of it"
        )
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        net = stage.build_net(dtype=models.dtype_policy(config.precision))
        trainer = StageTrainer(net, stage.loss, stage.term_names)
        trainer.compile(
            optimizer=optimizers.Adam(config.lr_at(0)),
            # Several steps per call put the replicas' collectives (gradient sums, the losses'
            # min/max gathers) in a tf.cond inside a while loop, which fails under both
            # mirrored strategies ("You must feed a value for placeholder tensor
            # 'while/cond/Placeholder...'", keras-team/keras#19246): one step per call there.
            steps_per_execution=(steps_per_execution(steps_per_epoch)
                                 if strategy.num_replicas_in_sync == 1 else 1),
        )
        # Optimizer slots must exist before a restore can fill them.
        trainer.optimizer.build(net.trainable_variables)
        epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = checkpoints.training_checkpoint(
            net, optimizer=trainer.optimizer, epoch=epoch_counter
        )
    # Every worker resumes from the chief's folder (on a filesystem all hosts share).
    folder = checkpoints.net_folder(config.ckpt_dir, net)
    latest = tf.train.latest_checkpoint(folder)
    initial_epoch = _restore(checkpoint, latest, folder)
    if initial_epoch >= config.epochs:
        print(f"{folder} is already trained to epoch {initial_epoch} (--epochs {config.epochs})")
        return initial_epoch
    if initial_epoch:
        print(f"resuming from {latest} at epoch {initial_epoch}; the learning rate schedule "
              "continues from there")
    chief = is_chief(strategy)
    resolver = strategy.cluster_resolver
    workers = "" if not multi_worker(strategy) else (
        f", this host {resolver.task_type} {resolver.task_id} of TF_CONFIG's cluster"
        f"{' (the chief: it writes checkpoints, samples and logs)' if chief else ''}")
    print(f"training {net.name} on {len(stage.images)} pairs, {steps_per_epoch} steps of "
          f"{config.batch_size} patches {config.patch_size}x{config.patch_size} per epoch, "
          f"epochs {initial_epoch + 1}..{config.epochs}, "
          f"{strategy.num_replicas_in_sync} replica(s){workers}, {config.precision}")

    dataset = patches.patch_dataset(
        stage.images, config.patch_size, config.batch_size, config.seed, stage.to_example,
        modes=stage.augment_modes, reshuffle=stage.reshuffle,
        first_patch=initial_epoch * steps_per_epoch * config.batch_size,
    )
    # Under --strategy multi_worker every worker cuts the same global batches (the stream is
    # stateless-seeded per batch) and keeps its replicas' slices of each, as MirroredStrategy
    # splits a batch over its devices: a step trains on the batch one device would. (AUTO
    # would try to shard by input files first, which this pipeline has none of.)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    subfolder = checkpoints.NET_FOLDERS[net.name]
    with contextlib.ExitStack() as cleanup:
        if chief:
            save_folder = folder
            sample_folder = os.path.join(config.sample_dir, subfolder)
            os.makedirs(sample_folder, exist_ok=True)
            writer = tf.summary.create_file_writer(os.path.join(config.log_dir, subfolder))
        else:
            # Every worker saves, the others to a scratch folder deleted at the end (the
            # multi-worker Keras tutorial's pattern): saving a sync-on-read variable is a
            # collective all workers must join. None of ours is one (a save by the chief
            # alone was tried and works), but one added later would hang a chief-only save.
            # The others write no samples or logs.
            save_folder = cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="kind_tf_worker_checkpoints_"))
            sample_folder, writer = None, tf.summary.create_noop_writer()
        cleanup.callback(writer.close)
        manager = tf.train.CheckpointManager(
            checkpoint, save_folder, max_to_keep=3, checkpoint_name="model.ckpt"
        )
        callbacks = [
            keras.callbacks.LearningRateScheduler(lambda epoch, _: config.lr_at(epoch)),
            _StopOnNonFiniteLoss(folder),
            _SaveCheckpointAndSamples(stage, config, manager, epoch_counter, sample_folder,
                                      writer),
            _TensorBoardScalars(writer),
            *stage.callbacks,
        ]
        # Grappler's remapper fails on the training graph ("fanout ... LeakyReluGrad exist
        # for missing node"), logging an error and leaving the graph as it is; switching it
        # off while training gives the same graph without the error.
        grappler_options = tf.config.optimizer.get_experimental_options()
        tf.config.optimizer.set_experimental_options({"remapping": False})
        cleanup.callback(tf.config.optimizer.set_experimental_options,
                         {"remapping": grappler_options.get("remapping", True)})
        trainer.fit(
            dataset,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # The pipeline does its own sampling.
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return config.epochs
