"""Tests for kind_tf.metrics: PSNR/SSIM against scikit-image's independent implementations,
LOE against answers known by construction."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from conftest import skimage_ssim
from kind_tf import image_io, metrics


@pytest.fixture(scope="module")
def lol_pair(lol_dir):
    return (image_io.read_rgb(f"{lol_dir}/eval15/low/22.png"),
            image_io.read_rgb(f"{lol_dir}/eval15/high/22.png"))


def _noisy_pair(seed, shape=(37, 52, 3)):
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.integers(-40, 41, shape)
    return np.clip(reference + noise, 0, 255).astype(np.uint8), reference


@pytest.mark.parametrize("seed", [0, 1])
def test_equal_skimage_on_random_images(seed):
    image, reference = _noisy_pair(seed)
    assert metrics.psnr(image, reference) == pytest.approx(
        peak_signal_noise_ratio(reference, image, data_range=255), abs=1e-9)
    assert metrics.ssim(image, reference) == pytest.approx(skimage_ssim(image, reference), abs=1e-9)


def test_equal_skimage_on_a_lol_pair(lol_pair):
    low, high = lol_pair
    values = metrics.image_metrics(low, high)
    expected_psnr = peak_signal_noise_ratio(high, low, data_range=255)
    assert values["psnr"] == pytest.approx(expected_psnr, abs=1e-9)
    assert values["ssim"] == pytest.approx(skimage_ssim(low, high), abs=1e-9)
    gray_low, gray_high = (np.asarray(Image.fromarray(x).convert("L")) for x in (low, high))
    assert values["ssim_gray"] == pytest.approx(
        skimage_ssim(gray_low, gray_high, channel_axis=None), abs=1e-9)


def test_ssim_is_tf_image_ssim_on_uint8(lol_pair):
    low, high = lol_pair
    # tf.image.ssim computes in float32, hence the tolerance.
    expected = float(tf.image.ssim(tf.constant(low), tf.constant(high), max_val=255))
    assert metrics.ssim(low, high) == pytest.approx(expected, abs=1e-4)


def test_gray_is_rounded_itu601_luma():
    pixels = np.random.default_rng(2).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    luma = pixels.astype(np.float64) @ [0.299, 0.587, 0.114]
    gray = metrics.to_gray(pixels)
    assert gray.shape == (4, 5, 1) and gray.dtype == np.uint8
    assert np.abs(gray[..., 0] - luma).max() <= 0.5 + 1e-6


def test_identical_images():
    image, _ = _noisy_pair(3)
    assert metrics.psnr(image, image) == float("inf")
    assert metrics.ssim(image, image) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("image,reference,message", [
    (np.zeros((20, 20, 3), np.float32), np.zeros((20, 20, 3), np.uint8), "uint8"),
    (np.zeros((20, 20, 3), np.uint8), np.zeros((20, 21, 3), np.uint8), "differs"),
    (np.zeros((10, 20, 3), np.uint8), np.zeros((10, 20, 3), np.uint8), "at least 11x11"),
])
def test_bad_inputs_are_refused(image, reference, message):
    with pytest.raises(ValueError, match=message):
        metrics.image_metrics(image, reference)


def test_loe_of_a_swapped_pair_is_known():
    # Lightness 10 20 / 30 40 against 10 30 / 20 40: only the two middle pixels swap order,
    # which counts once from each side: 2 errors over 4 pixels.
    low = np.array([[10, 20], [30, 40]], np.uint8)[..., None].repeat(3, axis=-1)
    enhanced = np.array([[10, 30], [20, 40]], np.uint8)[..., None].repeat(3, axis=-1)
    assert metrics.lightness_order_error(low, enhanced, size=2) == 0.5


def test_loe_is_zero_for_order_preserving_changes():
    low = np.random.default_rng(4).integers(0, 200, (64, 80, 3), dtype=np.uint8)
    brighter = low + 55  # every level up, order kept (a many-to-one curve would create ties)
    assert metrics.lightness_order_error(low, low) == 0
    assert metrics.lightness_order_error(low, brighter) == 0


def test_loe_of_an_inverted_image_counts_every_unequal_pair():
    # A gray image's lightness is its level; inverted, every pair of unequal levels flips.
    levels = np.random.default_rng(5).integers(0, 256, (150, 230, 1), dtype=np.uint8)
    gray = levels.repeat(3, axis=-1)
    rows = metrics._sample_positions(150, 100)
    cols = metrics._sample_positions(230, 100)
    counts = np.bincount(gray[np.ix_(rows, cols)][..., 0].ravel())
    pixels = 100 * 100
    expected = (pixels**2 - np.sum(counts.astype(np.int64) ** 2)) / pixels
    assert metrics.lightness_order_error(gray, 255 - gray) == expected


def test_loe_samples_matlab_round_linspace():
    # round(linspace(1, 250, 100)) in MATLAB: 1 4 6 9 ... 250 (1-based).
    positions = metrics._sample_positions(250, 100)
    assert list(positions[:4]) == [0, 3, 5, 8] and positions[-1] == 249


def test_loe_refuses_different_sizes():
    with pytest.raises(ValueError, match="differs"):
        metrics.lightness_order_error(np.zeros((4, 4, 3), np.uint8),
                                      np.zeros((4, 5, 3), np.uint8))


def test_compute_selects_metrics(lol_pair):
    low, high = lol_pair
    values = metrics.compute(("psnr", "loe", "niqe"), high, reference=low, low=low)
    assert list(values) == ["psnr", "loe", "niqe"]
    assert values["psnr"] == metrics.psnr(high, low)
    assert values["loe"] == metrics.lightness_order_error(low, high)
    assert 2 < values["niqe"] < 10
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.compute(("brisque",), high)
