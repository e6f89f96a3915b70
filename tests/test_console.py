"""The installed commands: pyproject.toml's console scripts and their --help."""

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from kind_tf import console

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as file:
    SCRIPTS = tomllib.load(file)["project"]["scripts"]


def test_every_command_is_a_function_of_the_console_module():
    assert sorted(SCRIPTS) == ["kind-app", "kind-enhance", "kind-evaluate", "kind-export",
                               "kind-train"]
    for command, target in SCRIPTS.items():
        module, function = target.split(":")
        assert module == "kind_tf.console" and callable(getattr(console, function)), command


# A command's own flags, one each, that its --help must list.
OWN_FLAG = {"kind-enhance": "--input", "kind-evaluate": "--no_reference",
            "kind-train": "--stage", "kind-app": "--port", "kind-export": "--format"}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(OWN_FLAG))
def test_help_lists_the_commands_flags(command, tmp_path):
    # As the installed script runs it: argv[0] is the command's file, not a kind_tf module.
    function = SCRIPTS[command].split(":")[1]
    code = (f"import sys; sys.argv[0] = {str(tmp_path / command)!r}; "
            f"from kind_tf import console; console.{function}()")
    result = subprocess.run([sys.executable, "-c", code, "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert f"{OWN_FLAG[command]}:" in result.stdout or \
        f"--[no]{OWN_FLAG[command][2:]}:" in result.stdout, result.stdout + result.stderr
    assert "--[no]allow_tf32:" in result.stdout  # the shared device flag too
