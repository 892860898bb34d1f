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


def is_numeric(a) -> bool:
    """True for numpy and JAX arrays (the numeric path), False for SymPy objects."""
    return isinstance(a, np.ndarray) or _jax_numpy(a) is not None


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


# ----------------------------------------------------------------------------- rule logic (verify.rule)


def logic_kind(*values) -> str:
    """How an attention rule is evaluated on these index values: ``"z3"`` (z3 integers),
    ``"sympy"`` (SymPy integers or symbols) or ``"numeric"`` (Python ints, numpy arrays)."""
    if any(type(v).__module__.startswith("z3") for v in values):
        return "z3"
    if any(not isinstance(v, (bool, int, np.integer, np.ndarray)) for v in values):
        return "sympy"
    return "numeric"


def floordiv_z3(a, b):
    """Python's ``a // b`` over z3 integers (z3's ``/`` rounds so the remainder is >= 0)."""
    import z3

    if z3.is_int_value(b):  # a constant divisor: keep the formula linear and branch-free
        return a / b if b.as_long() > 0 else z3.If(a % b == 0, a / b, a / b - 1)
    return z3.If(b > 0, a / b, z3.If(a % b == 0, a / b, a / b - 1))


def mod_z3(a, b):
    """Python's ``a % b`` (sign of the divisor) over z3 integers: ``a - b (a // b)``."""
    return a - b * floordiv_z3(a, b)


def logic_ops(kind: str) -> dict:
    """The operators of a rule (``and or not``, comparisons, ``+ - * // %``, ``bool``) for a
    symbolic ``kind`` (``"z3"`` or ``"sympy"``); every one has Python's floor semantics."""
    if kind == "z3":
        import z3

        return {"and": z3.And, "or": z3.Or, "not": z3.Not, "bool": z3.BoolVal,
                "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                "//": floordiv_z3, "%": mod_z3,
                "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    import sympy

    return {"and": sympy.And, "or": sympy.Or, "not": sympy.Not, "bool": sympy.sympify,
            "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
            "//": lambda a, b: sympy.floor(sympy.sympify(a) / b), "%": lambda a, b: sympy.Mod(a, b),
            "<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge, "==": sympy.Eq, "!=": sympy.Ne}
