"""Enhancement with the three KinD nets and the original post-processing, as compiled TF calls.

`enhance` is the authors' `evaluate.py` per image: decompose, restore the reflectance, adjust
the illumination to the user's `ratio`, then (with `denoise`) the post-processing that the
original runs in numpy/scikit-image, here in TF ops so that the whole enhancer is one compiled
call, on the GPU when there is one. Without `denoise` it is their `evaluate_LOLdataset.py`,
whose ratio `gt_ratio` computes. `enhance_tiled` bounds the memory needed for large photos.
"""

import numpy as np
import tensorflow as tf

from kind_tf import checkpoints, models

# skimage.color.rgb2gray (ITU-R 709 luma), which the original uses for the denoise mask.
RGB2GRAY = (0.2125, 0.7154, 0.0721)
# skimage.filters.gaussian(r_gray, 3): sigma 3, truncate 4.0, so radius int(4 * 3 + 0.5) = 12.
MASK_SIGMA = 3.0
MASK_TRUNCATE = 4.0
# evaluate_LOLdataset.py: ratio = mean(L_high / (L_low + 0.0001)).
GT_RATIO_EPSILON = 1e-4

# --ratio auto: the ratio that brings the decomposed illumination's mean to a target level,
# estimated on the photo scaled down to fit this many px (the mean hardly changes; it keeps
# the estimate cheap and the same for tiled and untiled runs of a large photo).
AUTO_RATIO_SIZE = 1024
# Its default target: the mean decomposed illumination of well-lit photos, measured with the
# shipped DecomNet on the ground truths of the held-out our485 pairs [466:485] (never on
# eval15; pretrained/record.json "auto_target_brightness"). Another DecomNet may need another
# target (--target_brightness).
AUTO_TARGET_BRIGHTNESS = 0.6935
# The illumination mean below which a photo counts as black (bounds the ratio).
AUTO_MIN_ILLUMINATION = 0.01

# Tiles start at multiples of 16, so that the restoration U-Net's four 2x2 poolings see the
# same pixel grid as on the whole image. An output pixel of decom -> restoration depends on
# input pixels up to 117 px away (measured from the gradient support), so a tile run with 128
# px of context on every side gives its core exactly as the whole image does (up to float
# rounding, ~3e-7); 32 px already keeps the error under 1e-3 (measured on eval15 and 1.bmp).
TILE_ALIGN = 16
TILE_MARGIN = 128


def load_nets(ckpt_root, precision="fp32", restoration=True):
    """(decom, restoration, adjust) with their weights from checkpoint root `ckpt_root`.

    Each net loads from its folder (`checkpoints.NET_FOLDERS`), in the authors' TF1 format or
    ours. `precision` "bf16" builds the nets under Keras' `mixed_bfloat16` policy (bf16
    compute, fp32 weights); the post-processing stays fp32. Without `restoration` the
    restoration net is `skip_restoration` (nothing is loaded for it).
    """
    dtype = models.dtype_policy(precision)
    nets = [models.DecomNet(dtype=dtype), models.RestorationNet(dtype=dtype),
            models.IllumAdjustNet(dtype=dtype)]
    if not restoration:
        nets[1] = skip_restoration
    for net in nets:
        if net is not skip_restoration:
            checkpoints.load_net(net, ckpt_root)
    return tuple(nets)


def skip_restoration(inputs):
    """The restoration step left out (the paper's ablation): R_restored = R_decom."""
    return inputs[0]


def gaussian_blur(image, sigma=MASK_SIGMA, truncate=MASK_TRUNCATE):
    """`skimage.filters.gaussian(x, sigma)` of a (B,H,W,1) float32 tensor.

    The kernel of scipy's `gaussian_filter` (radius `int(truncate * sigma + 0.5)`, weights
    `exp(-x^2 / 2 sigma^2)` normalized) with its mode 'nearest' (edge pixels repeated), as two
    separable 1-D convolutions.
    """
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights = tf.constant(weights / weights.sum(), tf.float32)
    for axis, kernel_shape in ((1, [-1, 1, 1, 1]), (2, [1, -1, 1, 1])):
        size = tf.shape(image)[axis]
        edge_padded = tf.clip_by_value(tf.range(-radius, size + radius), 0, size - 1)
        image = tf.gather(image, edge_padded, axis=axis)
        image = tf.nn.conv2d(image, tf.reshape(weights, kernel_shape), 1, "VALID")
    return image


