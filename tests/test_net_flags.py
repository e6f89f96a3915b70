"""Tests for kind_tf.net_flags: --ckpt and --precision, shared by the inference scripts."""

import pytest
from absl import flags

from kind_tf import net_flags


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
