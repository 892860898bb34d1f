"""The few array operations whose spelling differs between numpy, JAX and SymPy.

The model (``lsa.py``) is written once against these helpers so that the same
code runs on numpy float arrays (batched or not), on JAX arrays (``icl-verify
train`` differentiates it) and on SymPy matrices or matrix expressions.  SymPy
is imported only on the symbolic path; JAX is never imported here: a JAX array
can only exist once the caller has imported ``jax``.
"""
from __future__ import annotations

import sys

import numpy as np


def _jax_numpy(a):
    """``jax.numpy`` when ``a`` is a JAX array (or tracer), else None."""
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(a, jax.Array):
        return jax.numpy
    return None


def array_module(a):
    """The numpy-like module of a numeric array: ``numpy`` or ``jax.numpy``."""
    return _jax_numpy(a) or np


def is_numpy(a) -> bool:
    """True for numpy arrays: the path that may run loops of in-place numpy updates (not JAX, not SymPy)."""
    return isinstance(a, np.ndarray)


def is_numeric(a) -> bool:
    """True for numpy and JAX arrays (the numeric path), False for SymPy objects."""
    return isinstance(a, np.ndarray) or _jax_numpy(a) is not None


def _is_sympy(*values) -> bool:
    """True when some value is a SymPy object (SymPy is never imported here for numbers)."""
    sympy = sys.modules.get("sympy")
    return sympy is not None and any(isinstance(v, sympy.Basic) for v in values)


def maximum(a, b):
    """``max(a, b)``: elementwise for numbers and integer arrays, ``sympy.Max`` for SymPy expressions."""
    if _is_sympy(a, b):
        import sympy

        return sympy.Max(a, b)
    return np.maximum(a, b)


def minimum(a, b):
    """``min(a, b)``: elementwise for numbers and integer arrays, ``sympy.Min`` for SymPy expressions."""
    if _is_sympy(a, b):
        import sympy

        return sympy.Min(a, b)
    return np.minimum(a, b)


def transpose(a):
    """Swap the last two axes: ``a^T`` (batched for numpy and JAX)."""
    return array_module(a).swapaxes(a, -1, -2) if is_numeric(a) else a.T


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
        return _stack_module(blocks).vstack(blocks)
    import sympy

    return sympy.Matrix.vstack(*[sympy.Matrix(b) for b in blocks])


def hstack(blocks):
    """Stack blocks horizontally."""
    if all(is_numeric(b) for b in blocks):
        return _stack_module(blocks).hstack(blocks)
    import sympy

    return sympy.Matrix.hstack(*[sympy.Matrix(b) for b in blocks])


def _stack_module(blocks):
    """``jax.numpy`` when any block is a JAX array (numpy cannot stack tracers), else numpy."""
    return next((xp for xp in map(_jax_numpy, blocks) if xp is not None), np)