def postprocess_steps(image, decom_r, decom_i, restored_r, adjusted_i):
    """The original `evaluate.py` post-processing, as a dict of its variables by their names.

    The restoration net finds detail in very dark regions but paints them grey; the original
    damps them with a mask from the DECOMPOSED (not the restored) reflectance,
    `low_i = min(sqrt(2 * gaussian(rgb2gray(R_decom), 3)), 1)`, then blends with the input,
    weighted by the decomposed illumination, "to avoid over-exposure":
    `final = L_decom * input + (1 - L_decom) * (R_restored * low_i * L_adjusted)`.
    """
    r_gray = tf.reduce_sum(decom_r * tf.constant(RGB2GRAY, tf.float32), axis=-1, keepdims=True)
    r_gray_gaussion = gaussian_blur(r_gray)
    low_i = tf.minimum(tf.sqrt(r_gray_gaussion * 2.0), 1.0)
    result_denoise = restored_r * low_i
    fusion4 = result_denoise * adjusted_i
    final = decom_i * image + (1.0 - decom_i) * fusion4
    return {
        "r_gray": r_gray,
        "r_gray_gaussion": r_gray_gaussion,
        "low_i": low_i,
        "result_denoise": result_denoise,
        "fusion4": fusion4,
        "final": final,
    }


def run_nets(image, decom, restoration, adjust, ratio):
    """(R_decom, L_decom, R_restored, L_adjusted) of a normalized (B,H,W,3) image, float32
    (at either precision: the nets' output heads are float32, see `layers.output_conv`).

    The adjustment net gets a constant ratio map, as in the original.
    """
    decom_r, decom_i = decom(image)
    restored_r = restoration([decom_r, decom_i])
    adjusted_i = adjust([decom_i, tf.fill(tf.shape(decom_i), ratio)])
    return decom_r, decom_i, restored_r, adjusted_i


def combine(image, decom_r, decom_i, restored_r, adjusted_i, denoise=True):
    """The enhanced image from the nets' outputs: post-processed, or (LOL protocol) R * L."""
    if denoise:
        return postprocess_steps(image, decom_r, decom_i, restored_r, adjusted_i)["final"]
    # evaluate_LOLdataset.py saves restoration_r * adjust_i, without post-processing.
    return restored_r * adjusted_i


def enhance_ops(image, decom, restoration, adjust, ratio, denoise=True):
    """The enhancer as plain TF ops, for use inside a `tf.function` (see `enhance`)."""
    return combine(image, *run_nets(image, decom, restoration, adjust, ratio), denoise)


_enhance = tf.function(enhance_ops, reduce_retracing=True)


def enhance(image, decom, restoration, adjust, ratio, denoise=True,
            target_brightness=AUTO_TARGET_BRIGHTNESS):
    """Enhances a normalized float image batch (B,H,W,3) to light level `ratio` (0-5 typical).

    Returns the final float32 image (B,H,W,3) as a tensor. With `denoise` (the authors'
    `evaluate.py`) it gets the original post-processing; without, it is
    `R_restored * L_adjusted` (their `evaluate_LOLdataset.py`). `ratio` "auto" picks it from
    the photo (`auto_ratio` at `target_brightness`; a batch of one). One compiled call, traced
    once per net triple and `denoise`, shape-generic after the second image size.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    ratio = resolve_ratio(ratio, image, decom, target_brightness)
    return _enhance(image, decom, restoration, adjust, tf.constant(ratio, tf.float32), denoise)


@tf.function(reduce_retracing=True)
def _gt_ratio(low, high, decom):
    _, low_i = decom(low)
    _, high_i = decom(high)
    return tf.reduce_mean(high_i / (low_i + GT_RATIO_EPSILON))


def gt_ratio(low, high, decom):
    """The LOL protocol's ratio `mean(L_high / (L_low + 1e-4))` of one normalized pair."""
    low, high = (tf.convert_to_tensor(x, tf.float32) for x in (low, high))
    return float(_gt_ratio(low, high, decom))


@tf.function(reduce_retracing=True)
def _mean_illumination(image, decom):
    return tf.reduce_mean(decom(image)[1])


def mean_illumination(image, decom):
    """The mean decomposed illumination of a normalized (1,H,W,3) image, taken over the photo
    scaled down (area) to fit `AUTO_RATIO_SIZE` px: what --ratio auto measures."""
    image = tf.convert_to_tensor(image, tf.float32)
    height, width = image.shape[1:3]
    scale = AUTO_RATIO_SIZE / max(height, width)
    if scale < 1:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = tf.image.resize(image, size, method="area")
    return float(_mean_illumination(image, decom))


