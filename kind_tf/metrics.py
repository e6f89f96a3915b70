"""Image quality metrics of the evaluations, on 8-bit RGB images (H, W, 3) uint8.

Full-reference (`FULL_REFERENCE`, against a ground truth): PSNR on RGB with data range 255;
SSIM as Wang et al. (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, 'VALID' window
positions) per RGB channel and averaged, the definition of `tf.image.ssim` on uint8 with
max_val 255, here in float64 (tf.image.ssim computes in float32, which moves dark images' SSIM
by ~1e-5); and SSIM on the grayscale images (ITU-R 601 luma rounded to uint8, as PIL's
`convert('L')`), the variant many low-light papers report.

No-reference (`NO_REFERENCE`, the paper's other two): LOE, the lightness order error of an
enhanced image against its low-light input (`lightness_order_error`), and NIQE
(`kind_tf.niqe`).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from kind_tf import niqe

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0
FULL_REFERENCE = ("psnr", "ssim", "ssim_gray")
NO_REFERENCE = ("loe", "niqe")
NAMES = FULL_REFERENCE + NO_REFERENCE
# LOE on lightness maps sampled at LOE_SIZE x LOE_SIZE positions: LIME (Guo, Li & Ling, TIP
# 2017) computes it on 100 x 100 down-sampled images; the positions are those of BIMEF's
# `loe100x100.m` (github.com/baidut/BIMEF, quality/), rows and columns round(linspace(1, n, 100)).
LOE_SIZE = 100
# Rows of the LOE comparison matrix taken at a time (bounds its memory at 10 MB).
_LOE_CHUNK = 1000


def _check_pair(image, reference):
    image, reference = np.asarray(image), np.asarray(reference)
    if image.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError(f"metrics take uint8 images, got {image.dtype} and {reference.dtype}")
    if image.shape != reference.shape:
        raise ValueError(f"image shape {image.shape} differs from reference {reference.shape}")
    if min(image.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} px, got "
                         f"{image.shape[1]}x{image.shape[0]}")
    return image, reference


def psnr(image, reference):
    """Peak signal-to-noise ratio in dB over all pixels and channels, data range 255."""
    image, reference = _check_pair(image, reference)
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(DATA_RANGE**2 / mse))


def _gaussian_filter(image):
    """Separable 11x11 Gaussian window over (H, W, C), 'VALID' positions only."""
    offsets = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    weights /= weights.sum()
    for axis in (0, 1):
        image = sliding_window_view(image, SSIM_WINDOW, axis=axis) @ weights
    return image


def ssim(image, reference):
    """Gaussian-window SSIM per channel, averaged over the channels."""
    x, y = (array.astype(np.float64) for array in _check_pair(image, reference))
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mean_x, mean_y = _gaussian_filter(x), _gaussian_filter(y)
    var_x = _gaussian_filter(x * x) - mean_x**2
    var_y = _gaussian_filter(y * y) - mean_y**2
    covariance = _gaussian_filter(x * y) - mean_x * mean_y
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(ssim_map.mean())


def to_gray(image):
    """uint8 grayscale (H, W, 1) as PIL `convert('L')`: rounded ITU-R 601 luma."""
    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("L"))[..., None]


def ssim_gray(image, reference):
    """SSIM of the grayscale (`to_gray`) images."""
    image, reference = _check_pair(image, reference)
    return ssim(to_gray(image), to_gray(reference))


def image_metrics(image, reference):
    """{"psnr", "ssim", "ssim_gray"} of an 8-bit result against its 8-bit ground truth."""
    return {
        "psnr": psnr(image, reference),
        "ssim": ssim(image, reference),
        "ssim_gray": ssim_gray(image, reference),
    }


def _sample_positions(length, count):
    """MATLAB's `round(linspace(1, length, count))`, 0-based."""
    return (np.floor(np.linspace(1, length, count) + 0.5) - 1).astype(int)


def lightness_order_error(low, enhanced, size=LOE_SIZE):
    """LOE of `enhanced` against its low-light input `low` (both uint8 (H, W, 3)); lower is
    better, 0 when every pair of pixels keeps its lightness order.

    Wang et al. (NPE, TIP 2013): lightness L = max over R, G, B;
    `LOE = 1/m sum_x sum_y [L(x) >= L(y)] xor [Le(x) >= Le(y)]` over the m pixels of the
    images sampled at `size` x `size` positions (`LOE_SIZE`), so at most m - 1 = 9999.
    """
    low, enhanced = (np.asarray(a) for a in (low, enhanced))
    if low.dtype != np.uint8 or enhanced.dtype != np.uint8:
        raise ValueError(f"LOE takes uint8 images, got {low.dtype} and {enhanced.dtype}")
    if low.shape != enhanced.shape:
        raise ValueError(f"LOE: enhanced shape {enhanced.shape} differs from the input's "
                         f"{low.shape}")
    rows = _sample_positions(low.shape[0], size)
    cols = _sample_positions(low.shape[1], size)
    lightness = [np.max(a, axis=-1)[np.ix_(rows, cols)].ravel().astype(np.int16)
                 for a in (low, enhanced)]
    errors = 0
    for start in range(0, lightness[0].size, _LOE_CHUNK):
        order, order_enhanced = (l[start:start + _LOE_CHUNK, None] >= l[None, :]
                                 for l in lightness)
        errors += int(np.count_nonzero(order != order_enhanced))
    return errors / lightness[0].size


def compute(names, image, reference=None, low=None, niqe_channel="gray"):
    """{name: value} of the metrics `names` (of `NAMES`) of uint8 `image`: the full-reference
    ones against `reference`, LOE against the low-light input `low`, NIQE of `image` alone
    (`niqe.niqe` on `niqe_channel`)."""
    functions = {"psnr": psnr, "ssim": ssim, "ssim_gray": ssim_gray}
    values = {}
    for name in names:
        if name in functions:
            values[name] = functions[name](image, reference)
        elif name == "loe":
            values[name] = lightness_order_error(low, image)
        elif name == "niqe":
            values[name] = niqe.niqe(image, niqe_channel)
        else:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(NAMES)}")
    return values
