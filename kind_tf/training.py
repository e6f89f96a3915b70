"""The one training loop of the three KinD stages: resume, samples, logs.

A stage (see `stages.py`) says what to train: the net, its loss on a batch, the training
images and how a patch becomes an example, and the sample images to write. `train` runs the
loop the three original scripts share, as a `train_config.Config` says: batches of random
patches, Adam, a per-epoch learning rate, a checkpoint and sample images every `save_every`
epochs and at the end. Beyond the original it resumes from its last checkpoint (weights,
optimizer state, epoch), logs to TensorBoard, and can train data-parallel (`distribution`).
"""

import contextlib
import dataclasses
import math
import os
import sys
import tempfile
from typing import Callable

import keras
import tensorflow as tf

from kind_tf import (checkpoints, distribution, image_store, models, optimizers, outputs,
                     patches, summaries)
from kind_tf.errors import UserError

# TensorBoard gets the first few sample images of each save (the PNGs hold all of them).
TENSORBOARD_IMAGES = 6


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
        if distribution.multi_worker(tf.distribute.get_strategy()):
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


def steps_per_execution(steps_per_epoch, limit=16):
    """Train steps per compiled call: the largest divisor of the epoch up to `limit`.

    One call running several steps saves Keras' per-step Python work, which is a large share
    of a small net's step (the adjustment net's); a divisor, so that every epoch ends on a
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


def run(build_stage, config):
    """Builds the stage (`build_stage(config)` -> `Stage`) and trains it: what one run of
    a training script does once its flags are parsed into `config`."""
    strategy = distribution.distribution_strategy(config.strategy)  # Before any op: see there.
    if distribution.is_chief(strategy):
        return train(build_stage(config), config)
    # Another worker writes nothing to the run's folders, nor to the cache (decompositions,
    # streamed stores): it builds its own in a scratch folder.
    with tempfile.TemporaryDirectory(prefix="kind_tf_worker_cache_") as cache:
        config = dataclasses.replace(config, cache_dir=cache)
        return train(build_stage(config), config)


def train(stage, config):
    """Trains `stage` as configured; resumes from the stage's latest checkpoint."""
    steps_per_epoch = len(stage.images) // config.batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"{len(stage.images)} training pairs are fewer than --batch_size "
            f"{config.batch_size}: lower --batch_size or add pairs"
        )
    strategy = distribution.distribution_strategy(config.strategy)
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
    chief = distribution.is_chief(strategy)
    resolver = strategy.cluster_resolver
    workers = "" if not distribution.multi_worker(strategy) else (
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
    subfolder = os.path.basename(folder)
    with contextlib.ExitStack() as cleanup:
        if chief:
            save_folder = folder
            sample_folder = os.path.join(config.sample_dir, subfolder)
            os.makedirs(sample_folder, exist_ok=True)
            writer = tf.summary.create_file_writer(os.path.join(config.tensorboard_dir, subfolder))
        else:
            # Every worker saves, the others to a scratch folder deleted at the end (the
            # multi-worker Keras tutorial's pattern): saving a sync-on-read variable is a
            # collective all workers must join. None of ours is one, but one added later
            # would hang a chief-only save.
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
