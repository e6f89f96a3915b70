"""Tests for kind_tf.pipeline: the original enhancement and post-processing, tiling, bf16."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import color, filters

from kind_tf import image_io, pipeline

NET_OUTPUTS = ("decom_r", "decom_i", "restoration_r", "adjust_i")


def original_postprocessing(image, decom_r, decom_i, restoration_r, adjust_i):
    """The numpy/scikit-image post-processing of the authors' evaluate.py, for one image."""
    r_gray = color.rgb2gray(np.squeeze(decom_r))
    low_i = np.minimum((filters.gaussian(r_gray, 3) * 2) ** 0.5, 1)[None, :, :, None]
    return decom_i * image + (1 - decom_i) * (restoration_r * low_i * adjust_i)


def eager_nets(image, nets, ratio):
    """The three nets called one by one, as the original's three sess.run calls."""
    decom, restoration, adjust = nets
    decom_r, decom_i = (x.numpy() for x in decom(image))
    restoration_r = restoration([decom_r, decom_i]).numpy()
    adjust_i = adjust([decom_i, np.full(decom_i.shape, ratio, np.float32)]).numpy()
    return decom_r, decom_i, restoration_r, adjust_i


@pytest.fixture(scope="module")
def photo_4(reference_dir):
    return image_io.load_image(f"{reference_dir}/test_images/4.bmp")[None]


def test_reproduces_the_original_pipeline_golden(golden, reference_nets):
    expected = golden("pipeline_test1crop")
    image, ratio = expected["input"], float(expected["ratio"])
    outputs = pipeline.run_nets(tf.constant(image), *reference_nets, ratio)
    for name, output in zip(NET_OUTPUTS, outputs):
        np.testing.assert_allclose(output, expected[name], atol=1e-5, err_msg=name)
    steps = pipeline.postprocess_steps(image, *outputs)
    for name in ("r_gray", "r_gray_gaussion", "low_i", "result_denoise", "fusion4", "final"):
        np.testing.assert_allclose(
            np.squeeze(steps[name]), np.squeeze(expected[name]), atol=1e-5, err_msg=name
        )
    final = pipeline.enhance(image, *reference_nets, ratio)
    np.testing.assert_allclose(final, expected["final"], atol=1e-5)


@pytest.mark.parametrize("height,width", [(5, 7), (13, 40), (61, 33)])
def test_gaussian_blur_equals_skimage_with_nearest_edges(height, width):
    gray = np.random.default_rng(height).random((height, width), np.float32)
    blurred = pipeline.gaussian_blur(tf.constant(gray[None, :, :, None]))
    np.testing.assert_allclose(blurred[0, :, :, 0], filters.gaussian(gray, 3), atol=1e-6)


@pytest.mark.parametrize("crop,ratio", [((slice(159, 254), slice(121, 244)), 5.0),
                                        ((slice(0, 37), slice(300, 370)), 1.7)])
def test_enhance_equals_the_original_on_other_crops(photo_4, reference_nets, crop, ratio):
    image = photo_4[(slice(None), *crop)]
    expected = original_postprocessing(image, *eager_nets(image, reference_nets, ratio))
    np.testing.assert_allclose(pipeline.enhance(image, *reference_nets, ratio), expected, atol=1e-5)


def test_without_denoise_is_restored_r_times_adjusted_l(photo_4, reference_nets):
    image = photo_4[:, :45, :67]
    _, _, restoration_r, adjust_i = eager_nets(image, reference_nets, 3.0)
    np.testing.assert_allclose(
        pipeline.enhance(image, *reference_nets, 3.0, denoise=False), restoration_r * adjust_i,
        atol=1e-5,
    )


def test_postprocessing_treats_batch_items_independently(reference_nets):
    images = np.random.default_rng(0).random((2, 32, 48, 3), np.float32)
    batch = pipeline.enhance(images, *reference_nets, 2.0)
    for index in range(2):
        np.testing.assert_allclose(
            batch[index], pipeline.enhance(images[index : index + 1], *reference_nets, 2.0)[0],
            atol=1e-5,
        )


def test_gt_ratio_is_the_lol_protocol_formula(lol_dir, reference_nets):
    low = image_io.load_image(f"{lol_dir}/eval15/low/1.png")[None, :96, :128]
    high = image_io.load_image(f"{lol_dir}/eval15/high/1.png")[None, :96, :128]
    decom = reference_nets[0]
    expected = np.mean(decom(high)[1].numpy() / (decom(low)[1].numpy() + 0.0001))
    assert pipeline.gt_ratio(low, high, decom) == pytest.approx(expected, rel=1e-5)


def test_tile_windows_cover_the_axis_on_the_pooling_grid():
    windows = pipeline.tile_windows(200, tile=64, margin=32)
    assert [core[2:] for core in windows] == [(0, 64), (64, 128), (128, 192), (192, 200)]
    assert windows[1][:2] == (32, 160) and windows[-1][:2] == (160, 200)
    assert all(start % pipeline.TILE_ALIGN == 0 for start, *_ in windows)


