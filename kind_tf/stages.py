"""The three KinD training stages, as the original scripts: the registry and their data, loss
and sample images.

`STAGES` is the one list of the stages (net, checkpoint folder, script, epochs, the
original's schedule and split) that the driver, the recipe and checkpoint loading read. Each
stage's `build` (`decom_stage`, `restoration_stage`, `adjustment_stage`) reads the LOL
folders of `config.data_dir` and returns a `training.Stage` for `training.train`. The
training images go into an `image_store.ImageStore`, in memory or streamed from a store
folder under the cache folder (`config.data_mode`). Stages 2 and 3 train on the trained DecomNet's decompositions,
computed once and cached (`decom_cache`), as the original computes them once per script.
"""

import dataclasses
import os
import sys
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from kind_tf import (checkpoints, decom_cache, image_io, image_store, losses, lol_pairs,
                     progress, train_config, training)
from kind_tf.errors import UserError
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet

# The original restoration script trains on the first 466 pairs and writes samples of
# [467:480] and eval15; the adjustment script trains on the first 450 and writes samples of
# 10 illuminations of [451:480], each at a random ratio (see `lol_pairs.split`).
RESTORATION_TRAIN_PAIRS = 466
RESTORATION_SAMPLES = 13
ADJUSTMENT_TRAIN_PAIRS = 450
ADJUSTMENT_SAMPLES = 10

DECOM_TERMS = (
    "total", "recon_low", "recon_high", "equal_R", "i_mutual",
    "i_input_mutual_high", "i_input_mutual_low",
)
RESTORATION_TERMS = ("total", "square", "grad", "ssim")
ADJUST_TERMS = ("total", "square", "grad")


def _splits(config, original_train_pairs, default_samples):
    """(pairs to train on, held-out sample pairs, eval15 pairs, the number of samples),
    sorted by name."""
    num_samples = default_samples if config.num_samples is None else config.num_samples
    train, held_out = lol_pairs.split(
        lol_pairs.list_pairs(os.path.join(config.data_dir, "our485")), config.train_pairs,
        num_samples, original_train_pairs,
    )
    if config.exclude_pairs:
        excluded = lol_pairs.read_exclusions(config.exclude_pairs)
        left_out = [pair for pair in train if os.path.basename(pair[0]) in excluded]
        for low, _ in left_out:
            print(f"left out: pair '{os.path.basename(low)}' (listed in {config.exclude_pairs})")
        train = [pair for pair in train if pair not in left_out]
    return train, held_out, lol_pairs.list_pairs(os.path.join(config.data_dir, "eval15")), num_samples


def _usable(train, patch_size, unreadable=()):
    """(pairs of `train` that can be trained on, their sizes): a pair with an unreadable image,
    two sizes or no room for a patch is reported on one line and skipped."""
    kept, sizes, reasons = [], [], []
    for pair in train:
        try:
            if unreadable and set(pair) & unreadable:
                raise UserError(f"pair '{pair[0]}' has an unreadable image")
            sizes.append(lol_pairs.pair_size(*pair, patch_size))
            kept.append(pair)
        except UserError as error:
            print(f"skipped: {error}", file=sys.stderr)
            reasons.append(str(error))
    if not kept:
        raise UserError(f"none of the {len(train)} training pairs can be used; the first: "
                        f"{reasons[0]}")
    if len(kept) < len(train):
        print(f"training on {len(kept)} of {len(train)} pairs", file=sys.stderr)
    return kept, sizes


def cache_folder(config):
    """Where decompositions and streamed stores go: --cache_dir, else <ckpt_dir>/cache."""
    return config.cache_dir or os.path.join(config.ckpt_dir, "cache")


