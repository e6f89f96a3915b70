"""The one progress bar of the command-line tools."""

import sys

import keras


def progress_bar(total, unit, stateful_metrics=(), verbose=1):
    """A Keras progress bar over `total` `unit`s: redrawn in place on a terminal, a line
    every 10 s in a log file (not one per item). `stateful_metrics` are shown as given (e.g.
    running means), not averaged again; `verbose` as Keras' (0 silent, 2 the last line)."""
    return keras.utils.Progbar(total, verbose=verbose, unit_name=unit,
                               stateful_metrics=stateful_metrics,
                               interval=0.05 if sys.stdout.isatty() else 10)
