"""The three training scripts end to end, as a user runs them (subprocesses, tiny data)."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, make_tiny_lol
from kind_tf import checkpoints
from kind_tf.models import DecomNet
from test_summaries import read_events

pytestmark = pytest.mark.slow

SCRIPTS = ("train_decom.py", "train_restoration.py", "train_adjustment.py")
FOLDERS = {"train_decom.py": "decom_net_train",
           "train_restoration.py": "Restoration_net_train",
           "train_adjustment.py": "illumination_adjust_net_train"}
SAMPLES = {"train_decom.py": ["high_1_{}.png", "high_2_{}.png", "low_1_{}.png", "low_2_{}.png"],
           "train_restoration.py": ["eval_1_{}.png", "eval_2_{}.png"],
           "train_adjustment.py": ["h_eval_{}_1_", "h_eval_{}_2_"]}
STAGES = {"train_decom.py": "decom", "train_restoration.py": "restoration",
          "train_adjustment.py": "adjust"}
QUICK = ["--batch_size=2", "--patch_size=48", "--save_every=1"]


@pytest.fixture(scope="module")
def tiny_lol(tmp_path_factory, lol_dir):
    """3 training and 2 eval pairs: 96x64 crops of real LOL pairs."""
    return make_tiny_lol(tmp_path_factory.mktemp("LOL"), lol_dir, 3, 2)


@pytest.fixture(scope="module")
def even_lol(tmp_path_factory, lol_dir):
    """4 training pairs (2 steps of batch 2 an epoch) and 2 eval pairs."""
    return make_tiny_lol(tmp_path_factory.mktemp("LOL4"), lol_dir, 4, 2)


def copy_authors_decom(workdir, reference_checkpoint):
    """Puts the authors' DecomNet where stages 2 and 3 look for it."""
    shutil.copytree(reference_checkpoint("decom_net_train"),
                    workdir / "checkpoint" / "decom_net_train")


def run(script, cwd, *args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, script), *args], cwd=cwd,
        capture_output=True, text=True, timeout=300,
    )


def run_driver(stage, cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "kind_tf.train", f"--stage={stage}", *args], cwd=cwd,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True, text=True, timeout=300,
    )


def assert_user_error(result, message):
    """Non-zero exit, no traceback, and one `error:` line (the last) saying `message`."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    assert message in errors[0], errors[0]


def epoch_logs(stdout):
    """The `name: value` pairs of each epoch's progress line (Keras prints 4 significant
    digits when the output is not a terminal)."""
    return [dict((name, float(value)) for name, value in re.findall(r"(\w+): ([-\d.e+]+)", line))
            for line in stdout.splitlines() if re.match(r"\d+/\d+ - ", line)]


def assert_logged_as_printed(folder, stdout, epochs):
    """The TensorBoard log in `folder` has the loss means and learning rate of `epochs` that
    the progress lines of `stdout` print."""
    plugins, values = read_events(folder)
    printed = epoch_logs(stdout)
    assert len(printed) == len(epochs) and "total" in printed[0], stdout
    for name in printed[0]:
        assert plugins[name] == "scalars", name
        np.testing.assert_allclose([values[name][epoch] for epoch in epochs],
                                   [logs[name] for logs in printed], rtol=5e-4, atol=5e-5,
                                   err_msg=name)


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
    assert_logged_as_printed(workdir / "logs" / FOLDERS[script], first.stdout, [1, 2])

    # The driver the script is an alias of resumes the script's run.
    second = run_driver(STAGES[script], workdir, f"--data_dir={tiny_lol}", "--epochs=3", *QUICK)
    assert second.returncode == 0, second.stderr
    assert "model.ckpt-2 at epoch 2" in second.stdout and "epochs 3..3" in second.stdout
    assert checkpoint_numbers(workdir, script) == [1, 2, 3]


def test_help_documents_every_flag():
    result = run("train_decom.py", REPO_ROOT, "--help")
    for flag in ("data_dir", "ckpt_dir", "sample_dir", "tensorboard_dir", "seed", "epochs",
                 "batch_size", "patch_size", "lr", "decay_every", "decay_factor", "save_every",
                 "schedule", "strategy", "precision", "allow_tf32", "train_pairs",
                 "num_samples", "exclude_pairs", "data_mode", "memory_budget_gb", "cache_dir",
                 "illumination_prior_weight"):
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
    result = run("train_decom.py", tmp_path, f"--data_dir={data_dir}", "--epochs=1", *QUICK[:1])
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


def test_mirrored_strategy_on_two_cpu_devices(even_lol, tmp_path):
    """Two replicas train as one device does on the same global batches."""
    mirrored, single = tmp_path / "mirrored", tmp_path / "single"
    for workdir in (mirrored, single):
        workdir.mkdir()
    script = os.path.join(REPO_ROOT, "train_decom.py")
    # Two steps an epoch: a multi-step call would put the collectives in a loop.
    args = [sys.executable, "-c", MIRRORED, script, f"--data_dir={even_lol}", "--epochs=2",
            "--strategy=mirrored", *QUICK]
    result = subprocess.run(args, cwd=mirrored, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 replica(s)" in result.stdout
    assert checkpoint_numbers(mirrored, "train_decom.py") == [1, 2]
    alone = run("train_decom.py", single, f"--data_dir={even_lol}", "--epochs=2", *QUICK)
    assert alone.returncode == 0, alone.stderr
    assert "1 replica(s)" in alone.stdout
    assert_same_weights(mirrored, single, 2)
    odd = subprocess.run(args[:-3] + ["--batch_size=3", "--save_every=1"], cwd=mirrored,
                         capture_output=True, text=True, timeout=300)
    assert_user_error(odd, "--batch_size 3 does not split evenly over 2 devices")


def free_ports(count):
    """`count` localhost ports free right now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_cluster(script, workdirs, *args, timeout=300):
    """Runs `script` as a cluster of `len(workdirs)` workers on localhost, worker i in
    `workdirs[i]` with its temporary files in `<workdir>.tmp`; returns their (exit code,
    stdout, stderr). When one fails the others (which would wait for it forever) are
    killed, as are all at `timeout` seconds."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(len(workdirs))]}
    processes, logs = [], []
    try:
        for index, workdir in enumerate(workdirs):
            scratch = workdir.parent / f"{workdir.name}.tmp"
            scratch.mkdir(exist_ok=True)
            env = dict(os.environ, TMPDIR=str(scratch), TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}))
            # Files, not pipes: a worker blocked on a full pipe would stall the cluster.
            logs.append([open(workdir.parent / f"{workdir.name}.{name}", "w+")
                         for name in ("out", "err")])
            processes.append(subprocess.Popen(
                [sys.executable, os.path.join(REPO_ROOT, script), "--strategy=multi_worker",
                 *args], cwd=workdir, env=env, stdout=logs[-1][0], stderr=logs[-1][1]))
        deadline = time.monotonic() + timeout
        while any(process.poll() is None for process in processes):
            if time.monotonic() > deadline or any(process.poll() for process in processes):
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    results = []
    for process, files in zip(processes, logs):
        texts = []
        for file in files:
            file.seek(0)
            texts.append(file.read())
            file.close()
        results.append((process.returncode, *texts))
    return results


def listing(folder):
    """Every file under `folder` with its size and modification time."""
    return {(path, path.stat().st_size, path.stat().st_mtime_ns)
            for path in folder.rglob("*") if path.is_file()}


def trained_weights(workdir, epoch):
    """{TF1 name: array} of DecomNet's weights in checkpoint `epoch` under `workdir`."""
    net = DecomNet()
    checkpoints.load_weights(
        net, str(workdir / "checkpoint" / "decom_net_train" / f"model.ckpt-{epoch}"))
    return {name: variable.numpy() for name, variable in checkpoints.variable_map(net).items()}


