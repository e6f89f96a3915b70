"""NIQE, the no-reference quality score low-light papers report, as its MATLAB release computes it.

Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE SPL
2013; the release is niqe_release.zip (LIVE, UT Austin: `computequality.m`,
`computefeature.m`, `estimateaggdparam.m`, `modelparameters.mat`). Step by step as
`computequality.m`: the image is converted to one 8-bit channel, cropped to whole 96x96 blocks;
at two scales (the second after MATLAB's `imresize(im, 0.5)`: bicubic with antialiasing) its
MSCN coefficients `(im - mu) / (sigma + 1)` (7x7 Gaussian, sigma 7/6, edges replicated) give
18 AGGD features per block; the 36-feature blocks are fitted with a Gaussian (`nanmean`,
`nancov`) and compared with the pristine model: `sqrt(d' pinv((C_pristine + C) / 2) d)`. Lower
is better; natural photos score about 3-6.

The release converts RGB with `rgb2gray` (and so do the KinD authors: their KinD++ repository
ships the release and calls it on RGB photos); BasicSR's `calculate_niqe` uses the Y of
MATLAB's `rgb2ycbcr` instead (`channel="y"`). Both round to 8 bits, as MATLAB's uint8
conversions do. The pristine model is `data/niqe_pris_params.npz` (see `data/README.md`).
"""

import math
import os

import numpy as np
from scipy import ndimage, special

PRISTINE_PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                               "niqe_pris_params.npz")
# computequality.m, as the release's readme recommends (the pristine model's patch size).
BLOCK_SIZE = 96
# fspecial('gaussian', 7, 7/6).
WINDOW_SIZE = 7
WINDOW_SIGMA = 7 / 6
# MATLAB rgb2gray: the first row of inv of the NTSC (YIQ) matrix.
RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)
# MATLAB rgb2ycbcr on uint8 (ITU-R BT.601, 16-235):
# Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
YCBCR_Y = (65.481 / 255, 128.553 / 255, 24.966 / 255)
YCBCR_Y_OFFSET = 16.0
CHANNELS = ("gray", "y")
# estimateaggdparam.m: the shape parameters searched, 0.2:0.001:10.
AGGD_SHAPES = np.arange(200, 10001) / 1000
_AGGD_RATIOS = (special.gamma(2 / AGGD_SHAPES) ** 2
                / (special.gamma(1 / AGGD_SHAPES) * special.gamma(3 / AGGD_SHAPES)))
# computefeature.m: circshift offsets of the pairwise products (horizontal, vertical, two
# diagonals).
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _matlab_round(values):
    """MATLAB's conversion to uint8: round half away from zero, saturate."""
    return np.clip(np.floor(values + 0.5), 0, 255)


def luminance(pixels, channel="gray"):
    """One float64 channel of 8-bit `pixels` (H, W, 3) or (H, W), as MATLAB's uint8 result.

    "gray": `rgb2gray` (the NIQE release); "y": the Y of `rgb2ycbcr` (BasicSR). A one-channel
    image is taken as it is.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"NIQE takes uint8 images, got {pixels.dtype}")
    if pixels.ndim == 2:
        return pixels.astype(np.float64)
    rgb = pixels.astype(np.float64)
    if channel == "gray":
        return _matlab_round(rgb @ RGB2GRAY)
    return _matlab_round(rgb @ YCBCR_Y + YCBCR_Y_OFFSET)


def gaussian_window(size=WINDOW_SIZE, sigma=WINDOW_SIGMA):
    """MATLAB's `fspecial('gaussian', size, sigma)`, normalized to sum 1."""
    offsets = np.arange(size) - (size - 1) / 2
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    window[window < np.finfo(float).eps * window.max()] = 0
    return window / window.sum()


def _cubic(x):
    """MATLAB imresize's bicubic kernel (Keys, a = -0.5)."""
    x = np.abs(x)
    return ((1.5 * x**3 - 2.5 * x**2 + 1) * (x <= 1)
            + (-0.5 * x**3 + 2.5 * x**2 - 4 * x + 2) * ((x > 1) & (x <= 2)))


