"""Tests for kind_tf.runtime."""

import tensorflow as tf

from kind_tf import runtime


def test_tf32_off_by_default_and_on_when_allowed():
    try:
        runtime.configure(allow_tf32=True)
        assert tf.config.experimental.tensor_float_32_execution_enabled()
        description = runtime.configure()
        assert not tf.config.experimental.tensor_float_32_execution_enabled()
    finally:
        runtime.configure()
    expected_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert description.startswith("GPU") == expected_gpu
    if not expected_gpu:
        assert description == "CPU"
