"""The three KinD training stages: their data, loss and sample images, as the original scripts.

`decom_stage`, `restoration_stage` and `adjustment_stage` read the LOL folders of
`config.data_dir` and return a `training.Stage` for `training.train`. Stages 2 and 3 first
decompose every training image once with the trained DecomNet, as the original does.
"""

import os

import numpy as np
import tensorflow as tf

from kind_tf import checkpoints, data, losses, training
from kind_tf.errors import UserError
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet

# The original restoration script trains on the first 466 pairs, the adjustment script on the
# first 450; the rest (plus eval15) are the sample set. With fewer pairs, all are trained on.
RESTORATION_TRAIN_PAIRS = 466
ADJUSTMENT_TRAIN_PAIRS = 450
# The original adjustment script writes samples of 10 illuminations, each at a random ratio.
ADJUSTMENT_SAMPLES = 10

DECOM_TERMS = (
    "total", "recon_low", "recon_high", "equal_R", "i_mutual",
    "i_input_mutual_high", "i_input_mutual_low",
)
RESTORATION_TERMS = ("total", "square", "grad", "ssim")
ADJUST_TERMS = ("total", "square", "grad")

# The authors' own settings per script (`--schedule original`).
DECOM_ORIGINAL = training.OriginalSettings(48, 10, training.constant_lr)
RESTORATION_ORIGINAL = training.OriginalSettings(384, 4, training.original_restoration_lr)
ADJUSTMENT_ORIGINAL = training.OriginalSettings(48, 10, training.constant_lr)


def _splits(config):
    """(training pairs of our485, pairs of eval15), sorted by name."""
    return (
        data.list_pairs(os.path.join(config.data_dir, "our485")),
        data.list_pairs(os.path.join(config.data_dir, "eval15")),
    )


def decompose(decom, images):
    """[(R, L)] of `images` ((H, W, 3) arrays of one size) in one `decom` pass, batch axis off."""
    reflectance, illumination = decom(np.stack(images), training=False)
    return list(zip(reflectance.numpy(), illumination.numpy()))


def _trained_decomposer(config):
    """The trained DecomNet of `<ckpt_dir>/decom_net_train` (ours or the authors'), as a graph."""
    net = DecomNet()
    checkpoints.load_net(net, config.ckpt_dir)
    return tf.function(net, reduce_retracing=True)


def _decomposed(config, train_pairs, channels, arrange, max_samples=None):
    """The first `train_pairs` pairs and the sample set (the rest, then eval15), decomposed.

    Returns (a `data.ImageStack` of `channels`-channel images
    arrange((R_low, L_low), (R_high, L_high)), one per training pair,
    [(R_low, L_low) per sample image]); each image is decomposed once, as the original.
    """
    pairs, eval_pairs = _splits(config)
    decom = _trained_decomposer(config)
    train = pairs[:train_pairs]
    images = data.ImageStack([data.pair_size(*pair, config.patch_size) for pair in train], channels)
    for index, (low, high) in enumerate(train):
        images[index] = arrange(*decompose(decom, [data.load_image(low), data.load_image(high)]))
    sample_paths = [low for low, _ in pairs[train_pairs:] + eval_pairs][:max_samples]
    return images, [decompose(decom, [data.load_image(path)])[0] for path in sample_paths]


def decom_example(patches, seed):
    """DecomNet examples from a batch of (low, high) 6-channel patches."""
    del seed
    return {"low": patches[..., :3], "high": patches[..., 3:]}


def decom_batch_loss(net, batch):
    """`losses.decom_loss` of `net` on a batch of `decom_example`s."""
    low, high = batch["low"], batch["high"]
    # Low and high go through the same weights, as the original's shared DecomNet; one pass
    # over both (the convolutions treat batch items independently) is faster than two.
    reflectance, illumination = net(tf.concat([low, high], axis=0), training=True)
    r_low, r_high = tf.split(reflectance, 2)
    l_low, l_high = tf.split(illumination, 2)
    return losses.decom_loss(low, high, r_low, l_low, r_high, l_high)


def decom_stage(config):
    """`decomposition_net_train.py`: DecomNet on our485 pairs; samples R|L of eval15."""
    pairs, eval_pairs = _splits(config)
    # Sizes from the headers first, so each pair goes straight into its slot.
    images = data.ImageStack([data.pair_size(*pair, config.patch_size) for pair in pairs], 6)
    for index, (low, high) in enumerate(pairs):
        images[index] = np.concatenate([data.load_image(low), data.load_image(high)], axis=-1)
    eval_images = [(data.load_image(low), data.load_image(high)) for low, high in eval_pairs]

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

    return training.Stage(
        DecomNet, decom_batch_loss, DECOM_TERMS, images, decom_example, samples
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
    images, sample_inputs = _decomposed(
        config, RESTORATION_TRAIN_PAIRS, 7,
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
    images, sample_inputs = _decomposed(
        config, ADJUSTMENT_TRAIN_PAIRS, 2,
        lambda low, high: np.concatenate([low[1], high[1]], axis=-1),
        max_samples=ADJUSTMENT_SAMPLES,
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
