"""The flags of every script that runs the trained nets: --ckpt and --precision."""

from absl import flags

from kind_tf import models, pipeline


def define(flag_values=flags.FLAGS):
    """Defines --ckpt and --precision (call from a script's `__main__` block)."""
    flags.DEFINE_string(
        "ckpt", "checkpoint", "Checkpoint root holding decom_net_train/, Restoration_net_train/ "
        "and illumination_adjust_net_train/ (the authors' TF1 checkpoints or ours, detected "
        "automatically).", flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "precision", "fp32", sorted(models.PRECISIONS), "fp32 (default, as the original) or "
        "bf16 (Keras mixed_bfloat16 nets: faster on bf16 hardware, slightly different "
        "numbers; the post-processing stays fp32).", flag_values=flag_values,
    )


def load_nets(flag_values=flags.FLAGS):
    """(decom, restoration, adjust) from --ckpt at --precision."""
    return pipeline.load_nets(flag_values.ckpt, flag_values.precision)
