"""Tests for kind_tf.cli: user errors are one line on stderr with exit code 2."""

import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = """
import tensorflow as tf
from kind_tf import cli
from kind_tf.errors import UserError

def main(argv):
    print(cli.configure_device())
    print(f"tf32: {tf.config.experimental.tensor_float_32_execution_enabled()}")
    raise UserError("flag --data_dir: folder 'x' does not exist")

cli.run(main)
"""


def _run(*args):
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], cwd=REPO_ROOT, capture_output=True, text=True
    )


def test_user_error_is_one_line_exit_2():
    result = _run()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: flag --data_dir: folder 'x' does not exist"
    )
    device = result.stdout.splitlines()[0]
    assert device == "CPU" or device.startswith("GPU")


def test_allow_tf32_flag_reaches_the_device_set_up():
    # TensorFlow's own default is TF32 on; configure_device applies the flag either way.
    assert "tf32: False" in _run().stdout.splitlines()
    assert "tf32: True" in _run("--allow_tf32").stdout.splitlines()
    assert "tf32: False" in _run("--noallow_tf32").stdout.splitlines()
    assert "Unknown command line flag" in _run("--no_such_flag").stderr
