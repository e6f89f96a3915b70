"""What `kind.KinD` builds on: the original post-processing in TF ops, and tiling windows.

The post-processing is the one the authors' `evaluate.py` runs in numpy/scikit-image, here in
TF ops so that the whole enhancer is one compiled call (and one exported graph), on the GPU
when there is one. Tiling runs convolutional nets over large photos a window at a time,
which bounds peak memory.
"""

import numpy as np
import tensorflow as tf


# skimage.color.rgb2gray (ITU-R 709 luma), which the original uses for the denoise mask.
RGB2GRAY = (0.2125, 0.7154, 0.0721)
# skimage.filters.gaussian(r_gray, 3): sigma 3, truncate 4.0, so radius int(4 * 3 + 0.5) = 12.
MASK_SIGMA = 3.0
MASK_TRUNCATE = 4.0
# Tiles start at multiples of 16, so that the restoration U-Net's four 2x2 poolings see the
# same pixel grid as on the whole image. An output pixel of decom -> restoration depends on
# input pixels up to 117 px away (measured from the gradient support), so a tile run with 128
# px of context on every side gives its core exactly as the whole image does (up to float
# rounding, ~3e-7); 32 px already keeps the error under 1e-3 (measured on eval15 and 1.bmp).
TILE_ALIGN = 16
TILE_MARGIN = 128


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


def postprocess(image, decom_r, decom_i, restored_r, adjusted_i):
    """The original `evaluate.py` post-processing of the nets' outputs: the final image.

    The restoration net finds detail in very dark regions but paints them grey; the original
    damps them with a mask from the DECOMPOSED (not the restored) reflectance,
    `low_i = min(sqrt(2 * gaussian(rgb2gray(R_decom), 3)), 1)`, then blends with the input,
    weighted by the decomposed illumination, "to avoid over-exposure":
    `final = L_decom * input + (1 - L_decom) * (R_restored * low_i * L_adjusted)`.
    The variables are named as the original's.
    """
    r_gray = tf.reduce_sum(decom_r * tf.constant(RGB2GRAY, tf.float32), axis=-1, keepdims=True)
    r_gray_gaussion = gaussian_blur(r_gray)
    low_i = tf.minimum(tf.sqrt(r_gray_gaussion * 2.0), 1.0)
    result_denoise = restored_r * low_i
    fusion4 = result_denoise * adjusted_i
    return decom_i * image + (1.0 - decom_i) * fusion4


def combine(image, decom_r, decom_i, restored_r, adjusted_i, denoise=True):
    """The enhanced image from the nets' outputs: post-processed, or (LOL protocol) R * L."""
    if denoise:
        return postprocess(image, decom_r, decom_i, restored_r, adjusted_i)
    # evaluate_LOLdataset.py saves restoration_r * adjust_i, without post-processing.
    return restored_r * adjusted_i


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
