"""The training driver: flags parsed into the stage and its Config; --log_dir kept."""

import pytest
from absl import flags

from kind_tf import stages, train, train_config
from kind_tf.errors import UserError

FLAGS = flags.FLAGS


@pytest.fixture(scope="module")
def parse():
    """Parses a `python -m kind_tf.train` command line (flags defined once per process)."""
    if "stage" not in FLAGS:
        train.define_flags()

    def parse_args(*args):
        FLAGS.unparse_flags()
        FLAGS(["train", *args])
        return train.config_from_flags(FLAGS)

    yield parse_args
    FLAGS.unparse_flags()


def test_each_stage_takes_its_registered_epochs_and_schedule(parse):
    for spec in stages.STAGES:
        parsed, config = parse(f"--stage={spec.name}")
        assert parsed is spec and config.epochs == spec.default_epochs
        assert (config.batch_size, config.patch_size) == (10, 48)
        _, config = parse(f"--stage={spec.name}", "--schedule=original", "--epochs=3")
        assert config.epochs == 3
        assert (config.batch_size, config.patch_size) == (spec.original.batch_size,
                                                           spec.original.patch_size)
    _, config = parse("--stage=restoration", "--schedule=original", "--batch_size=10")
    assert (config.batch_size, config.patch_size) == (10, 384)  # an explicit value wins


def test_flags_reach_the_config(parse):
    _, config = parse("--stage=decom", "--data_dir=/data", "--ckpt_dir=/run/ckpt", "--seed=4",
                      "--lr=1e-3", "--decay_every=2", "--precision=bf16", "--data_mode=stream",
                      "--memory_budget_gb=1", "--exclude_pairs=/x.txt", "--train_pairs=3",
                      "--num_samples=1", "--cache_dir=/c", "--illumination_prior_weight=1",
                      "--illumination_prior_epochs=20", "--illumination_prior_weight_after=0.1",
                      "--illumination_prior_offset=0.05")
    assert (config.data_dir, config.ckpt_dir, config.seed, config.precision) == (
        "/data", "/run/ckpt", 4, "bf16")
    assert config.lr_at(1) == 1e-3 and config.lr_at(2) == pytest.approx(1e-4)
    assert (config.data_mode, config.memory_budget, config.exclude_pairs) == (
        "stream", 2**30, "/x.txt")
    assert (config.train_pairs, config.num_samples, config.cache_dir) == (3, 1, "/c")
    assert config.decom_options == train_config.DecomOptions(1.0, 20, 0.1, 0.05)


def test_the_prior_is_an_option_of_the_decom_stage_only(parse):
    with pytest.raises(UserError, match="--illumination_prior_weight is an option of --stage "
                                        "decom, not adjust"):
        parse("--stage=adjust", "--illumination_prior_weight=1")


def test_log_dir_still_names_the_tensorboard_folder_and_stays_absls(parse):
    assert parse("--stage=decom")[1].tensorboard_dir == "logs"
    assert parse("--stage=decom", "--tensorboard_dir=/tb")[1].tensorboard_dir == "/tb"
    assert parse("--stage=decom", "--log_dir=/old")[1].tensorboard_dir == "/old"
    # absl.logging's own flag, not replaced.
    assert FLAGS.find_module_defining_flag("log_dir") == "absl.logging"
    with pytest.raises(UserError, match="--log_dir is the old name of --tensorboard_dir"):
        parse("--stage=decom", "--log_dir=/old", "--tensorboard_dir=/tb")
