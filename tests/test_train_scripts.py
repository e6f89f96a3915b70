"""The three training scripts end to end, as a user runs them (subprocesses, tiny data)."""

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from conftest import REPO_ROOT, make_tiny_lol

pytestmark = pytest.mark.slow

SCRIPTS = ("train_decom.py", "train_restoration.py", "train_adjustment.py")
FOLDERS = {"train_decom.py": "decom_net_train",
           "train_restoration.py": "Restoration_net_train",
           "train_adjustment.py": "illumination_adjust_net_train"}
SAMPLES = {"train_decom.py": ["high_1_{}.png", "high_2_{}.png", "low_1_{}.png", "low_2_{}.png"],
           "train_restoration.py": ["eval_1_{}.png", "eval_2_{}.png"],
           "train_adjustment.py": ["h_eval_{}_1_", "h_eval_{}_2_"]}
QUICK = ["--batch_size=2", "--patch_size=48", "--save_every=1"]


@pytest.fixture(scope="module")
def tiny_lol(tmp_path_factory, lol_dir):
    """3 training and 2 eval pairs: 96x64 crops of real LOL pairs."""
    return make_tiny_lol(tmp_path_factory.mktemp("LOL"), lol_dir, 3, 2)


def copy_authors_decom(workdir, reference_checkpoint):
    """Puts the authors' DecomNet where stages 2 and 3 look for it."""
    shutil.copytree(reference_checkpoint("decom_net_train"),
                    workdir / "checkpoint" / "decom_net_train")


def run(script, cwd, *args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, script), *args], cwd=cwd,
        capture_output=True, text=True, timeout=300,
    )


def assert_user_error(result, message):
    """Non-zero exit, no traceback, and one `error:` line (the last) saying `message`."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    assert message in errors[0], errors[0]


def checkpoint_numbers(workdir, script):
    folder = workdir / "checkpoint" / FOLDERS[script]
    state = tf.train.get_checkpoint_state(str(folder))
    return sorted(int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_trains_saves_and_resumes(script, tiny_lol, tmp_path, reference_checkpoint):
    workdir = tmp_path
    if script != "train_decom.py":
        copy_authors_decom(workdir, reference_checkpoint)
    first = run(script, workdir, f"--data_dir={tiny_lol}", "--epochs=2", *QUICK)
    assert first.returncode == 0, first.stderr
    assert "epochs 1..2" in first.stdout and "total:" in first.stdout
    assert checkpoint_numbers(workdir, script) == [1, 2]
    samples = sorted(os.listdir(workdir / "samples" / FOLDERS[script]))
    for epoch in (1, 2):
        for pattern in SAMPLES[script]:
            assert any(name.startswith(pattern.format(epoch)) for name in samples), samples
    assert os.listdir(workdir / "logs" / FOLDERS[script])

    second = run(script, workdir, f"--data_dir={tiny_lol}", "--epochs=3", *QUICK)
    assert second.returncode == 0, second.stderr
    assert "model.ckpt-2 at epoch 2" in second.stdout and "epochs 3..3" in second.stdout
    assert checkpoint_numbers(workdir, script) == [1, 2, 3]


def test_help_documents_every_flag():
    result = run("train_decom.py", REPO_ROOT, "--help")
    for flag in ("data_dir", "ckpt_dir", "sample_dir", "log_dir", "seed", "epochs", "batch_size",
                 "patch_size", "lr", "decay_every", "decay_factor", "save_every", "schedule",
                 "strategy", "precision", "allow_tf32"):
        assert f"--{flag}:" in result.stdout or f"--[no]{flag}:" in result.stdout, flag


def break_split(root, case):
    """Damages the LOL copy `root` for one error case."""
    low, high = root / "our485" / "low", root / "our485" / "high"
    if case == "empty":
        for path in list(low.iterdir()) + list(high.iterdir()):
            path.unlink()
    elif case == "unmatched":
        (high / sorted(os.listdir(high))[0]).rename(high / "renamed.png")
    elif case == "unreadable":
        (low / sorted(os.listdir(low))[0]).write_bytes(b"not an image")


@pytest.mark.parametrize("case, args, message", [
    ("missing", ["--data_dir=nowhere"], "folder 'nowhere/our485/low' does not exist"),
    ("empty", [], "no images in"),
    ("unmatched", [], "no partner of the same name"),
    ("small", ["--patch_size=80"], "is 96x64, smaller than the 80x80 training patch"),
    ("flag", ["--epochs=0"], "--epochs must be at least 1"),
])
def test_decom_script_reports_bad_input(case, args, message, tiny_lol, tmp_path):
    data_dir = tmp_path / "LOL"
    shutil.copytree(tiny_lol, data_dir)
    break_split(data_dir, case)
    result = run("train_decom.py", tmp_path, f"--data_dir={data_dir}", *QUICK[:1], *args)
    assert_user_error(result, message)
    assert not os.path.exists(tmp_path / "checkpoint")


def test_an_unreadable_pair_is_reported_and_skipped(tiny_lol, tmp_path):
    data_dir = tmp_path / "LOL"
    shutil.copytree(tiny_lol, data_dir)
    break_split(data_dir, "unreadable")
    result = run("train_decom.py", tmp_path, f"--data_dir={data_dir}", *QUICK[:1])
    assert result.returncode == 0, result.stderr
    assert "skipped: cannot read image" in result.stderr and "training on 2 of 3" in result.stderr
    assert os.path.exists(tmp_path / "checkpoint" / "decom_net_train")


@pytest.mark.parametrize("script", SCRIPTS[1:])
def test_later_stages_report_a_missing_decom_checkpoint(script, tiny_lol, tmp_path):
    result = run(script, tmp_path, f"--data_dir={tiny_lol}", "--epochs=1", *QUICK)
    assert_user_error(result, "no DecomNet checkpoint: folder 'checkpoint/decom_net_train' "
                              "not found; train it with train_decom.py")


def test_non_finite_loss_keeps_the_last_good_checkpoint(tiny_lol, tmp_path):
    assert run("train_decom.py", tmp_path, f"--data_dir={tiny_lol}", "--epochs=1",
               *QUICK).returncode == 0
    result = run("train_decom.py", tmp_path, f"--data_dir={tiny_lol}", "--epochs=3", "--lr=1e30",
                 *QUICK)
    assert_user_error(result, "loss became non-finite")
    # The diverged epoch is not saved; the message names the last checkpoint, which is kept.
    bad_epoch = int(re.search(r"in epoch (\d+)", result.stderr).group(1))
    assert checkpoint_numbers(tmp_path, "train_decom.py") == list(range(1, bad_epoch))
    assert f"model.ckpt-{bad_epoch - 1}' is kept" in result.stderr


MIRRORED = textwrap.dedent("""
    import os, runpy, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_mirrored_strategy_on_two_cpu_devices(tiny_lol, tmp_path):
    script = os.path.join(REPO_ROOT, "train_decom.py")
    args = [sys.executable, "-c", MIRRORED, script, f"--data_dir={tiny_lol}", "--epochs=2",
            "--strategy=mirrored", *QUICK]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 replica(s)" in result.stdout
    assert checkpoint_numbers(tmp_path, "train_decom.py") == [1, 2]
    odd = subprocess.run(args[:-3] + ["--batch_size=3", "--save_every=1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert_user_error(odd, "--batch_size 3 does not split evenly over 2 devices")
