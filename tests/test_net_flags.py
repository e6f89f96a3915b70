"""Tests for kind_tf.net_flags: --ckpt and --precision, shared by the inference scripts."""

import numpy as np
import pytest
from absl import flags

from kind_tf import Ratio, checkpoints, net_flags
from kind_tf.errors import UserError


def test_flags_load_the_model_at_the_precision(reference_ckpt_root, reference_model):
    values = flags.FlagValues()
    net_flags.define(values)
    values(["script", f"--ckpt={reference_ckpt_root}", "--precision=bf16"])
    model = net_flags.load_model(values)
    assert [net.name for net in model.nets] == [
        "DecomNet", "Restoration_net", "Illumination_adjust_net"]
    assert model.restoration_net.dtype_policy.name == "mixed_bfloat16"
    for ours, theirs in zip(model.weights, reference_model.weights):
        np.testing.assert_array_equal(ours, theirs)
    assert [net.name for net in net_flags.load_model(values, restoration=False).nets] == [
        "DecomNet", "Illumination_adjust_net"]


def test_precision_is_fp32_or_bf16():
    values = flags.FlagValues()
    net_flags.define(values)
    assert values["precision"].default == "fp32"
    with pytest.raises(flags.IllegalFlagValueError):
        values(["script", "--precision=fp16"])


@pytest.mark.parametrize("text,allow_gt,expected", [
    ("gt", True, "gt"), (" Auto", True, "auto"), ("0.5", False, 0.5)])
def test_parse_ratio(text, allow_gt, expected):
    assert net_flags.parse_ratio(text, 0.6, allow_gt) == Ratio(expected, 0.6)


@pytest.mark.parametrize("text,allow_gt,message", [
    ("bright", True, "'gt', 'auto' or a number"), ("gt", False, "'auto' or a number"),
    ("-1", False, "non-negative"), ("nan", True, "non-negative")])
def test_parse_ratio_refuses_bad_values(text, allow_gt, message):
    with pytest.raises(UserError, match=f"^--ratio must be .*{message}"):
        net_flags.parse_ratio(text, allow_gt=allow_gt)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_target_brightness_in_unit_interval(value):
    with pytest.raises(UserError, match=r"^--target_brightness must be in \(0, 1\]"):
        net_flags.parse_ratio("auto", value)


def test_ckpt_defaults_to_the_shipped_weights():
    values = flags.FlagValues()
    net_flags.define(values)
    assert values["ckpt"].default == checkpoints.PRETRAINED_DIR
    values = flags.FlagValues()
    net_flags.define(values, default_ckpt="checkpoint")
    assert values["ckpt"].default == "checkpoint"
