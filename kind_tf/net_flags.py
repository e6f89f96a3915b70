"""The flags of every script that runs the trained nets: --ckpt, --precision and --ratio."""

from absl import flags

from kind_tf import checkpoints, kind, models
from kind_tf.errors import UserError


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


def define_ratio(default, allow_gt=False, flag_values=flags.FLAGS):
    """Defines --ratio (a number, "auto", and with `allow_gt` "gt") and --target_brightness."""
    choices = "'gt' (the authors' LOL protocol: per image mean(L_high / (L_low + 1e-4)) from "\
        "decomposing the ground truth), " if allow_gt else ""
    flags.DEFINE_string(
        "ratio", default, "Light level: the illumination ratio given to the adjustment net. "
        f"{choices}a number (the original suggests 0-5 and uses 5.0; higher is brighter), or "
        "'auto': per photo, the ratio that brings its decomposed illumination's mean to "
        "--target_brightness.", flag_values=flag_values,
    )
    flags.DEFINE_float(
        "target_brightness", kind.AUTO_TARGET_BRIGHTNESS, "--ratio auto: the illumination "
        "mean to reach (0-1); the default was measured on held-out our485 ground truths with "
        "the shipped DecomNet.", flag_values=flag_values,
    )


def parse_ratio(text, target_brightness=kind.AUTO_TARGET_BRIGHTNESS, allow_gt=False):
    """`--ratio` and `--target_brightness` as a `kind.Ratio`: a non-negative number, "auto",
    or with `allow_gt` "gt"."""
    try:
        return kind.Ratio.parse(text, allow_gt, target_brightness)
    except ValueError as error:
        raise UserError(f"--{error}") from None


def load_model(flag_values=flags.FLAGS, restoration=True):
    """`kind.KinD` from --ckpt at --precision (without `restoration`: no RestorationNet)."""
    return kind.KinD.from_checkpoint(flag_values.ckpt, restoration,
                                     models.dtype_policy(flag_values.precision))
