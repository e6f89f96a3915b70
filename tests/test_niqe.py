"""Tests for kind_tf.niqe: against MATLAB's published NIQE values and independent references."""

import os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from kind_tf import niqe

# MATLAB NIQE values published for specific photos (docs/no_reference.md, "NIQE"):
# pyiqa's ResultsCalibra/results_official.csv, row "niqe": the release's computequality.m on
# rgb2gray of each photo; BasicSR's basicsr/metrics/niqe.py: MATLAB R2021a on the rgb2ycbcr Y
# of baboon.png.
MATLAB_GRAY = {"I03.bmp": 15.7536293917814, "I04.bmp": 3.65492152353770,
               "I06.bmp": 3.23547743716998, "I08.bmp": 3.18403333858339,
               "I19.bmp": 8.63519663862637}
MATLAB_Y = {"baboon.png": 5.72957338}


def read(directory, name):
    return np.asarray(Image.open(os.path.join(directory, name)).convert("RGB"))


def flat_fraction(luma):
    """The share of pixels whose 7x7 neighbourhood (NIQE's window) is one constant level."""
    return np.mean(ndimage.maximum_filter(luma, 7, mode="nearest")
                   == ndimage.minimum_filter(luma, 7, mode="nearest"))


def test_window_and_model_are_the_release_ones():
    with np.load(niqe.PRISTINE_PARAMS) as params:
        np.testing.assert_allclose(niqe.gaussian_window(), params["gaussian_window"],
                                   rtol=0, atol=1e-15)
    mean, covariance = niqe.load_pristine_model()
    assert mean.shape == (36,) and covariance.shape == (36, 36)
    np.testing.assert_allclose(covariance, covariance.T)


def test_luminance_is_matlab_rgb2gray_and_rgb2ycbcr():
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]],
                         np.uint8)
    # MATLAB: rgb2gray -> 76 150 29 255 0; the Y of rgb2ycbcr -> 81 145 41 235 16.
    np.testing.assert_array_equal(niqe.luminance(primaries, "gray"), [[76, 150, 29, 255, 0]])
    np.testing.assert_array_equal(niqe.luminance(primaries, "y"), [[81, 145, 41, 235, 16]])
    np.testing.assert_array_equal(niqe.luminance(primaries[..., 0], "y"), primaries[..., 0])
    with pytest.raises(ValueError, match="uint8"):
        niqe.luminance(primaries.astype(np.float32))


def test_imresize_is_antialiased_bicubic_with_mirrored_borders():
    image = np.random.default_rng(0).random((96, 144)) * 255
    ours = niqe.imresize(image, 0.5)
    assert ours.shape == (48, 72)
    # Pillow's BICUBIC (Keys a = -0.5, kernel stretched by the scale when shrinking) is an
    # independent implementation of the same filter; it renormalizes at the borders where
    # MATLAB mirrors, so it resizes the image mirrored by 8 px (4 output px) and is cropped.
    padded = np.pad(image, 8, mode="symmetric").astype(np.float32)
    pil = np.asarray(Image.fromarray(padded, "F").resize((80, 56), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(ours, pil[4:-4, 4:-4], rtol=0, atol=1e-3)  # Pillow: float32
    assert niqe.imresize(image, 0.5).dtype == np.float64
    np.testing.assert_allclose(niqe.imresize(np.full((9, 7), 3.0), 0.5), 3.0)


@pytest.mark.parametrize("shape,left,right", [(2.0, 1.0, 1.0), (0.8, 0.5, 1.5)])
def test_aggd_fit_recovers_known_distributions(shape, left, right):
    # Asymmetric generalized Gaussian samples by construction: a symmetric one of `shape`, its
    # negative side scaled by `left`, its positive side by `right`, with side probabilities
    # left / (left + right) and right / (left + right).
    rng = np.random.default_rng(1)
    magnitude = np.abs(stats.gennorm.rvs(shape, size=200_000, random_state=rng))
    negative = rng.random(magnitude.size) < left / (left + right)
    samples = np.where(negative, -left * magnitude, right * magnitude)
    alpha, beta_left, beta_right = niqe.aggd_params(samples)
    assert alpha == pytest.approx(shape, rel=0.03)
    assert (beta_left, beta_right) == pytest.approx((left, right), rel=0.03)


def test_all_black_photo_has_no_features():
    assert np.isnan(niqe.niqe(np.zeros((192, 192, 3), np.uint8)))


def test_cropping_to_whole_blocks_and_the_border():
    pixels = np.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    score = niqe.niqe(pixels)
    assert score == niqe.niqe(pixels[:192, :288])  # whole 96 px blocks only
    assert niqe.niqe(pixels, crop_border=4) == niqe.niqe(pixels[4:-4, 4:-4])
    assert niqe.niqe(pixels, channel="y") != score
    with pytest.raises(ValueError, match="at least 96x96"):
        niqe.niqe(pixels[:95])


def test_natural_photo_scores_better_than_its_noisy_copy(lol_dir):
    pixels = read(f"{lol_dir}/eval15/high", "22.png")
    noise = np.random.default_rng(3).normal(0, 25, pixels.shape)
    noisy = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    assert 3 < niqe.niqe(pixels) < 4 and niqe.niqe(noisy) > 10  # 3.53 and 12.07


def test_equals_matlab_where_no_region_is_flat(niqe_reference_dir):
    pixels = read(niqe_reference_dir, "I04.bmp")
    assert flat_fraction(niqe.luminance(pixels)) == 0
    np.testing.assert_allclose(niqe.niqe(pixels), MATLAB_GRAY["I04.bmp"], rtol=0, atol=1e-6)


# Measured differences to MATLAB: baboon 3.9e-4, I06 2.4e-4, I03 1.1e-2, I08 1.8e-2,
# I19 0.49 (30% of it flat). Where a 7x7 neighbourhood is one level, (im - mu) / (sigma + 1)
# is floating-point rounding noise of the filter, and the AGGD fits are scale-free, so that
# noise becomes features: any two implementations differ there (the next test).
@pytest.mark.parametrize("name,channel,expected,tolerance", [
    ("baboon.png", "y", MATLAB_Y["baboon.png"], 1e-3),
    ("I06.bmp", "gray", MATLAB_GRAY["I06.bmp"], 1e-3),
    ("I03.bmp", "gray", MATLAB_GRAY["I03.bmp"], 0.02),
    ("I08.bmp", "gray", MATLAB_GRAY["I08.bmp"], 0.02),
])
def test_near_matlab_on_photos_with_flat_regions(niqe_reference_dir, name, channel, expected,
                                                 tolerance):
    pixels = read(niqe_reference_dir, name)
    assert 0 < flat_fraction(niqe.luminance(pixels, channel)) < 0.03
    np.testing.assert_allclose(niqe.niqe(pixels, channel), expected, rtol=0, atol=tolerance)


def test_separable_filter_is_the_same_filter():
    image = np.random.default_rng(4).random((40, 50)) * 255
    np.testing.assert_allclose(niqe.local_mean(image, separable=True), niqe.local_mean(image),
                               rtol=0, atol=1e-10)


def test_flat_regions_make_the_score_depend_on_rounding(niqe_reference_dir):
    """The same filter applied as two 1-D passes changes only the rounding: nothing where no
    region is flat, a lot where much is."""
    changes = {}
    for name in ("I04.bmp", "I19.bmp"):
        pixels = read(niqe_reference_dir, name)
        changes[name] = abs(niqe.niqe(pixels, separable=True) - niqe.niqe(pixels))
    assert changes["I04.bmp"] < 1e-9 and changes["I19.bmp"] > 0.1  # measured: 0.46
