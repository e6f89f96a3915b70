"""What every command-line entry point shares: flags for the device, and clean user errors."""

import sys

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


def run(main):
    """`absl.app.run(main)` that reports a `UserError` as one line on stderr and exits 2."""

    def guarded_main(argv):
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded_main)
