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


# ---------------------------------------------------------------- representation predicates
#
# The model's modules (construction, masks, normalizers, lsa) never test the type of an
# argument themselves: every such test is one of the helpers below, so the dispatch between
# numpy, JAX, SymPy and Python numbers lives in this file only (tests/test_backend_only.py).


def _sympy():
    """The ``sympy`` module if it is loaded, else None (a SymPy object cannot exist without it)."""
    return sys.modules.get("sympy")


def is_sympy(a) -> bool:
    """True for a SymPy object (symbol, expression, Boolean, matrix, matrix expression)."""
    sympy = _sympy()
    return sympy is not None and isinstance(a, (sympy.Basic, sympy.MatrixBase))


def is_number(a) -> bool:
    """True for a concrete real number: Python int/float or a numpy scalar (not bool-like SymPy)."""
    return isinstance(a, (int, float, np.integer, np.floating))


def is_integer(a) -> bool:
    """True for a concrete integer: a Python int or a numpy integer (a size, not a SymPy symbol)."""
    return isinstance(a, (int, np.integer))


def is_concrete(*values) -> bool:
    """True when every value is a concrete number, numpy array or None (no SymPy object)."""
    return not any(is_sympy(v) for v in values if v is not None) and all(
        v is None or is_number(v) or isinstance(v, np.ndarray) for v in values)


# ---------------------------------------------------------------- boolean algebra of attention rules


def logical_and(*terms):
    """``t1 & t2 & ...`` for Python bools, numpy boolean arrays or SymPy Booleans (then ``sympy.And``)."""
    if any(is_sympy(t) for t in terms):
        return _sympy().And(*terms)
    out = terms[0]
    for t in terms[1:]:
        out = np.logical_and(out, t)
    return out


def logical_or(*terms):
    """``t1 | t2 | ...`` (``sympy.Or`` on SymPy Booleans)."""
    if any(is_sympy(t) for t in terms):
        return _sympy().Or(*terms)
    out = terms[0]
    for t in terms[1:]:
        out = np.logical_or(out, t)
    return out


def logical_not(term):
    """``~t`` (``sympy.Not`` on a SymPy Boolean; never Python's ``~True == -2``)."""
    return _sympy().Not(term) if is_sympy(term) else np.logical_not(term)


def truth(value):
    """A rule's value as the caller's type: a Python ``bool`` for scalar ints, the boolean array
    for arrays, the SymPy Boolean for symbols."""
    if is_sympy(value):
        return value
    return bool(value) if np.ndim(value) == 0 else value


# ---------------------------------------------------------------- matrices of a given dimension


class _Numeric:
    """Dense numpy matrices (float64): the numeric instance of a construction."""

    @staticmethod
    def eye(size):
        return np.eye(size)

    @staticmethod
    def zeros(rows, cols):
        return np.zeros((rows, cols))

    @staticmethod
    def matrix(a, size):
        return np.asarray(a, dtype=float).reshape(size, size)

    @staticmethod
    def scale(value, a):
        return float(value) * a

    @staticmethod
    def diag(a, b):
        out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]))
        out[: a.shape[0], : a.shape[1]] = a
        out[a.shape[0]:, a.shape[1]:] = b
        return out


class _Explicit:
    """Explicit SymPy matrices (an int dimension with SymPy entries: exact or symbolic values)."""

    @staticmethod
    def eye(size):
        return _sympy().eye(size)

    @staticmethod
    def zeros(rows, cols):
        return _sympy().zeros(rows, cols)

    @staticmethod
    def matrix(a, size):
        return _sympy().Matrix(a).reshape(size, size)

    @staticmethod
    def scale(value, a):
        return value * a

    @staticmethod
    def diag(a, b):
        return _sympy().diag(a, b)


class _Blocks:
    """SymPy matrix expressions at a symbolic dimension: ``Identity``, ``ZeroMatrix``, 2 x 2 ``BlockMatrix``."""

    @staticmethod
    def eye(size):
        return _sympy().Identity(size)

    @staticmethod
    def zeros(rows, cols):
        return _sympy().ZeroMatrix(rows, cols)

    @staticmethod
    def matrix(a, size):
        return a

    @staticmethod
    def scale(value, a):
        return value * a

    @staticmethod
    def diag(a, b):
        sympy = _sympy()
        return sympy.BlockMatrix([[a, sympy.ZeroMatrix(a.rows, b.cols)], [sympy.ZeroMatrix(b.rows, a.cols), b]])


def matrices(size, *entries):
    """The matrix family for a ``size x size`` construction with these scalar/matrix ``entries``.

    A SymPy ``size`` gives matrix expressions (blocks over symbolic dimensions); an int ``size``
    with any SymPy entry gives explicit SymPy matrices; otherwise numpy float64 arrays.  The
    families share ``eye(n)``, ``zeros(r, c)``, ``matrix(a, n)``, ``scale(x, A)``, ``diag(A, B)``.
    """
    if not is_integer(size):
        if size is None or not is_sympy(size):
            raise TypeError(f"a dimension must be an int or a SymPy symbol, got {size!r}")
        return _Blocks
    if any(is_sympy(e) for e in entries if e is not None):
        return _Explicit
    return _Numeric


def is_interval_mask(mask) -> bool:
    """True for a mask kept as its rule, each token reading one interval of examples
    (``verify.masks.NamedMask``, which has ``bounds()``): the associative layer and the
    ``O(n)`` count normalizer apply; False for a boolean matrix (numpy or SymPy) or None."""
    return callable(getattr(mask, "bounds", None))


def index_pair(index) -> tuple:
    """A 2-axis index as a pair: ``mask[rows]`` is ``mask[rows, :]``."""
    index = index if isinstance(index, tuple) else (index,)
    if len(index) == 1:
        index = (index[0], slice(None))
    if len(index) != 2:
        raise IndexError(f"a mask has 2 axes, got {len(index)} indices")
    return index


def index_positions(ix, size: int) -> tuple:
    """One axis of a mask index as int64 positions, and whether it is an advanced (array or integer) index."""
    if isinstance(ix, slice):
        return np.arange(*ix.indices(size), dtype=np.int64), False
    a = np.asarray(ix)
    if a.dtype == bool:
        if a.shape != (size,):
            raise IndexError(f"a boolean index of shape {a.shape} on an axis of length {size}")
        return np.flatnonzero(a).astype(np.int64), True
    if not np.issubdtype(a.dtype, np.integer):
        raise IndexError(f"mask indices must be integers, slices or boolean arrays, got dtype {a.dtype}")
    a = np.where(a < 0, a + size, a).astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= size):
        raise IndexError(f"mask index out of range for an axis of length {size}")
    return a, True


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
