"""A training run's progress on one line that redraws itself: epoch, metrics, time.

    history = model.fit(data, epochs=30, verbose=0, callbacks=[EpochProgress("d=32")])
    # d=32: epoch 7/30  loss 0.8121  rmse 0.8934  val_rmse 0.9418  2.4 s

Keras's own progress bar (``verbose=1``) redraws after every step and, in a
notebook, leaves a block of text per epoch; ``verbose=2`` prints two lines an
epoch. :class:`EpochProgress` rewrites a single line after each epoch with a
carriage return, which JupyterLab, Colab and terminals honour, so a run of
thirty epochs shows as one live line. It writes to standard output (a graded
cell's standard error is noise to the grader) and writes nothing while the
grader runs the notebook (``RECSYS_GRADER_GUARDED``): nobody watches there, and
feedback pages stay clean.
"""

from __future__ import annotations

import sys
import time

import keras

from .progress import progress_wanted


class EpochProgress(keras.callbacks.Callback):
    """After each epoch, redraw one line with the epoch, the logged metrics and the time so far.

    Args:
        label: what is training, at the start of the line.
        keep: leave the last line when training ends (False: erase it, for a
            cell that prints its own summary next).
        stream: where to write (default: ``sys.stdout`` at the time of writing,
            which is the cell's output in Jupyter).
    """

    def __init__(self, label: str = "", keep: bool = True, stream=None):
        super().__init__()
        self.label, self.keep, self.stream = label, keep, stream
        self.line, self.start = "", time.perf_counter()

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text)
        stream.flush()

    def on_train_begin(self, logs=None):
        self.line, self.start = "", time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not progress_wanted():
            return
        metrics = "  ".join(f"{name} {float(value):.4f}" for name, value in (logs or {}).items()
                            if name != "learning_rate")
        prefix = f"{self.label}: " if self.label else ""
        text = (f"{prefix}epoch {epoch + 1}/{self.params.get('epochs', '?')}  {metrics}  "
                f"{time.perf_counter() - self.start:.1f} s")
        self._write("\r" + text.ljust(len(self.line)))  # pad: a shorter line must cover the longer one
        self.line = text

    def on_train_end(self, logs=None):
        if not self.line:
            return
        if self.keep:
            stopped = ", stopped early" if getattr(self.model, "stop_training", False) else ""
            self._write(f"{stopped}\n")
        else:
            self._write("\r" + " " * len(self.line) + "\r")
        self.line = ""
