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
- ``power_norm_rtol(B, l, norm)``: ``||B^l||_2`` computed by two different
  products (non-normal powers are small through cancellation).
- Constants: ``NORMAL_EQUATIONS_MIN_RATIO`` (when least squares may use the
  normal equations), ``CONVERGED`` (how far the property suite runs a stable
  stack), ``SEMISIMPLE_MIN`` (when a zero eigenvalue counts as semisimple).
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


def power_norm_rtol(B, layer: int, norm: float) -> float:
    """Relative tolerance for ``||B^l||_2 = norm`` computed by two different products.

    A product of ``l`` factors of size ``n`` errs entrywise by at most about
    ``l n eps |B|^l`` (``|.|`` entrywise), so for a non-normal ``B``, whose power
    is small through cancellation, the error relative to ``||B^l||_2`` is
    ``l n eps || |B|^l ||_2 / ||B^l||_2`` (1 for a non-negative ``B``).
    """
    B = np.atleast_2d(np.asarray(B, dtype=float))
    if layer == 0 or norm == 0:
        return FACTOR * EPS
    majorant = float(np.linalg.norm(np.linalg.matrix_power(np.abs(B), layer), 2))
    return FACTOR * EPS * layer * B.shape[0] * max(majorant / norm, 1.0)


#: least squares through the normal equations (``verify.algorithms.least_squares_prefixes``)
#: only when ``lambda_min(X^T X) > this * lambda_max``, i.e. ``cond(X) < 1e4``: the squared
#: condition number then costs at most ~1e-8 relative accuracy; otherwise the pseudo-inverse
NORMAL_EQUATIONS_MIN_RATIO = 1e-8


#: the property suite runs a stable stack until ``||B^L||_2`` (on the residuals that reach the
#: weights) is below this target: far above rounding, far below the quantities compared; what is
#: left, ``CONVERGED * ||r^(0)||`` read out through ``N^+``, is added to the agreement tolerance
CONVERGED = 1e-10


#: the zero eigenvalue of ``N`` counts as semisimple when the left and right null
#: spaces meet at an angle whose sine (smallest singular value of ``L^T K``) is at
#: least this; a Jordan block gives 0, rounding gives about ``eps * cond``.
SEMISIMPLE_MIN = 1e-8


#: ``derive --fit``: a learned layer implements preconditioned GD when its relative distance to the
#: nearest member of P10's family is at most this (the default of ``--tol``)
FIT_DISTANCE_TOL = 0.05


def conformance_tol(majorant, terms: int):
    """Two float64 evaluations of the same sums may differ by this (``prove``'s E0).

    ``majorant`` bounds, entrywise, the sum of the absolute values of every term that enters
    (``|a| + (eta/c) sum |a_i| |x_i|^T |Gamma| |x_j|`` layer by layer); each of ``terms``
    additions and products rounds by at most ``eps`` of it.  Relative to the data, never absolute.
    """
    return FACTOR * EPS * max(terms, 1) * np.asarray(majorant, dtype=float)