def _store(config, name, sizes, channels, dtype, key, fill):
    """The stage's `ImageStore` of images of `sizes`: in memory, or streamed from the store
    folder `<cache>/stores/<name>-<key>` (reused when it is there), filled by `fill(store)`."""
    rows = sum(int(height) * int(width) for height, width in sizes)
    nbytes = rows * channels * np.dtype(dtype).itemsize
    budget = config.memory_budget or image_store.default_memory_budget()
    if image_store.plan(nbytes, config.data_mode, budget):
        print(f"training images: {nbytes / 2**30:.2f} GiB of {np.dtype(dtype).name}, in memory")
        store = image_store.ImageStore.create(sizes, channels, dtype)
        fill(store)
        return store
    folder = os.path.join(cache_folder(config), "stores", f"{name}-{key}")
    print(f"training images: {nbytes / 2**30:.2f} GiB of {np.dtype(dtype).name}, streamed "
          f"from {folder} (budget {budget / 2**30:.2f} GiB)")
    if image_store.ImageStore.exists(folder):
        return image_store.ImageStore.open(folder, in_memory=False)
    store = image_store.ImageStore.create(sizes, channels, dtype, folder)
    fill(store)
    return store.finish()


def _fill(store, items, put, what):
    """Calls `put(store, index, item)` for every item, with a progress bar."""
    print(f"{what} {len(items)} training pairs")
    bar = progress.progress_bar(len(items), "pair")
    for index, item in enumerate(items):
        put(store, index, item)
        bar.update(index + 1)


def _trained_decomposer(config):
    """The trained DecomNet of `<ckpt_dir>/decom_net_train` (ours or the authors')."""
    net = DecomNet()
    checkpoints.load_net(net, config.ckpt_dir)
    return net


def _decomposed(config, name, train, sample_paths, channels, arrange):
    """An `ImageStore` of `channels`-channel images arrange((R_low, L_low), (R_high, L_high)),
    one per usable pair of `train`, and [(R_low, L_low) per readable image of
    `sample_paths`], from the cached decompositions."""
    cache = decom_cache.DecompositionCache(cache_folder(config), _trained_decomposer(config))
    train, _ = _usable(train, config.patch_size)
    unreadable = cache.ensure([path for pair in train for path in pair], "training images")
    train, sizes = _usable(train, config.patch_size, unreadable)
    unreadable |= cache.ensure(sample_paths, "sample images")

    def put(store, index, pair):
        store.put(index, arrange(*map(cache.load, pair)))

    images = _store(config, name, sizes, channels, np.float32,
                    cache.key([path for pair in train for path in pair]),
                    lambda store: _fill(store, train, put, "arranging"))
    return images, [cache.load(path) for path in sample_paths if path not in unreadable]


class _PriorSchedule(keras.callbacks.Callback):
    """Sets the prior's weight variable at the start of every epoch (resumes alike)."""

    def __init__(self, weight, options):
        super().__init__()
        self.weight, self.options = weight, options

    def on_epoch_begin(self, epoch, logs=None):
        warm = self.options.prior_epochs == 0 or epoch < self.options.prior_epochs
        self.weight.assign(self.options.prior_weight if warm else self.options.prior_weight_after)


def decom_example(patches, seed):
    """DecomNet examples from a batch of (low, high) 6-channel patches."""
    del seed
    return {"low": patches[..., :3], "high": patches[..., 3:]}


def decom_batch_loss(net, batch, prior_weight=None, prior_offset=0.0):
    """`losses.decom_loss` of `net` on a batch of `decom_example`s."""
    low, high = batch["low"], batch["high"]
    # Low and high go through the same weights, as the original's shared DecomNet; one pass
    # over both (the convolutions treat batch items independently) is faster than two.
    reflectance, illumination = net(tf.concat([low, high], axis=0), training=True)
    r_low, r_high = tf.split(reflectance, 2)
    l_low, l_high = tf.split(illumination, 2)
    return losses.decom_loss(low, high, r_low, l_low, r_high, l_high, prior_weight,
                             prior_offset)


def put_levels(store, index, levels):
    """Puts the uint8 RGB `levels` side by side at `index`, with each image's normalization
    range for its three channels (`image_store.normalized` applies it per patch)."""
    ranges = [image_io.level_range(image) for image in levels for _ in range(3)]
    store.put(index, np.concatenate(levels, axis=-1), np.array(ranges, np.float32))