def _resize_contributions(in_length, scale):
    """(indices, weights), each (out_length, taps): imresize.m's `contributions` for the bicubic
    kernel with antialiasing, mirrored at the borders (0-based indices)."""
    out_length = math.ceil(in_length * scale)
    kernel_width = 4.0
    if scale < 1:  # antialiasing: the kernel stretched by 1 / scale
        kernel = lambda x: scale * _cubic(scale * x)  # noqa: E731
        kernel_width /= scale
    else:
        kernel = _cubic
    centers = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centers - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(centers[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    mirrored = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    indices = mirrored[(indices.astype(int) - 1) % (2 * in_length)]
    used = np.any(weights != 0, axis=0)
    return indices[:, used], weights[:, used]


def imresize(image, scale):
    """MATLAB's `imresize(image, scale)` of a 2-D float64 image: bicubic, antialiasing when
    shrinking, output `ceil(size * scale)`, rows first, then columns (no rounding)."""
    image = np.asarray(image, np.float64)
    for axis in (0, 1):
        indices, weights = _resize_contributions(image.shape[axis], scale)
        taken = np.take(image, indices, axis=axis)  # (out, taps, W) or (H, out, taps)
        image = np.einsum("otw,ot->ow" if axis == 0 else "hot,ot->ho", taken, weights)
    return image


def aggd_params(values):
    """(alpha, beta_left, beta_right) of an asymmetric generalized Gaussian, by
    `estimateaggdparam.m`'s moment matching over the shapes 0.2:0.001:10.

    A side without values gives NaN betas (MATLAB's mean of nothing); alpha is then the first
    shape, as MATLAB's `min` over NaNs returns the first position.
    """
    values = np.ravel(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = math.sqrt(np.mean(values[values < 0] ** 2)) if np.any(values < 0) else math.nan
        right_std = math.sqrt(np.mean(values[values > 0] ** 2)) if np.any(values > 0) else math.nan
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    distances = (_AGGD_RATIOS - r_hat_norm) ** 2
    alpha = AGGD_SHAPES[0] if np.isnan(r_hat_norm) else AGGD_SHAPES[np.argmin(distances)]
    spread = math.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    return alpha, left_std * spread, right_std * spread


def block_features(block):
    """The 18 features of `computefeature.m` for one block of MSCN coefficients: the AGGD shape
    and mean spread of the coefficients, then shape, mean, left and right spread of their
    products with each of the four `SHIFTS` (circular shifts within the block)."""
    alpha, beta_left, beta_right = aggd_params(block)
    features = [alpha, (beta_left + beta_right) / 2]
    for shift in SHIFTS:
        alpha, beta_left, beta_right = aggd_params(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_right - beta_left) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
        features += [alpha, mean, beta_left, beta_right]
    return features


def load_pristine_model(path=PRISTINE_PARAMS):
    """(mean (36,), covariance (36, 36)) of the pristine model."""
    with np.load(path) as params:
        return params["mu_pris_param"].ravel(), params["cov_pris_param"]


_PRISTINE = {}


def local_mean(image, separable=False):
    """`imfilter(image, window, 'replicate')` with `gaussian_window()`: in two dimensions, or
    with `separable` as two 1-D passes (as MATLAB's imfilter applies a separable kernel of
    this size): the same filter, rounded differently."""
    window = gaussian_window()
    if not separable:
        return ndimage.correlate(image, window, mode="nearest")
    profile = window.sum(axis=0)  # the window is the outer product of this profile
    rows = ndimage.correlate1d(image, profile, axis=0, mode="nearest")
    return ndimage.correlate1d(rows, profile, axis=1, mode="nearest")


def niqe(pixels, channel="gray", crop_border=0, block_size=BLOCK_SIZE, model=None,
         separable=False):
    """The NIQE score of 8-bit `pixels` (H, W, 3) or (H, W) uint8; lower is better.

    `channel` "gray" (MATLAB release) or "y" (BasicSR), see `luminance`; `crop_border` px are
    left out on every side first (BasicSR's `crop_border`, for super-resolution outputs); then
    the image is cropped to whole `block_size` blocks at its bottom and right. `model` is
    (mean, covariance), by default the release's pristine model. `separable` filters as
    `local_mean` says: on photos with flat regions the score depends on that rounding
    (docs/no_reference.md), which this option measures. NaN when fewer than two blocks have
    features (all-flat blocks have none). Raises `ValueError` for an image smaller than one
    block.
    """
    image = luminance(pixels, channel)
    if crop_border:
        image = image[crop_border:-crop_border, crop_border:-crop_border]
    rows, cols = image.shape[0] // block_size, image.shape[1] // block_size
    if not rows or not cols:
        raise ValueError(f"NIQE needs at least {block_size}x{block_size} px, got "
                         f"{image.shape[1]}x{image.shape[0]}")
    if model is None:
        model = _PRISTINE.setdefault(PRISTINE_PARAMS, load_pristine_model())
    pristine_mean, pristine_cov = model
    image = image[:rows * block_size, :cols * block_size]
    features = []
    for scale in (1, 2):
        mu = local_mean(image, separable)
        sigma = np.sqrt(np.abs(local_mean(image * image, separable) - mu * mu))
        mscn = (image - mu) / (sigma + 1)
        size = block_size // scale
        blocks = mscn.reshape(rows, size, cols, size).swapaxes(1, 2).reshape(-1, size, size)
        features.append(np.array([block_features(block) for block in blocks]))
        if scale == 1:
            image = imresize(image, 0.5)
    features = np.concatenate(features, axis=1)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        return math.nan
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(features, axis=0)
    difference = pristine_mean - mean
    covariance = (pristine_cov + np.cov(complete, rowvar=False)) / 2
    return float(math.sqrt(difference @ np.linalg.pinv(covariance) @ difference))
