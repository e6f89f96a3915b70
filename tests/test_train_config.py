"""A training run's Config: the flags' values checked, the schedule resolved."""

import math
import os

import numpy as np
import pytest

from kind_tf import checkpoints, stages, train_config
from kind_tf.errors import UserError

RESTORATION = stages.named("restoration").original


def test_reference_schedule_divides_by_ten_every_500_epochs():
    lrs = [train_config.reference_lr(epoch, 1e-4, 500, 0.1) for epoch in (0, 499, 500, 999, 1000)]
    np.testing.assert_allclose(lrs, [1e-4, 1e-4, 1e-5, 1e-5, 1e-6])


def test_original_restoration_schedule():
    epochs = (0, 800, 801, 1250, 1251, 1500, 1501, 1999)
    lrs = [train_config.original_restoration_lr(epoch, 1e-4) for epoch in epochs]
    np.testing.assert_allclose(lrs, [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5, 1e-5, 1e-5])
    assert train_config.constant_lr(1999, 1e-4) == 1e-4


def test_config_reference_defaults():
    config = train_config.make_config(RESTORATION, epochs=2000)
    assert (config.batch_size, config.patch_size, config.epochs) == (10, 48, 2000)
    assert (config.save_every, config.strategy, config.data_dir) == (100, "default", "LOLdataset")
    assert (config.tensorboard_dir, config.precision) == ("logs", "fp32")
    assert config.lr_at(499) == 1e-4 and math.isclose(config.lr_at(500), 1e-5)
    assert config.decom_options == train_config.DecomOptions()  # the original loss
    assert train_config.make_config(RESTORATION, epochs=1, precision="bf16").precision == "bf16"


def test_config_original_schedule_uses_the_stage_settings():
    config = train_config.make_config(RESTORATION, epochs=1, schedule="original")
    assert (config.batch_size, config.patch_size) == (4, 384)
    assert config.lr_at(801) == 5e-5
    config = train_config.make_config(RESTORATION, epochs=1, schedule="original",
                                      patch_size=96, lr=1e-3)
    assert (config.batch_size, config.patch_size, config.lr_at(0)) == (4, 96, 1e-3)


def test_config_holds_the_decom_options_and_the_budget_in_bytes():
    config = train_config.make_config(
        RESTORATION, epochs=1, illumination_prior_weight=1.0, illumination_prior_epochs=20,
        illumination_prior_weight_after=0.1, memory_budget_gb=0.5)
    assert config.decom_options == train_config.DecomOptions(1.0, 20, 0.1)
    assert config.memory_budget == 2**29


@pytest.mark.parametrize("values, flag", [
    ({"epochs": 0}, "--epochs"), ({"batch_size": 0}, "--batch_size"),
    ({"save_every": -1}, "--save_every"), ({"lr": -1}, "--lr"), ({"lr": float("nan")}, "--lr"),
    ({"decay_factor": 0}, "--decay_factor"),
])
def test_config_rejects_bad_numbers(values, flag):
    with pytest.raises(UserError, match=flag):
        train_config.make_config(RESTORATION, **{"epochs": 1, **values})


@pytest.mark.parametrize("folder", ["", "decom_net_train"])
def test_config_refuses_the_shipped_weights_folder(folder):
    target = os.path.join(checkpoints.PRETRAINED_DIR, folder)
    with pytest.raises(UserError, match="shipped weights' folder"):
        train_config.make_config(RESTORATION, epochs=1, ckpt_dir=target)
    assert train_config.make_config(RESTORATION, epochs=1,
                                    ckpt_dir=f"{checkpoints.PRETRAINED_DIR}_mine").ckpt_dir
