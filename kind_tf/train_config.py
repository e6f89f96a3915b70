"""What a training run is told: the `Config` of one stage and its learning-rate schedules.

`make_config` turns the training flags' values (the same names, parsed by `kind_tf.train` or
given by the recipe) into a `Config`, checking them and resolving `--schedule`.
"""

import dataclasses
import functools
import math
import os
from typing import Callable, Optional

from kind_tf import checkpoints
from kind_tf.errors import UserError

# The reference loop's patches and batch: the original decom and adjustment scripts' settings,
# which this port uses for all three stages by default.
REFERENCE_PATCH_SIZE = 48
REFERENCE_BATCH_SIZE = 10


def reference_lr(epoch, lr, decay_every, decay_factor):
    """The reference loop's schedule: `lr * decay_factor ** (epoch // decay_every)`."""
    return lr * decay_factor ** (epoch // decay_every)


def constant_lr(epoch, lr):
    """The original decom and adjustment scripts' schedule: `lr` throughout."""
    del epoch
    return lr


def original_restoration_lr(epoch, lr):
    """The original restoration script's `lr_schedule` (0-based epoch, as it is called)."""
    if epoch <= 800:
        return lr
    if epoch <= 1250:
        return lr / 2
    if epoch <= 1500:
        return lr / 4
    return lr / 10


@dataclasses.dataclass(frozen=True)
class OriginalSchedule:
    """A stage's settings in the authors' script, used with `--schedule original`."""

    patch_size: int
    batch_size: int
    lr_schedule: Callable[[int, float], float]


@dataclasses.dataclass(frozen=True)
class DecomOptions:
    """Stage 1's loss options beyond the original (the defaults are the original loss).

    prior_weight: weight of `losses.illumination_prior` (L_low and L_high near the max over
        channels of their images); 0: the original loss.
    prior_epochs: `prior_weight` applies in the first this many epochs only (a warm-up that
        picks the basin), `prior_weight_after` after them; 0: `prior_weight` in every epoch.
    prior_weight_after: the prior's weight after the warm-up; 0: the original loss.
    prior_offset: the prior's target is max_c I + this (at most 1).
    """

    prior_weight: float = 0.0
    prior_epochs: int = 0
    prior_weight_after: float = 0.0
    prior_offset: float = 0.0


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything the loop needs to train one stage, with the schedule resolved."""

    data_dir: str
    ckpt_dir: str
    sample_dir: str
    tensorboard_dir: str
    seed: int
    epochs: int
    batch_size: int
    patch_size: int
    save_every: int
    strategy: str
    lr_at: Callable[[int], float]
    precision: str = "fp32"
    train_pairs: Optional[int] = None
    num_samples: Optional[int] = None
    data_mode: str = "auto"
    memory_budget: Optional[int] = None  # bytes
    cache_dir: Optional[str] = None
    exclude_pairs: Optional[str] = None
    decom_options: DecomOptions = DecomOptions()


def make_config(original, *, data_dir="LOLdataset", ckpt_dir="checkpoint", sample_dir="samples",
                tensorboard_dir="logs", seed=0, epochs, batch_size=None, patch_size=None,
                lr=1e-4, decay_every=500, decay_factor=0.1, save_every=100,
                schedule="reference", precision="fp32", train_pairs=None, num_samples=None,
                exclude_pairs=None, data_mode="auto", memory_budget_gb=None, cache_dir=None,
                strategy="default", illumination_prior_weight=0.0, illumination_prior_epochs=0,
                illumination_prior_weight_after=0.0, illumination_prior_offset=0.0):
    """The `Config` of the training flags' values (keyword per flag, the flags' defaults).

    `original`: the stage's `OriginalSchedule`. `batch_size` / `patch_size` None: the
    reference loop's, or with `schedule="original"` the stage's own (an explicit value wins).
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("patch_size", patch_size), ("save_every", save_every),
                        ("decay_every", decay_every)):
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1, got {value}")
    for name, value in (("lr", lr), ("decay_factor", decay_factor)):
        if not (value > 0 and math.isfinite(value)):
            raise UserError(f"--{name} must be a positive number, got {value}")
    absolute = os.path.abspath(ckpt_dir)
    if absolute == checkpoints.PRETRAINED_DIR or absolute.startswith(
            checkpoints.PRETRAINED_DIR + os.sep):
        # The shipped weights are only ever written by kind_tf.recipe, whole.
        raise UserError(f"--ckpt_dir '{ckpt_dir}' is the shipped weights' folder, which "
                        "training never writes: pass another --ckpt_dir (e.g. checkpoint)")
    if schedule == "original":
        batch_size = batch_size or original.batch_size
        patch_size = patch_size or original.patch_size
        lr_at = functools.partial(original.lr_schedule, lr=lr)
    else:
        batch_size = batch_size or REFERENCE_BATCH_SIZE
        patch_size = patch_size or REFERENCE_PATCH_SIZE
        lr_at = functools.partial(reference_lr, lr=lr, decay_every=decay_every,
                                  decay_factor=decay_factor)
    return Config(
        data_dir=data_dir, ckpt_dir=ckpt_dir, sample_dir=sample_dir,
        tensorboard_dir=tensorboard_dir, seed=seed, epochs=epochs, batch_size=batch_size,
        patch_size=patch_size, save_every=save_every, strategy=strategy, lr_at=lr_at,
        precision=precision, train_pairs=train_pairs, num_samples=num_samples,
        data_mode=data_mode,
        memory_budget=None if memory_budget_gb is None else int(memory_budget_gb * 2**30),
        cache_dir=cache_dir, exclude_pairs=exclude_pairs,
        decom_options=DecomOptions(illumination_prior_weight, illumination_prior_epochs,
                                   illumination_prior_weight_after, illumination_prior_offset),
    )
