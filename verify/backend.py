"""The few array operations whose spelling differs between numpy and SymPy.

The model (``lsa.py``) is written once against these helpers so that the same
code runs on numpy float arrays (batched or not) and on SymPy matrices or
matrix expressions.  SymPy is imported only on the symbolic path.
"""
from __future__ import annotations

import numpy as np


def is_numeric(a) -> bool:
    """True for numpy arrays (the numeric path), False for SymPy objects."""
    return isinstance(a, np.ndarray)


def transpose(a):
    """Swap the last two axes: ``a^T`` (batched for numpy)."""
    return np.swapaxes(a, -1, -2) if is_numeric(a) else a.T


def hadamard(a, mask):
    """Entrywise product ``a ∘ mask`` with a boolean mask; ``mask=None`` means all ones."""
    if mask is None:
        return a
    if is_numeric(a):
        return a * mask
    import sympy

    return a.multiply_elementwise(sympy.Matrix(np.asarray(mask, dtype=int)))


def scale_columns(a, c):
    """``a · diag(1/c)``: divide column ``j`` by ``c_j`` (``c`` scalar or vector)."""
    if np.ndim(c) == 0:
        return a / c if is_numeric(a) else a * (1 / _exact(c))
    if is_numeric(a):
        return a / np.asarray(c, dtype=float)
    import sympy

    return a * sympy.diag(*[1 / _exact(cj) for cj in c])


def _exact(value):
    """A normalizer as an exact SymPy number (floats such as counts are binary-exact)."""
    import sympy

    if isinstance(value, (int, float, np.integer, np.floating)):
        return sympy.Rational(float(value)) if not isinstance(value, (int, np.integer)) else sympy.Integer(int(value))
    return value


def vstack(blocks):
    """Stack blocks vertically."""
    if all(is_numeric(b) for b in blocks):
        return np.vstack(blocks)
    import sympy

    return sympy.Matrix.vstack(*[sympy.Matrix(b) for b in blocks])


def hstack(blocks):
    """Stack blocks horizontally."""
    if all(is_numeric(b) for b in blocks):
        return np.hstack(blocks)
    import sympy

    return sympy.Matrix.hstack(*[sympy.Matrix(b) for b in blocks])