def auto_ratio(image, decom, target):
    """--ratio auto: `target / mean(L)` of a normalized (1,H,W,3) image, L its decomposed
    illumination (`mean_illumination`), so that the adjusted illumination's mean comes out
    near `target`. Needs no ground truth. The mean is floored at `AUTO_MIN_ILLUMINATION`.
    """
    return target / max(mean_illumination(image, decom), AUTO_MIN_ILLUMINATION)


def resolve_ratio(ratio, image, decom, target_brightness=AUTO_TARGET_BRIGHTNESS):
    """`ratio` as a number: "auto" becomes `auto_ratio` of `image` (a batch of one)."""
    if isinstance(ratio, str):
        if ratio != "auto":
            raise ValueError(f"ratio must be a number or 'auto', got {ratio!r}")
        if image.shape[0] != 1:
            raise ValueError(f"ratio 'auto' takes one image at a time, got a batch of "
                             f"{image.shape[0]}")
        return auto_ratio(image, decom, target_brightness)
    return ratio


_run_nets = tf.function(run_nets, reduce_retracing=True)
_combine = tf.function(combine, reduce_retracing=True)


def tile_windows(size, tile, margin=TILE_MARGIN):
    """[(start, end, core_start, core_end)] of the tiles along one image axis of `size` px.

    Cores of `tile` pixels cover the axis; each window adds `margin` pixels of context on both
    sides where the image has them.
    """
    return [
        (max(start - margin, 0), min(start + tile + margin, size), start, min(start + tile, size))
        for start in range(0, size, tile)
    ]


def check_tiling(tile, margin):
    """Raises `ValueError` unless `tile` is a positive and `margin` a non-negative multiple of
    `TILE_ALIGN`."""
    if tile <= 0 or margin < 0 or tile % TILE_ALIGN or margin % TILE_ALIGN:
        raise ValueError(f"tile ({tile}) must be a positive and margin ({margin}) a non-negative "
                         f"multiple of {TILE_ALIGN}")


def run_tiled(nets, image, channels, tile=1024, margin=TILE_MARGIN):
    """`nets(window)` over a numpy (B,H,W,3) image tile by tile: numpy outputs of `channels`.

    The image is cut into `tile` x `tile` cores, each run with `margin` pixels of context
    (`tile_windows`); the cores of `nets`' outputs, (B,h,w,c) tensors with the c of
    `channels`, are assembled into whole-image arrays. Convolutional nets whose receptive
    field fits in `margin` give their untiled outputs up to float rounding.
    """
    check_tiling(tile, margin)
    batch, height, width, _ = image.shape
    outputs = [np.empty((batch, height, width, count), np.float32) for count in channels]
    for top, bottom, core_top, core_bottom in tile_windows(height, tile, margin):
        for left, right, core_left, core_right in tile_windows(width, tile, margin):
            window = tf.constant(image[:, top:bottom, left:right])
            core = (slice(None), slice(core_top - top, core_bottom - top),
                    slice(core_left - left, core_right - left))
            for full, part in zip(outputs, nets(window)):
                full[:, core_top:core_bottom, core_left:core_right] = part.numpy()[core]
    return outputs


def enhance_tiled(image, decom, restoration, adjust, ratio, denoise=True, tile=1024,
                  margin=TILE_MARGIN, target_brightness=AUTO_TARGET_BRIGHTNESS):
    """`enhance` with the nets run tile by tile (`run_tiled`), which bounds peak memory on
    large photos.

    The image (normalized over the whole photo) runs through the nets in `tile` x `tile`
    cores with `margin` pixels of context; the post-processing, whose blur needs neighbours,
    runs on the whole image. An image that fits in one tile takes the one-call `enhance`.
    `tile` and `margin` are multiples of 16. `ratio` "auto" is resolved once for the whole
    photo (`auto_ratio`).
    """
    check_tiling(tile, margin)
    image = np.asarray(image, np.float32)
    ratio = resolve_ratio(ratio, image, decom, target_brightness)
    if max(image.shape[1:3]) <= tile:
        return enhance(image, decom, restoration, adjust, ratio, denoise)
    ratio = tf.constant(ratio, tf.float32)
    outputs = run_tiled(lambda window: _run_nets(window, decom, restoration, adjust, ratio),
                        image, (3, 1, 3, 1), tile, margin)
    return _combine(tf.constant(image), *(tf.constant(x) for x in outputs), denoise)
