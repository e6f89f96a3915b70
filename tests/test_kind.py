"""Tests for kind_tf.kind: the KinD model against the original's outputs, its ratio rules,
tiling, precision, checkpoints and .keras round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import color, filters

from kind_tf import KinD, Ratio, checkpoints, image_io, kind

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


def test_reproduces_the_original_pipeline_golden(golden, reference_model):
    expected = golden("pipeline_test1crop")
    image, ratio = expected["input"], float(expected["ratio"])
    decom_r, decom_i = reference_model.decompose(image)
    outputs = (decom_r, decom_i, reference_model.restore(decom_r, decom_i),
               reference_model.adjust(decom_i, ratio))
    for name, output in zip(NET_OUTPUTS, outputs):
        np.testing.assert_allclose(output, expected[name], atol=1e-5, err_msg=name)
    np.testing.assert_allclose(reference_model(image, ratio=ratio), expected["final"],
                               atol=1e-5)
    np.testing.assert_allclose(reference_model.enhance(image, ratio), expected["final"],
                               atol=1e-5)


@pytest.mark.parametrize("crop,ratio", [((slice(159, 254), slice(121, 244)), 5.0),
                                        ((slice(0, 37), slice(300, 370)), 1.7)])
def test_enhance_equals_the_original_on_other_crops(photo_4, reference_model, reference_nets,
                                                    crop, ratio):
    image = photo_4[(slice(None), *crop)]
    expected = original_postprocessing(image, *eager_nets(image, reference_nets, ratio))
    np.testing.assert_allclose(reference_model.enhance(image, ratio), expected, atol=1e-5)


def test_without_denoise_is_restored_r_times_adjusted_l(photo_4, reference_model,
                                                        reference_nets):
    image = photo_4[:, :45, :67]
    _, _, restoration_r, adjust_i = eager_nets(image, reference_nets, 3.0)
    np.testing.assert_allclose(reference_model.enhance(image, 3.0, denoise=False),
                               restoration_r * adjust_i, atol=1e-5)


def test_batch_items_are_enhanced_independently(reference_model):
    images = np.random.default_rng(0).random((2, 32, 48, 3), np.float32)
    batch = reference_model.enhance(images, 2.0)
    for index in range(2):
        np.testing.assert_allclose(
            batch[index], reference_model.enhance(images[index : index + 1], 2.0)[0], atol=1e-5)


def test_gt_ratio_is_the_lol_protocol_formula(lol_dir, reference_model):
    low = image_io.load_image(f"{lol_dir}/eval15/low/1.png")[None, :96, :128]
    high = image_io.load_image(f"{lol_dir}/eval15/high/1.png")[None, :96, :128]
    decom = reference_model.decom_net
    expected = np.mean(decom(high)[1].numpy() / (decom(low)[1].numpy() + 0.0001))
    assert Ratio("gt").resolve(reference_model, low, high) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="ground truth"):
        Ratio("gt").resolve(reference_model, low)


def test_enhance_variants_equal_enhance_at_each_setting(lol_dir, reference_model):
    low = image_io.load_image(f"{lol_dir}/eval15/low/1.png")[None, :96, :128]
    high = image_io.load_image(f"{lol_dir}/eval15/high/1.png")[None, :96, :128]
    variants = [("gt", False), (5.0, False), (Ratio("auto", 0.6), False), (5.0, True)]
    images, ratios = reference_model.enhance_variants(low, variants, high)
    assert ratios[1:] == [5.0, Ratio("auto", 0.6).resolve(reference_model, low), 5.0]
    assert ratios[0] == Ratio("gt").resolve(reference_model, low, high)
    for image, ratio, (_, denoise) in zip(images, ratios, variants):
        np.testing.assert_allclose(image, reference_model.enhance(low, ratio, denoise),
                                   atol=1e-6)


def test_tiled_equals_untiled(photo_4, reference_model):
    image = photo_4[:, :100, :150]
    untiled = reference_model.enhance(image, 5.0).numpy()
    # Small margin: within the 1e-3 the issue asks; full receptive-field margin: exact.
    loose = reference_model.enhance(image, 5.0, tile=48, tile_margin=32)
    np.testing.assert_allclose(loose, untiled, atol=1e-3)
    assert np.abs(loose - untiled).max() > 1e-6  # The tiles really were cut.
    exact = reference_model.enhance(image, 5.0, tile=64)
    np.testing.assert_allclose(exact, untiled, atol=1e-5)


def test_image_within_one_tile_takes_the_untiled_call(photo_4, reference_model):
    image = photo_4[:, :40, :50]
    np.testing.assert_array_equal(reference_model.enhance(image, 5.0, denoise=False, tile=64),
                                  reference_model.enhance(image, 5.0, denoise=False))


@pytest.mark.parametrize("tile,margin", [(50, 32), (64, 20)])
def test_tile_and_margin_must_be_multiples_of_16(reference_model, tile, margin):
    with pytest.raises(ValueError, match="multiple of 16"):
        reference_model.enhance(np.zeros((1, 8, 8, 3), np.float32), 1.0, tile=tile,
                                tile_margin=margin)


def test_bf16_is_mixed_precision_close_to_fp32(reference_ckpt_root, reference_model, photo_4):
    model = KinD.from_checkpoint(reference_ckpt_root, dtype="mixed_bfloat16")
    assert model.restoration_net.get_layer("de_conv1_1").compute_dtype == "bfloat16"
    assert model.restoration_net.get_layer("de_conv1_1").kernel.dtype == "float32"
    assert keras.dtype_policies.get(model.get_config()["dtype"]).name == "mixed_bfloat16"
    image = photo_4[:, :64, :96]
    result = model.enhance(image, 5.0)
    assert result.dtype == tf.float32
    reference = reference_model.enhance(image, 5.0).numpy()
    difference = np.abs(result.numpy() - reference)
    # Measured max 1.4e-3 (a third of an 8-bit level), mean 2.8e-4 (AVX2 host, bf16 emulated
    # by oneDNN); a bf16 kernel of another CPU rounds alike, hence margins of 2-3x.
    assert 0 < difference.max() < 0.004 and difference.mean() < 0.0006


def test_from_checkpoint_defaults_to_the_shipped_weights(reference_model, photo_4):
    model = KinD.from_checkpoint()
    for net in model.nets:
        shipped = type(net)()
        checkpoints.load_net(shipped, checkpoints.PRETRAINED_DIR)
        for ours, theirs in zip(net.weights, shipped.weights):
            np.testing.assert_array_equal(ours, theirs)
    image = photo_4[:, :32, :32]
    assert np.abs(model.enhance(image) - reference_model.enhance(image)).max() > 0.01


def test_without_restoration_the_reflectance_is_the_decomposed_one(reference_ckpt_root,
                                                                   tmp_path, photo_4):
    # No RestorationNet is built or loaded: its folder need not exist.
    for folder in ("decom_net_train", "illumination_adjust_net_train"):
        (tmp_path / folder).symlink_to(f"{reference_ckpt_root}/{folder}")
    model = KinD.from_checkpoint(str(tmp_path), restoration=False)
    assert [net.name for net in model.nets] == ["DecomNet", "Illumination_adjust_net"]
    image = photo_4[:, :40, :48]
    decom_r, decom_i = model.decompose(image)
    np.testing.assert_allclose(model.enhance(image, 2.0, denoise=False),
                               decom_r * model.adjust(decom_i, 2.0), atol=1e-6)


def test_keras_file_round_trip_gives_identical_outputs(reference_model, photo_4, tmp_path):
    path = str(tmp_path / "kind.keras")
    reference_model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, KinD) and loaded.get_config() == reference_model.get_config()
    for ours, theirs in zip(loaded.weights, reference_model.weights):
        np.testing.assert_array_equal(ours, theirs)
    # Called alike (eagerly: a compiled call may pick other kernels once it is
    # shape-generic), the two models give the same bits.
    image = photo_4[:, :48, :64]
    for denoise in (True, False):
        np.testing.assert_array_equal(loaded(image, ratio=3.0, denoise=denoise),
                                      reference_model(image, ratio=3.0, denoise=denoise))


def test_keras_file_keeps_the_precision_and_the_ablation(tmp_path):
    path = str(tmp_path / "kind.keras")
    KinD(restoration=False, dtype="mixed_bfloat16").save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.restoration_net is None
    assert loaded.decom_net.get_layer("g_conv1_1").compute_dtype == "bfloat16"


class ConstantIllumination:
    """A stand-in model whose decomposed illumination is `level` everywhere."""

    def __init__(self, level):
        self.level = level

    def decompose(self, image):
        return image, tf.fill(tf.concat([tf.shape(image)[:3], [1]], 0), self.level)


@pytest.mark.parametrize("level,target,expected", [
    (0.2, 0.6, 3.0), (0.5, 0.5, 1.0), (0.8, 0.4, 0.5),
    (0.001, 0.6, 0.6 / kind.AUTO_MIN_ILLUMINATION)])  # A black photo: bounded.
def test_auto_ratio_brings_the_illumination_mean_to_the_target(level, target, expected):
    image = np.zeros((1, 30, 40, 3), np.float32)
    ratio = Ratio("auto", target).resolve(ConstantIllumination(level), image)
    assert ratio == pytest.approx(expected, rel=1e-6)


def test_auto_ratio_of_a_large_photo_uses_its_scaled_down_mean():
    # L = the red channel, a horizontal ramp: its mean survives the area downscale.
    width = 3 * kind.AUTO_RATIO_SIZE
    ramp = np.linspace(0.1, 0.5, width, dtype=np.float32)
    image = np.broadcast_to(ramp[None, None, :, None], (1, 8, width, 3)).copy()
    seen = []

    class RedIllumination:
        def decompose(self, x):
            seen.append(x.shape)
            return x, x[..., :1]

    ratio = Ratio("auto", 0.6).resolve(RedIllumination(), image)
    assert seen[-1][2] == kind.AUTO_RATIO_SIZE
    assert ratio == pytest.approx(0.6 / ramp.mean(), rel=1e-4)


def test_enhance_auto_is_enhance_at_the_auto_ratio(photo_4, reference_model):
    image = photo_4[:, :64, :80]
    ratio = Ratio("auto", 0.7).resolve(reference_model, image)
    assert ratio != pytest.approx(5.0)
    expected = reference_model.enhance(image, ratio).numpy()
    np.testing.assert_array_equal(reference_model.enhance(image, Ratio("auto", 0.7)), expected)
    tiled = reference_model.enhance(image, Ratio("auto", 0.7), tile=32, tile_margin=16)
    np.testing.assert_allclose(tiled, expected, atol=1e-3)
    with pytest.raises(ValueError, match="one image at a time"):
        reference_model.enhance(np.concatenate([image, image]), "auto")


@pytest.mark.parametrize("text,allow_gt,rule", [
    ("gt", True, "gt"), ("GT", True, "gt"), ("auto", False, "auto"), (" Auto", True, "auto"),
    ("5", False, 5.0), ("0.5", True, 0.5), ("0", False, 0.0)])
def test_ratio_parse(text, allow_gt, rule):
    assert Ratio.parse(text, allow_gt, 0.5) == Ratio(rule, 0.5)


@pytest.mark.parametrize("text,allow_gt,message", [
    ("bright", True, "'gt', 'auto' or a number"), ("gt", False, "'auto' or a number"),
    ("-1", False, "non-negative"), ("nan", True, "non-negative")])
def test_ratio_parse_refuses_bad_values(text, allow_gt, message):
    with pytest.raises(ValueError, match=message):
        Ratio.parse(text, allow_gt)


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5])
def test_target_brightness_in_unit_interval(target):
    with pytest.raises(ValueError, match="target_brightness"):
        Ratio("auto", target)


def test_ratio_setting_is_what_metrics_json_records():
    assert [Ratio(rule).setting for rule in ("gt", "auto", 2.5)] == [None, "auto", 2.5]
    assert Ratio.of(Ratio(3.0)) == Ratio(3.0) == Ratio.of(3.0)
