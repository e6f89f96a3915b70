"""Tests for kind_tf.metrics against scikit-image's independent implementations."""

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