def test_tiled_equals_untiled(photo_4, reference_nets):
    image = photo_4[:, :100, :150]
    untiled = pipeline.enhance(image, *reference_nets, 5.0).numpy()
    # Small margin: within the 1e-3 the issue asks; full receptive-field margin: exact.
    loose = pipeline.enhance_tiled(image, *reference_nets, 5.0, tile=48, margin=32)
    np.testing.assert_allclose(loose, untiled, atol=1e-3)
    assert np.abs(loose - untiled).max() > 1e-6  # The tiles really were cut.
    exact = pipeline.enhance_tiled(image, *reference_nets, 5.0, tile=64)
    np.testing.assert_allclose(exact, untiled, atol=1e-5)


def test_image_within_one_tile_takes_the_untiled_call(photo_4, reference_nets):
    image = photo_4[:, :40, :50]
    np.testing.assert_array_equal(
        pipeline.enhance_tiled(image, *reference_nets, 5.0, denoise=False, tile=64),
        pipeline.enhance(image, *reference_nets, 5.0, denoise=False),
    )


@pytest.mark.parametrize("tile,margin", [(0, 32), (50, 32), (64, -16), (64, 20)])
def test_tile_and_margin_must_be_multiples_of_16(reference_nets, tile, margin):
    with pytest.raises(ValueError, match="multiple of 16"):
        pipeline.enhance_tiled(np.zeros((1, 8, 8, 3), np.float32), *reference_nets, 1.0,
                               tile=tile, margin=margin)


def test_bf16_is_mixed_precision_close_to_fp32(reference_ckpt_root, reference_nets, photo_4):
    nets = pipeline.load_nets(reference_ckpt_root, precision="bf16")
    assert nets[1].get_layer("de_conv1_1").compute_dtype == "bfloat16"
    assert nets[1].get_layer("de_conv1_1").kernel.dtype == "float32"
    image = photo_4[:, :64, :96]
    result = pipeline.enhance(image, *nets, 5.0)
    assert result.dtype == tf.float32
    reference = pipeline.enhance(image, *reference_nets, 5.0).numpy()
    difference = np.abs(result.numpy() - reference)
    # Measured max 1.4e-3 (a third of an 8-bit level), mean 2.8e-4 (AVX2 host, bf16 emulated
    # by oneDNN); a bf16 kernel of another CPU rounds alike, hence margins of 2-3x.
    assert 0 < difference.max() < 0.004 and difference.mean() < 0.0006


def test_unknown_precision_is_refused(reference_ckpt_root):
    with pytest.raises(ValueError, match="precision"):
        pipeline.load_nets(reference_ckpt_root, precision="fp16")


def constant_illumination_decom(level):
    """A stand-in DecomNet whose illumination is `level` everywhere (R is the image)."""
    def decom(image):
        return image, tf.fill(tf.concat([tf.shape(image)[:3], [1]], 0), level)
    return decom


@pytest.mark.parametrize("level,target,expected", [
    (0.2, 0.6, 3.0), (0.5, 0.5, 1.0), (0.8, 0.4, 0.5),
    (0.001, 0.6, 0.6 / pipeline.AUTO_MIN_ILLUMINATION)])  # A black photo: bounded.
def test_auto_ratio_brings_the_illumination_mean_to_the_target(level, target, expected):
    image = np.zeros((1, 30, 40, 3), np.float32)
    ratio = pipeline.auto_ratio(image, constant_illumination_decom(level), target)
    assert ratio == pytest.approx(expected, rel=1e-6)


def test_auto_ratio_of_a_large_photo_uses_its_scaled_down_mean():
    # L = the red channel, a horizontal ramp: its mean survives the area downscale.
    width = 3 * pipeline.AUTO_RATIO_SIZE
    ramp = np.linspace(0.1, 0.5, width, dtype=np.float32)
    image = np.broadcast_to(ramp[None, None, :, None], (1, 8, width, 3)).copy()
    seen = []

    def decom(x):
        seen.append(x.shape)
        return x, x[..., :1]

    ratio = pipeline.auto_ratio(image, decom, 0.6)
    assert seen[-1][2] == pipeline.AUTO_RATIO_SIZE
    assert ratio == pytest.approx(0.6 / ramp.mean(), rel=1e-4)


def test_enhance_auto_is_enhance_at_the_auto_ratio(photo_4, reference_nets):
    image = photo_4[:, :64, :80]
    ratio = pipeline.auto_ratio(image, reference_nets[0], 0.7)
    assert ratio != pytest.approx(5.0)
    expected = pipeline.enhance(image, *reference_nets, ratio).numpy()
    np.testing.assert_array_equal(
        pipeline.enhance(image, *reference_nets, "auto", target_brightness=0.7), expected)
    tiled = pipeline.enhance_tiled(image, *reference_nets, "auto", tile=32, margin=16,
                                   target_brightness=0.7)
    np.testing.assert_allclose(tiled, expected, atol=1e-3)
    with pytest.raises(ValueError, match="'auto'"):
        pipeline.enhance(image, *reference_nets, "bright")
