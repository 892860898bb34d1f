"""Every numeric tolerance of the toolkit, in one place.

Floating-point agreement between two correct computations degrades with the
size of the numbers involved and with the conditioning of the problem, so each
tolerance is ``factor * eps * scale`` with ``scale`` computed from the data:

- ``rank_tol(A)``: an eigenvalue or singular value below this is zero
  (the numpy/LAPACK convention ``max(shape) * eps * ||A||_2``).
- ``agreement_tol(scale, cond, layers)``: two numeric routes to the same
  quantity (the LSA stack and the weight-space recursion) may differ by this,
  relative to ``scale``; rounding errors grow with the condition number and,
  at worst linearly, with the number of layers.
"""
from __future__ import annotations

import numpy as np

EPS = float(np.finfo(float).eps)
#: safety factor on top of the first-order rounding estimates below
FACTOR = 1e3


def rank_tol(A) -> float:
    """Threshold below which a singular value or eigenvalue of ``A`` counts as zero."""
    A = np.atleast_2d(np.asarray(A, dtype=float))
    if A.size == 0:
        return 0.0
    return max(A.shape) * EPS * float(np.linalg.norm(A, 2)) * 10


def agreement_tol(scale: float, cond: float = 1.0, layers: int = 1) -> float:
    """Absolute tolerance for two routes to a quantity of magnitude ``scale``."""
    return FACTOR * EPS * max(scale, 1.0) * max(cond, 1.0) * max(layers, 1)
