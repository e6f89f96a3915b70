"""Tests for kind_tf.net_flags: --ckpt and --precision, shared by the inference scripts."""

import pytest
from absl import flags

from kind_tf import checkpoints, net_flags
from kind_tf.errors import UserError


def test_flags_load_the_nets_at_the_precision(reference_ckpt_root):
    values = flags.FlagValues()
    net_flags.define(values)
    values(["script", f"--ckpt={reference_ckpt_root}", "--precision=bf16"])
    decom, restoration, adjust = net_flags.load_nets(values)
    assert [net.name for net in (decom, restoration, adjust)] == [
        "DecomNet", "Restoration_net", "Illumination_adjust_net"]
    assert restoration.dtype_policy.name == "mixed_bfloat16"


def test_precision_is_fp32_or_bf16():
    values = flags.FlagValues()
    net_flags.define(values)
    assert values["precision"].default == "fp32"
    with pytest.raises(flags.IllegalFlagValueError):
        values(["script", "--precision=fp16"])


@pytest.mark.parametrize("text,allow_gt,expected", [
    ("gt", True, None), ("GT", True, None), ("auto", False, "auto"), (" Auto", True, "auto"),
    ("5", False, 5.0), ("0.5", True, 0.5), ("0", False, 0.0)])
def test_parse_ratio(text, allow_gt, expected):
    assert net_flags.parse_ratio(text, allow_gt) == expected


@pytest.mark.parametrize("text,allow_gt,message", [
    ("bright", True, "'gt', 'auto' or a number"), ("gt", False, "'auto' or a number"),
    ("-1", False, "non-negative"), ("nan", True, "non-negative")])
def test_parse_ratio_refuses_bad_values(text, allow_gt, message):
    with pytest.raises(UserError, match=message):
        net_flags.parse_ratio(text, allow_gt)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_target_brightness_in_unit_interval(value):
    with pytest.raises(UserError, match="--target_brightness"):
        net_flags.check_target_brightness(value)
    assert net_flags.check_target_brightness(0.69) == 0.69


def test_ckpt_defaults_to_the_shipped_weights():
    values = flags.FlagValues()
    net_flags.define(values)
    assert values["ckpt"].default == checkpoints.PRETRAINED_DIR
    values = flags.FlagValues()
    net_flags.define(values, default_ckpt="checkpoint")
    assert values["ckpt"].default == "checkpoint"
