"""The flags of every script that runs the trained nets: --ckpt and --precision."""

from absl import flags

from kind_tf import checkpoints, models, pipeline


def define(flag_values=flags.FLAGS, default_ckpt=checkpoints.PRETRAINED_DIR):
    """Defines --ckpt and --precision (call from a script's `__main__` block).

    `--ckpt` defaults to the shipped weights; evaluate.py passes the authors' `checkpoint`.
    """
    flags.DEFINE_string(
        "ckpt", default_ckpt,
        "Checkpoint root holding decom_net_train/, Restoration_net_train/ and "
        "illumination_adjust_net_train/ (the authors' TF1 checkpoints or ours, detected "
        "automatically); pretrained/ holds the weights this project ships.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "precision", "fp32", sorted(models.PRECISIONS), "fp32 (default, as the original) or "
        "bf16 (Keras mixed_bfloat16 nets: faster on bf16 hardware, slightly different "
        "numbers; the post-processing stays fp32).", flag_values=flag_values,
    )


def load_nets(flag_values=flags.FLAGS):
    """(decom, restoration, adjust) from --ckpt at --precision."""
    return pipeline.load_nets(flag_values.ckpt, flag_values.precision)
