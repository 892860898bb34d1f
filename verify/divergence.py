"""A training loss that stops being finite: the step where it happened and the one line that stops the run.

Once a loss is NaN or infinite, Adam's moments and then every weight are NaN: nothing after that step
is a result.  Both trainers (:mod:`verify.train`, the LSA stack, and :mod:`verify.transformer_train`)
therefore check their losses, in chunks of :data:`CHECK_EVERY` steps so that the device is waited on
only now and then, and the weights after the last update (which no later loss checks) as one more
entry, ``sum`` of their entries in float64 (:func:`total`: finite exactly when every entry is).
"""
from __future__ import annotations

import numpy as np

from .errors import PromptError

#: how many steps run between two checks that the loss is still finite (each check waits for the device)
CHECK_EVERY = 50


class Diverged(PromptError):
    """The loss of step ``step`` was ``value`` (NaN or infinite); the message names the option to change."""

    def __init__(self, message: str, step: int, value: float):
        super().__init__(message)
        self.step, self.value = step, value

    @property
    def what(self) -> str:
        """What happened, without the field and the fix (for a caller that names its own options)."""
        return str(self).split("; ")[0].split(": ", 1)[-1]


def total(arrays) -> float:
    """``sum_a sum_ij a_ij`` in float64: finite exactly when every entry of every array is (float32 entries
    cannot overflow a float64 sum; NaN or inf anywhere makes it NaN or inf)."""
    return float(sum(np.sum(np.asarray(a, dtype=np.float64)) for a in arrays))


def check_finite(losses, start: int, steps: int, lr: float, overflowed: str, at_start: str, after: str = "") -> None:
    """Raise :class:`Diverged` at the first non-finite entry of ``losses`` (those of steps ``start, start + 1, ...``).

    At step 0 (the initial weights' loss, before any learning rate acted) the message is ``at_start``
    (its field first; ``{value}`` is replaced by the loss); later it names ``--lr``, with ``overflowed``
    saying what overflowed and ``after`` any more to say (what was kept, another fix).
    """
    bad = np.flatnonzero(~np.isfinite(np.asarray(losses, dtype=np.float64)))
    if not bad.size:
        return
    step, value = start + int(bad[0]), float(losses[bad[0]])
    if step == 0:
        raise Diverged(at_start.format(value=value), step, value)
    raise Diverged(f"lr: the training loss became {value} at step {step} of {steps} ({overflowed}); give a smaller "
                   f"--lr than {lr:g}{after}", step, value)
