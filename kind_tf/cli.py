"""What every command-line entry point shares: flags for the device, and clean user errors."""

import sys

import keras
from absl import app, flags

from kind_tf import runtime
from kind_tf.errors import UserError

flags.DEFINE_bool(
    "allow_tf32",
    False,
    "Allow TF32 matmuls/convolutions on NVIDIA GPUs (faster; outputs then differ from the "
    "original by more than 1e-5). Default: exact fp32.",
)


def configure_device():
    """Applies the device flags; returns a description of the device in use."""
    return runtime.configure(allow_tf32=flags.FLAGS.allow_tf32)


def progress_bar(total, unit, stateful_metrics=(), verbose=1):
    """A Keras progress bar over `total` `unit`s: redrawn in place on a terminal, a line
    every 10 s in a log file (not one per item). `stateful_metrics` are shown as given (e.g.
    running means), not averaged again; `verbose` as Keras' (0 silent, 2 the last line)."""
    return keras.utils.Progbar(total, verbose=verbose, unit_name=unit,
                               stateful_metrics=stateful_metrics,
                               interval=0.05 if sys.stdout.isatty() else 10)


def run(main):
    """`absl.app.run(main)` that reports a `UserError` as one line on stderr and exits 2."""

    def guarded_main(argv):
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded_main)
