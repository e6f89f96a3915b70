"""The installed commands (pyproject.toml's console scripts): each runs a tool's main.

`kind-enhance`, `kind-train`, `kind-app`, `kind-export` run `python -m kind_tf.<tool>`;
`kind-evaluate` runs the checkout's `evaluate.py` (the original's script name, at the top of
the repository, as the shipped weights in `pretrained/` are: an editable install).
"""

import importlib
import os
import runpy
import sys

from absl import flags

from kind_tf import cli

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module_name):
    """Defines the flags of `kind_tf.<module_name>` and runs its `main` under `cli.run`."""
    module = importlib.import_module(f"kind_tf.{module_name}")
    module.define_flags()
    # absl's --help lists the main module's flags, which for an installed command is the
    # command's own file, not the module that defines them.
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    cli.run(module.main)


def enhance():
    _run("enhance")


def train():
    _run("train")


def app():
    try:
        import gradio  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        sys.exit("error: kind-app needs Gradio: pip install -r requirements-app.txt")
    _run("app")


def export():
    _run("export")


def evaluate():
    script = os.path.join(CHECKOUT, "evaluate.py")
    if not os.path.isfile(script):
        sys.exit(f"error: kind-evaluate runs the checkout's evaluate.py, not found at "
                 f"{script}: install the checkout with pip install -e .")
    sys.argv[0] = script  # absl's --help lists the flags of the script it runs.
    runpy.run_path(script, run_name="__main__")
