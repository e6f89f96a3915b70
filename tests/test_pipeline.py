"""Tests for kind_tf.pipeline: the original post-processing in TF ops, and tiling windows."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import filters

from kind_tf import pipeline


def test_postprocessing_reproduces_the_original_golden(golden):
    expected = golden("pipeline_test1crop")
    blurred = pipeline.gaussian_blur(tf.constant(expected["r_gray"][None, :, :, None]))
    np.testing.assert_allclose(np.squeeze(blurred), np.squeeze(expected["r_gray_gaussion"]),
                               atol=1e-5)
    final = pipeline.postprocess(expected["input"], expected["decom_r"], expected["decom_i"],
                                 expected["restoration_r"], expected["adjust_i"])
    np.testing.assert_allclose(final, expected["final"], atol=1e-5)


@pytest.mark.parametrize("height,width", [(5, 7), (13, 40), (61, 33)])
def test_gaussian_blur_equals_skimage_with_nearest_edges(height, width):
    gray = np.random.default_rng(height).random((height, width), np.float32)
    blurred = pipeline.gaussian_blur(tf.constant(gray[None, :, :, None]))
    np.testing.assert_allclose(blurred[0, :, :, 0], filters.gaussian(gray, 3), atol=1e-6)


def random_outputs(batch, seed=0):
    """An image and stand-in net outputs (R, L, R_restored, L_adjusted) of 24x36 px."""
    rng = np.random.default_rng(seed)
    return [rng.random((batch, 24, 36, channels), np.float32) for channels in (3, 3, 1, 3, 1)]


def test_combine_without_denoise_is_restored_r_times_adjusted_l():
    image, decom_r, decom_i, restored_r, adjusted_i = random_outputs(1)
    np.testing.assert_array_equal(
        pipeline.combine(image, decom_r, decom_i, restored_r, adjusted_i, denoise=False),
        restored_r * adjusted_i)
    np.testing.assert_array_equal(
        pipeline.combine(image, decom_r, decom_i, restored_r, adjusted_i),
        pipeline.postprocess(image, decom_r, decom_i, restored_r, adjusted_i))


def test_postprocessing_treats_batch_items_independently():
    outputs = random_outputs(2)
    batch = pipeline.postprocess(*outputs)
    for index in range(2):
        single = pipeline.postprocess(*(x[index : index + 1] for x in outputs))
        np.testing.assert_allclose(batch[index], single[0], atol=1e-6)


def test_tile_windows_cover_the_axis_on_the_pooling_grid():
    windows = pipeline.tile_windows(200, tile=64, margin=32)
    assert [core[2:] for core in windows] == [(0, 64), (64, 128), (128, 192), (192, 200)]
    assert windows[1][:2] == (32, 160) and windows[-1][:2] == (160, 200)
    assert all(start % pipeline.TILE_ALIGN == 0 for start, *_ in windows)


def test_run_tiled_assembles_the_cores():
    image = np.random.default_rng(1).random((1, 70, 100, 3), np.float32)
    # A 3x3 box blur (receptive field 1 px) and the image itself, tile by tile.
    def nets(window):
        return tf.nn.avg_pool2d(window, 3, 1, "SAME"), window[..., :1]

    blurred, red = pipeline.run_tiled(nets, image, (3, 1), tile=32, margin=16)
    np.testing.assert_allclose(blurred, nets(tf.constant(image))[0], atol=1e-6)
    np.testing.assert_array_equal(red, image[..., :1])


@pytest.mark.parametrize("tile,margin", [(0, 32), (50, 32), (64, -16), (64, 20)])
def test_tile_and_margin_must_be_multiples_of_16(tile, margin):
    with pytest.raises(ValueError, match="multiple of 16"):
        pipeline.check_tiling(tile, margin)
    pipeline.check_tiling(64, 0)
