"""Tests for kind_tf.recipe: the schedule, and the whole recipe end to end on tiny data."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, make_tiny_lol
from kind_tf import checkpoints, models, recipe, stages, train_config
from kind_tf.errors import UserError


def test_schedule_defaults_and_scaled():
    planned, decay = recipe.schedule(1.0)
    assert [(spec.name, epochs) for spec, epochs in planned] == [
        ("decom", 2000), ("restoration", 1000), ("adjust", 2000)] and decay == 500
    planned, decay = recipe.schedule(0.2)
    assert [epochs for _, epochs in planned] == [400, 200, 400] and decay == 100
    planned, decay = recipe.schedule(1e-6)  # Never below one epoch.
    assert [epochs for _, epochs in planned] == [1, 1, 1] and decay == 1
    with pytest.raises(UserError, match="--epoch_scale"):
        recipe.schedule(0)


def settings(**options):
    return {"epoch_scale": 1.0, "precision": "fp32", "seed": 0, "data_dir": "/data",
            **recipe.OPTION_DEFAULTS, **options}


def test_stage_flags_pass_the_options_to_their_stages():
    options = settings(illumination_prior_weight=1.0, illumination_prior_epochs=20,
                       illumination_prior_weight_after=0.1, illumination_prior_offset=0.05,
                       exclude_pairs="/lists/suspect.txt")
    decom = recipe.stage_flags(stages.named("decom"), 200, 500, "/run", options)
    assert recipe.stage_command(stages.named("decom"), decom) == [
        "train_decom.py", "--data_dir=/data", "--ckpt_dir=/run/checkpoint",
        "--sample_dir=/run/samples", "--tensorboard_dir=/run/logs", "--epochs=200",
        "--decay_every=500", "--precision=fp32", "--seed=0",
        "--exclude_pairs=/lists/suspect.txt", "--illumination_prior_weight=1.0",
        "--illumination_prior_epochs=20", "--illumination_prior_weight_after=0.1",
        "--illumination_prior_offset=0.05"]
    restoration = recipe.stage_flags(stages.named("restoration"), 100, 500, "/run", options)
    assert restoration["exclude_pairs"] == "/lists/suspect.txt"
    assert not any("illumination_prior" in name for name in restoration)
    # The defaults give the original scripts' commands, as before the options existed.
    decom = recipe.stage_flags(stages.named("decom"), 200, 500, "/run", settings())
    assert recipe.stage_command(stages.named("decom"), decom)[-1] == "--seed=0"
    # What the stage trains with is what its command line would give.
    config = train_config.make_config(stages.named("decom").original, **decom)
    assert (config.epochs, config.tensorboard_dir, config.lr_at(500)) == (
        200, "/run/logs", pytest.approx(1e-5))


def test_a_stage_runs_in_this_process_its_output_logged(tmp_path, capsys):
    def build(config):
        print(f"building for {config.epochs} epochs")
        raise UserError("--data_dir 'x' has no our485/")

    spec = dataclasses.replace(stages.named("decom"), build=build)
    log = recipe.Log(str(tmp_path / recipe.LOG_NAME))
    values = recipe.stage_flags(spec, 2, 500, str(tmp_path), settings())
    with pytest.raises(UserError, match=r"^train_decom.py failed: --data_dir 'x' has no "
                                        r"our485/; see .*recipe.log. Re-run the recipe"):
        recipe.run_stage(spec, values, log)
    logged = (tmp_path / recipe.LOG_NAME).read_text()
    assert logged.startswith("$ train_decom.py --data_dir=/data --ckpt_dir=")
    assert "building for 2 epochs\n" in logged
    assert "building for 2 epochs" in capsys.readouterr().out  # and on the terminal


def test_a_run_started_before_the_options_resumes_without_them(tmp_path):
    old = {key: value for key, value in settings().items() if key not in recipe.OPTION_DEFAULTS}
    (tmp_path / recipe.STATE_NAME).write_text(json.dumps({"settings": old, "stages": {}}))
    assert recipe.load_state(str(tmp_path), settings())["settings"] == settings()
    with pytest.raises(UserError, match="--illumination_prior_weight 0.0"):
        recipe.load_state(str(tmp_path), settings(illumination_prior_weight=1.0))


def run_recipe(*args):
    return subprocess.run([sys.executable, "-m", "kind_tf.recipe", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)


def test_bad_data_dir_is_one_line(tmp_path):
    result = run_recipe(f"--data_dir={tmp_path}", f"--run_dir={tmp_path / 'run'}",
                        f"--out_dir={tmp_path / 'out'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --data_dir")


@pytest.mark.slow
def test_recipe_trains_ships_records_and_resumes(lol_dir, tmp_path):
    data_dir = make_tiny_lol(tmp_path / "LOL", lol_dir, 10, 2)
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    args = [f"--data_dir={data_dir}", f"--run_dir={run_dir}", f"--out_dir={out_dir}",
            "--epoch_scale=0.001"]
    first = run_recipe(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    record = json.loads((out_dir / recipe.RECORD_NAME).read_text())
    assert [stage["epochs"] for stage in record["stages"]] == [2, 1, 2]
    for stage, (net_class, script) in zip(record["stages"], (
            (models.DecomNet, "train_decom.py"), (models.RestorationNet, "train_restoration.py"),
            (models.IllumAdjustNet, "train_adjustment.py"))):
        (run,) = stage["runs"]
        assert run["command"].startswith(f"{script} ") and "--decay_every=1" in run["command"]
        assert run["from_epoch"] == 0 and run["to_epoch"] == stage["epochs"]
        assert run["wall_seconds"] > 0 and len(run["commit"]) == 40
        # The shipped weights: float32, the run's final weights, no optimizer state.
        shipped, trained = net_class(), net_class()
        checkpoints.load_net(shipped, str(out_dir))
        checkpoints.load_net(trained, str(run_dir / "checkpoint"))
        for a, b in zip(shipped.weights, trained.weights):
            assert a.dtype == "float32"
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        folder = checkpoints.net_folder(str(out_dir), net_class())
        names = [name for name, _ in tf.train.list_variables(str(folder))]
        assert not any("optimizer" in name for name in names)
    metrics = json.loads((run_dir / "eval15" / "metrics.json").read_text())
    assert record["eval15"]["mean"] == metrics["mean"] and len(record["eval15"]["images"]) == 2
    assert record["eval15"]["gt_mean"] == metrics["variants"]["gt_mean"]["mean"]
    log = (run_dir / recipe.LOG_NAME).read_text()
    assert "GT ratio (authors' protocol)" in log
    # 10 pairs: every one is trained on, so nothing is held out and the target stays.
    assert "no held-out pairs" in log and "heldout" not in record

    again = run_recipe(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 3
    assert json.loads((out_dir / recipe.RECORD_NAME).read_text())["stages"] == record["stages"]

    other = run_recipe(*args[:-1], "--epoch_scale=0.002")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "--epoch_scale 0.001" in other.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def shipped_record():
    path = os.path.join(checkpoints.PRETRAINED_DIR, recipe.RECORD_NAME)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: the repository ships its weights in pretrained/")
    with open(path) as file:
        return json.load(file)


def test_shipped_record_says_what_trained_the_weights(shipped_record):
    assert [stage["net"] for stage in shipped_record["stages"]] == [
        "DecomNet", "Restoration_net", "Illumination_adjust_net"]
    planned, _ = recipe.schedule(shipped_record["settings"]["epoch_scale"])
    for stage, (spec, epochs) in zip(shipped_record["stages"], planned, strict=True):
        assert stage["script"] == spec.script and stage["epochs"] == epochs
        assert stage["runs"][-1]["to_epoch"] == epochs
        assert all(f"--epochs={epochs}" in run["command"] for run in stage["runs"])


def test_auto_target_is_the_one_measured_for_the_shipped_decom_net(shipped_record):
    from kind_tf import kind

    assert kind.AUTO_TARGET_BRIGHTNESS == pytest.approx(
        shipped_record["auto_target_brightness"], abs=5e-5)


@pytest.mark.slow
def test_shipped_weights_reproduce_their_eval15_record(shipped_record, lol_dir, tmp_path):
    from kind_tf import evaluation, kind

    report = evaluation.evaluate(kind.KinD.from_checkpoint(),
                                 f"{lol_dir}/eval15", str(tmp_path), verbose=0)
    recorded = shipped_record["eval15"]
    for ours, theirs in ((report["mean"], recorded["mean"]),
                         (report["variants"]["fixed_ratio"]["mean"], recorded["fixed_ratio"]),
                         (report["variants"]["auto_ratio"]["mean"], recorded["auto_ratio"]),
                         (report["variants"]["gt_mean"]["mean"], recorded["gt_mean"])):
        assert ours["psnr"] == pytest.approx(theirs["psnr"], abs=0.01)
        assert ours["ssim"] == pytest.approx(theirs["ssim"], abs=0.001)
        assert ours["ssim_gray"] == pytest.approx(theirs["ssim_gray"], abs=0.001)


def test_heldout_pairs_are_those_no_net_after_decom_trains_on():
    assert recipe.heldout_slice(485) == slice(466, None)  # LOL: our485 [466:485]
    assert recipe.heldout_slice(10) is None  # A small set: all trained on.
    # A larger set: restoration trains on all but 14, adjustment on all but 11.
    assert recipe.heldout_slice(1000) == slice(989, None)


def test_heldout_target_brightness_is_the_mean_illumination_of_the_ground_truths(
        lol_dir, reference_model):
    from kind_tf import image_io, lol_pairs

    pairs = lol_pairs.list_pairs(f"{lol_dir}/eval15")[:2]
    # LOL images (600x400) fit AUTO_RATIO_SIZE: the plain mean of the decomposed L.
    expected = np.mean([np.mean(reference_model.decom_net(image_io.load_image(high)[None])[1])
                        for _, high in pairs])
    assert recipe.heldout_target_brightness(pairs, reference_model) == pytest.approx(
        expected, rel=1e-6)

