"""Tests for kind_tf.layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf.layers import UpsampleConcat, lrelu


def test_lrelu_is_max_of_x_and_0_2x():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    np.testing.assert_allclose(lrelu(x), np.maximum(0.2 * x, x))


@pytest.mark.parametrize("height,width", [(8, 10), (7, 9), (1, 1)])
def test_upsample_concat_takes_skip_shape_and_crops_bottom_right(height, width):
    rng = np.random.default_rng(0)
    small = rng.standard_normal((2, (height + 1) // 2, (width + 1) // 2, 5)).astype(np.float32)
    skip = rng.standard_normal((2, height, width, 4)).astype(np.float32)
    layer = UpsampleConcat(4, name="g_up_1")
    out = layer([small, skip]).numpy()
    assert out.shape == (2, height, width, 8)
    np.testing.assert_array_equal(out[..., 4:], skip)
    # A 2x2/2 transposed conv paints one 2x2 block per input pixel: out[2i+a, 2j+b, o] =
    # sum_c x[i, j, c] * kernel[a, b, o, c]; odd sizes crop the last row/column.
    kernel = layer.kernel.numpy()
    full = np.einsum("nijc,aboc->niajbo", small, kernel).reshape(
        2, 2 * small.shape[1], 2 * small.shape[2], 4
    )
    np.testing.assert_allclose(out[..., :4], full[:, :height, :width], atol=1e-5)


def test_upsample_concat_kernel_has_tf1_layout_and_no_bias():
    layer = UpsampleConcat(64, name="g_up_1")
    layer.build([(None, None, None, 128), (None, None, None, 64)])
    assert [w.name for w in layer.weights] == ["kernel"]
    assert tuple(layer.kernel.shape) == (2, 2, 64, 128)


def test_upsample_concat_rejects_wrong_skip_channels():
    with pytest.raises(ValueError, match="g_up_1: skip tensor has 3 channels, expected 4"):
        UpsampleConcat(4, name="g_up_1").build([(None, None, None, 8), (None, None, None, 3)])


def test_upsample_concat_config_round_trip():
    layer = UpsampleConcat(32, name="up_9")
    clone = UpsampleConcat.from_config(layer.get_config())
    assert (clone.filters, clone.name) == (32, "up_9")
    assert keras.saving.get_registered_object("kind_tf>UpsampleConcat") is UpsampleConcat


def test_upsample_concat_under_mixed_precision():
    layer = UpsampleConcat(2, name="up", dtype="mixed_bfloat16")
    x = tf.ones((1, 3, 3, 4), tf.bfloat16)
    skip = tf.ones((1, 5, 6, 2), tf.bfloat16)
    assert layer([x, skip]).dtype == tf.bfloat16