def assert_same_weights(workdir, reference_workdir, epoch):
    """Checkpoint `epoch` of `workdir` holds the weights of `reference_workdir`'s to 1e-5,
    and training moved them: they are not the initialization both started from."""
    weights, reference = (trained_weights(folder, epoch) for folder in (workdir, reference_workdir))
    assert len(weights) == len(checkpoints.variable_map(DecomNet())) == len(reference)
    keras.utils.set_random_seed(0)  # The scripts' --seed 0: their initial weights.
    initial = {name: variable.numpy()
               for name, variable in checkpoints.variable_map(DecomNet()).items()}
    # Measured: moved up to 4.0e-4 (epoch 2) and 6.0e-4 (epoch 3) from the initialization,
    # and 1.3e-6 / 1.8e-6 apart at most (two replicas sum their gradients, which rounds
    # differently from one gradient of the batch, and Adam scales a gradient near 0 up).
    assert max(np.abs(weights[name] - initial[name]).max() for name in weights) > 1e-4
    for name, value in weights.items():
        np.testing.assert_allclose(value, reference[name], rtol=0, atol=1e-5, err_msg=name)


def test_multi_worker_strategy_on_two_local_processes(even_lol, tmp_path):
    """Two workers train as one device does, the chief writes, both resume."""
    chief, other, single = (tmp_path / name for name in ("chief", "other", "single"))
    for workdir in (chief, other, single):
        workdir.mkdir()
    args = [f"--data_dir={even_lol}", *QUICK]
    # One process on one device, the same global batches: checkpoints 1, 2 and 3.
    alone = run("train_decom.py", single, *args, "--epochs=3")
    assert alone.returncode == 0, alone.stderr
    for first, epochs in ((1, 2), (3, 3)):
        # The other worker stands for another host: its run folders (the defaults, under its
        # own folder) hold a copy of the chief's, as a shared filesystem would, and must stay
        # as they are.
        shutil.rmtree(other)
        shutil.copytree(chief, other)
        before = listing(other)
        results = run_cluster("train_decom.py", [chief, other], *args, f"--epochs={epochs}")
        for code, out, err in results:
            assert code == 0, err
            assert f"epochs {first}..{epochs}, 2 replica(s)" in out
            if first > 1:
                assert "resuming from checkpoint/decom_net_train/model.ckpt-2 at epoch 2" in out
        assert "(the chief" in results[0][1] and "(the chief" not in results[1][1]
        assert listing(other) == before
        assert not os.listdir(tmp_path / "other.tmp")  # Its scratch folder is gone too.
        assert checkpoint_numbers(chief, "train_decom.py") == list(range(1, epochs + 1))
        assert len(os.listdir(chief / "samples" / "decom_net_train")) == 4 * epochs
        if first == 1:  # One event file so far.
            assert_logged_as_printed(chief / "logs" / "decom_net_train", results[0][1], [1, 2])

        assert_same_weights(chief, single, epochs)


def test_multi_worker_strategy_without_tf_config_says_what_to_set(tiny_lol, tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train_decom.py"), f"--data_dir={tiny_lol}",
         "--strategy=multi_worker"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300)
    assert_user_error(result, "--strategy multi_worker needs the TF_CONFIG environment variable")
    assert not os.path.exists(tmp_path / "checkpoint")