def decom_stage(config):
    """`decomposition_net_train.py`: DecomNet on our485 pairs; samples R|L of eval15.

    The pairs are held as uint8 levels with each image's normalization range
    (`image_store.normalized`), a quarter of the original's float32 arrays.
    """
    train, _, eval_pairs, _ = _splits(config, None, 0)
    train, sizes = _usable(train, config.patch_size)

    def put(store, index, pair):
        put_levels(store, index, [image_io.read_rgb(path) for path in pair])

    images = _store(config, "decom", sizes, 6, np.uint8,
                    decom_cache.fingerprint(*map(decom_cache.file_fingerprint,
                                                 [path for pair in train for path in pair])),
                    lambda store: _fill(store, train, put, "loading"))
    eval_images = [(image_io.load_image(low), image_io.load_image(high))
                   for low, high in eval_pairs]

    def samples(predict, epoch):
        written = []
        for index, pair in enumerate(eval_images):
            for side, image in zip(("low", "high"), pair):
                reflectance, illumination = predict(image[None], training=False)
                # The original saves the 3-channel I_low_3 beside R.
                written.append((
                    f"{side}_{index + 1}_{epoch}.png",
                    [reflectance.numpy(), np.repeat(illumination.numpy(), 3, axis=-1)],
                ))
        return written

    options = config.decom_options
    if not options.prior_weight:
        return training.Stage(
            DecomNet, decom_batch_loss, DECOM_TERMS, images, decom_example, samples
        )
    weight = tf.Variable(options.prior_weight, trainable=False, dtype=tf.float32,
                         name="illumination_prior_weight")
    print(f"DecomNet loss: the original plus {options.prior_weight} x illumination prior"
          + (f" (target max_c I + {options.prior_offset})" if options.prior_offset else "")
          + (f" in epochs 1..{options.prior_epochs}, {options.prior_weight_after} x after"
             if options.prior_epochs else ""))
    return training.Stage(
        DecomNet, lambda net, batch: decom_batch_loss(net, batch, weight, options.prior_offset),
        DECOM_TERMS + ("illumination_prior",), images, decom_example, samples,
        callbacks=(_PriorSchedule(weight, options),),
    )


def restoration_example(patches, seed):
    """Restoration examples from a batch of (R_low, L_low, R_high ** 1.2) 7-channel patches."""
    del seed
    return {
        "reflectance": patches[..., :3], "illumination": patches[..., 3:4],
        "target": patches[..., 4:],
    }


def restoration_batch_loss(net, batch):
    """`losses.restoration_loss` of `net` on a batch of `restoration_example`s."""
    restored = net([batch["reflectance"], batch["illumination"]], training=True)
    return losses.restoration_loss(restored, batch["target"])


def restoration_stage(config):
    """`reflectance_restoration_net_train.py`: restore R_low towards R_high ** 1.2."""
    if config.patch_size < 11:
        raise UserError(
            f"--patch_size {config.patch_size} is below the 11x11 SSIM window of the "
            "restoration loss: use at least 11"
        )
    # The original raises the target to the power 1.2 "to improve the contrast".
    train, held_out, eval_pairs, _ = _splits(config, RESTORATION_TRAIN_PAIRS,
                                             RESTORATION_SAMPLES)
    images, sample_inputs = _decomposed(
        config, "restoration", train, [low for low, _ in held_out + eval_pairs], 7,
        lambda low, high: np.concatenate([low[0], low[1], high[0] ** 1.2], axis=-1),
    )

    def samples(predict, epoch):
        return [
            (
                f"eval_{index + 1}_{epoch}.png",
                [r_low, predict([r_low[None], l_low[None]], training=False)],
            )
            for index, (r_low, l_low) in enumerate(sample_inputs)
        ]

    return training.Stage(
        RestorationNet, restoration_batch_loss, RESTORATION_TERMS, images, restoration_example,
        samples,
    )


def adjustment_example(patches, seed):
    """Adjustment examples from a batch of (low L, high L) patches, as
    `adjustment_net_train.py`.

    Per patch, ratio = mean(L_low / (L_high + 1e-4)) over the patch, and a fair coin (from
    `seed`) picks the direction: low -> high with the constant map 1 / ratio + 1e-4, or
    high -> low with `ratio`.
    """
    low, high = patches[..., :1], patches[..., 1:]
    ratio = tf.reduce_mean(low / (high + 1e-4), axis=[1, 2, 3], keepdims=True)
    coins = tf.random.stateless_uniform(tf.shape(ratio), seed, maxval=2, dtype=tf.int32)
    brighten = coins == 1
    return {
        "illumination": tf.where(brighten, low, high),
        "ratio_map": tf.broadcast_to(tf.where(brighten, 1.0 / ratio + 1e-4, ratio), tf.shape(low)),
        "target": tf.where(brighten, high, low),
    }


