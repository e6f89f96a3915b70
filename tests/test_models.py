"""Tests for kind_tf.models: architecture, shapes, names, serialization, golden outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf import checkpoints, models
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet


@pytest.fixture(scope="module")
def nets():
    return DecomNet(), RestorationNet(), IllumAdjustNet()


def test_parameter_counts_equal_the_original(nets):
    assert [net.count_params() for net in nets] == [235_876, 7_760_739, 19_393]


def test_model_and_layer_names_are_the_original_scopes(nets):
    decom, restoration, adjust = nets
    assert (decom.name, restoration.name, adjust.name) == (
        "DecomNet",
        "Restoration_net",
        "Illumination_adjust_net",
    )
    for name in ("g_conv1_1", "g_up_1", "g_up_2", "g_conv10", "l_conv1_2", "l_conv1_4"):
        decom.get_layer(name)
    for name in ("de_conv1_1", "de_conv5_2", "up_6", "up_9", "de_conv10"):
        restoration.get_layer(name)
    for name in ("en_conv_1", "en_conv_4"):
        adjust.get_layer(name)


def test_heads_match_the_original(nets):
    decom, restoration, _ = nets
    assert decom.get_layer("g_conv10").kernel_size == (1, 1)
    assert decom.get_layer("l_conv1_4").kernel_size == (1, 1)
    assert restoration.get_layer("de_conv10").kernel_size == (3, 3)


@pytest.mark.parametrize("height,width", [(48, 48), (203, 151), (17, 9)])
def test_any_size_including_odd(nets, height, width):
    decom, restoration, adjust = nets
    image = np.random.default_rng(1).random((2, height, width, 3), np.float32)
    reflectance, illumination = decom(image)
    assert reflectance.shape == (2, height, width, 3)
    assert illumination.shape == (2, height, width, 1)
    assert restoration([reflectance, illumination]).shape == (2, height, width, 3)
    assert adjust([illumination, tf.fill(tf.shape(illumination), 3.0)]).shape == (2, height, width, 1)


@pytest.mark.parametrize("model_class", [DecomNet, RestorationNet, IllumAdjustNet])
def test_serialization_round_trip(model_class):
    model = model_class()
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(clone) is model_class
    assert clone.name == model.name
    assert clone.count_params() == model.count_params()


def test_keras_file_round_trip(tmp_path):
    model = IllumAdjustNet()
    path = str(tmp_path / "adjust.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    inputs = [np.full((1, 9, 7, 1), 0.3, np.float32), np.full((1, 9, 7, 1), 2.0, np.float32)]
    np.testing.assert_array_equal(model(inputs), restored(inputs))


def test_decom_reproduces_golden(golden, reference_checkpoint):
    data = golden("decom_4")
    net = DecomNet()
    checkpoints.load_weights(net, reference_checkpoint("decom_net_train"))
    reflectance, illumination = net(data["input"])
    np.testing.assert_allclose(reflectance, data["R"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(illumination, data["L"], atol=1e-5, rtol=0)


def test_adjust_reproduces_golden(golden, reference_checkpoint):
    data = golden("adjust_4")
    net = IllumAdjustNet()
    checkpoints.load_weights(net, reference_checkpoint("illumination_adjust_net_train"))
    for index, ratio in enumerate(data["ratios"]):
        ratio_map = np.full_like(data["L_in"], ratio)
        np.testing.assert_allclose(
            net([data["L_in"], ratio_map]), data["L_out"][index : index + 1], atol=1e-5, rtol=0
        )


def test_restoration_reproduces_golden(golden, reference_checkpoint):
    data = golden("restoration_4crop96x128")
    net = RestorationNet()
    checkpoints.load_weights(net, reference_checkpoint("restoration_random_seeded"))
    np.testing.assert_allclose(
        net([data["input_r"], data["input_i"]]), data["output"], atol=1e-5, rtol=0
    )


def _reference_forward(net, inputs):
    """A plain re-implementation of the original graph with tf.nn ops, from the weights."""
    weights = {name: v.numpy() for name, v in checkpoints.variable_map(net).items()}
    scope = net.name

    def conv(x, layer, act=True):
        y = tf.nn.conv2d(x, weights[f"{scope}/{layer}/weights"], 1, "SAME")
        y = y + weights[f"{scope}/{layer}/biases"]
        return tf.maximum(0.2 * y, y) if act else y

    def pool(x):
        return tf.nn.max_pool2d(x, 2, 2, "SAME")

    def up(x, skip, layer):
        kernel = weights[f"{scope}/{layer}/weights"]
        deconv = tf.nn.conv2d_transpose(x, kernel, tf.shape(skip), 2, "SAME")
        return tf.concat([deconv, skip], 3)

    x = tf.concat(inputs, 3)
    skips = []
    for level in range(1, 5):
        x = conv(conv(x, f"de_conv{level}_1"), f"de_conv{level}_2")
        skips.append(x)
        x = pool(x)
    x = conv(conv(x, "de_conv5_1"), "de_conv5_2")
    for level, skip in zip(range(6, 10), reversed(skips)):
        x = conv(conv(up(x, skip, f"up_{level}"), f"de_conv{level}_1"), f"de_conv{level}_2")
    return tf.sigmoid(conv(x, "de_conv10", act=False))


@pytest.mark.parametrize("height,width", [(37, 53), (64, 31)])
def test_restoration_matches_plain_tf_graph_on_unseen_odd_sizes(
    reference_checkpoint, height, width
):
    net = RestorationNet()
    checkpoints.load_weights(net, reference_checkpoint("restoration_random_seeded"))
    rng = np.random.default_rng(height)
    inputs = [rng.random((1, height, width, 3), np.float32), rng.random((1, height, width, 1), np.float32)]
    np.testing.assert_allclose(net(inputs), _reference_forward(net, inputs), atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_class, heads", [
    (DecomNet, ["g_conv10", "l_conv1_4"]), (RestorationNet, ["de_conv10"]),
    (IllumAdjustNet, ["en_conv_4", "sigmoid"]),
])
def test_bf16_nets_keep_float32_heads(model_class, heads):
    net = model_class(dtype=models.dtype_policy("bf16"))
    float32_layers = [layer.name for layer in net.layers
                      if layer.weights or isinstance(layer, keras.layers.Activation)
                      if layer.compute_dtype == "float32"]
    assert float32_layers == heads


def test_dtype_is_passed_to_the_layers_and_kept_in_the_config():
    net = IllumAdjustNet(dtype=models.dtype_policy("bf16"))
    assert net.dtype_policy.name == "mixed_bfloat16"
    assert net.get_layer("en_conv_1").compute_dtype == "bfloat16"
    assert all(weight.dtype == "float32" for weight in net.weights)  # checkpoints unchanged
    # The heads compute in float32: the outputs are not quantized to bf16.
    assert net.get_layer("en_conv_4").compute_dtype == "float32"
    output = net([np.ones((1, 8, 8, 1), np.float32)] * 2)
    assert output.dtype == tf.float32
    assert keras.config.dtype_policy().name == "float32"  # no global policy was changed
    rebuilt = IllumAdjustNet.from_config(net.get_config())
    assert rebuilt.get_layer("en_conv_1").compute_dtype == "bfloat16"
    assert IllumAdjustNet(dtype=models.dtype_policy("fp32")).dtype_policy.name == "float32"


def test_dtype_policy_refuses_unknown_precisions():
    with pytest.raises(ValueError, match="precision must be one of"):
        models.dtype_policy("fp16")