def adjust_batch_loss(net, batch):
    """`losses.adjust_loss` of `net` on a batch of `adjustment_example`s."""
    adjusted = net([batch["illumination"], batch["ratio_map"]], training=True)
    return losses.adjust_loss(adjusted, batch["target"])


def adjustment_stage(config):
    """`adjustment_net_train.py`: map L_low to L_high (and back) at the patch's exposure ratio."""
    train, held_out, eval_pairs, num_samples = _splits(config, ADJUSTMENT_TRAIN_PAIRS,
                                                       ADJUSTMENT_SAMPLES)
    # A set too small to hold samples out (LOL holds 29) takes them from eval15.
    sample_pairs = (held_out + eval_pairs)[:num_samples]
    images, sample_inputs = _decomposed(
        config, "adjustment", train, [low for low, _ in sample_pairs], 2,
        lambda low, high: np.concatenate([low[1], high[1]], axis=-1),
    )
    rng = np.random.default_rng(config.seed)

    def samples(predict, epoch):
        written = []
        for index, (_, l_low) in enumerate(sample_inputs):
            # The original draws a new ratio in [0, 2) for every sample it writes.
            ratio = rng.random() * 2
            ratio_map = np.full_like(l_low, ratio)
            adjusted = predict([l_low[None], ratio_map[None]], training=False)
            written.append((f"h_eval_{epoch}_{index + 1}_{ratio:5f}.png", [l_low, adjusted]))
        return written

    return training.Stage(
        IllumAdjustNet, adjust_batch_loss, ADJUST_TERMS, images, adjustment_example, samples,
        # Quirks of the original adjustment script, kept: its augmentation mode is
        # `np.random.randint(0, 7)` (modes 0-6, never 7), and it never reshuffles its pairs.
        augment_modes=7,
        reshuffle=False,
    )


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """One of KinD's three training stages.

    name: its `--stage` in `python -m kind_tf.train`.
    net_class: the net it trains (its name is the original's variable scope).
    folder: the sub-folder of its checkpoints, samples and logs: the original scripts'.
    script: this repository's script for it (an alias of `kind_tf.train --stage name`).
    default_epochs: the reference loop's epochs.
    original: the authors' own settings in their script (`--schedule original`).
    train_pairs, num_samples: the original's split of LOL's our485 (`lol_pairs.split`):
        the pairs trained on (None: all) and the held-out pairs it writes samples of.
    build: `build(config)` -> `training.Stage`: the stage's data, loss and samples.
    """

    name: str
    net_class: type
    folder: str
    script: str
    default_epochs: int
    original: train_config.OriginalSchedule
    train_pairs: int
    num_samples: int
    build: Callable


# In training order (stages 2 and 3 train on stage 1's decompositions). The original's
# patch 48, batch 10 and constant lr for decom and adjustment; patch 384, batch 4 and its
# step schedule for restoration.
STAGES = (
    StageSpec("decom", DecomNet, "decom_net_train", "train_decom.py", 2000,
              train_config.OriginalSchedule(48, 10, train_config.constant_lr), None, 0,
              decom_stage),
    StageSpec("restoration", RestorationNet, "Restoration_net_train", "train_restoration.py",
              1000, train_config.OriginalSchedule(384, 4, train_config.original_restoration_lr),
              RESTORATION_TRAIN_PAIRS, RESTORATION_SAMPLES, restoration_stage),
    StageSpec("adjust", IllumAdjustNet, "illumination_adjust_net_train", "train_adjustment.py",
              2000, train_config.OriginalSchedule(48, 10, train_config.constant_lr),
              ADJUSTMENT_TRAIN_PAIRS, ADJUSTMENT_SAMPLES, adjustment_stage),
)
STAGE_NAMES = tuple(spec.name for spec in STAGES)


def named(name):
    """The `StageSpec` of `--stage name`."""
    return STAGES[STAGE_NAMES.index(name)]


def of_net(net):
    """The `StageSpec` of the stage that trains `net` (a DecomNet, RestorationNet or
    IllumAdjustNet)."""
    return next(spec for spec in STAGES if isinstance(net, spec.net_class))
