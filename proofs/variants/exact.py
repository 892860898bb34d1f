"""Exact arithmetic for the variant claims: the residual operator read off the package's layer,
stability tests without eigenvalue approximations, and small rational matrix helpers.

Matrices are lists of rows of :class:`fractions.Fraction`.  Nothing here re-defines the
model: :func:`residual_operator` and :func:`query_increment` run :func:`verify.lsa.lsa_layer`
with the variant's mask (:mod:`verify.masks` / :mod:`verify.rule`), normalizer
(:func:`verify.normalizers.normalizer`) and construction on exact SymPy tokens, at ``eta = 1``
(the step size multiplies ``P V``; SPEC section 6: ``r <- r - eta N r``).

Stability (``rho(B) < 1``) is decided exactly from the characteristic polynomial: the
Moebius map ``z = (1 + s)/(1 - s)`` takes the open unit disk to the open left half-plane,
and a real polynomial has all roots there iff its Routh array's first column is positive
(Routh-Hurwitz; a zero entry means a root on or right of the axis).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

Mat = list  # list[list[Fraction]]


def frac(value) -> Fraction:
    """An exact number (int, Fraction, SymPy Rational, binary-exact float) as a Fraction."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, (float, np.floating)):
        return Fraction(float(value))
    value = sp.sympify(value) if not isinstance(value, sp.Basic) else value
    if isinstance(value, sp.Float):
        return Fraction(float(value))
    if not value.is_Rational:
        raise ValueError(f"{value} is not rational")
    return Fraction(int(value.p), int(value.q))


def text(value: Fraction) -> str:
    """``"3/7"``, ``"-2"``: the witness spelling of a rational."""
    value = frac(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def texts(values) -> list:
    return [texts(v) if isinstance(v, (list, tuple)) else text(v) for v in values]


def parse(value) -> Fraction:
    """Inverse of :func:`text` (also accepts ints)."""
    return Fraction(value) if isinstance(value, (int, str)) else frac(value)


def identity(n: int) -> Mat:
    return [[Fraction(int(a == b)) for b in range(n)] for a in range(n)]


def matmul(A: Mat, B: Mat) -> Mat:
    cols = list(zip(*B, strict=False))
    return [[sum((a * b for a, b in zip(row, col, strict=False)), Fraction(0)) for col in cols] for row in A]


def matvec(A: Mat, v: Sequence[Fraction]) -> list:
    return [sum((a * b for a, b in zip(row, v, strict=False)), Fraction(0)) for row in A]


def sub(A: Mat, B: Mat) -> Mat:
    return [[a - b for a, b in zip(ra, rb, strict=False)] for ra, rb in zip(A, B, strict=False)]


def scale(A: Mat, s: Fraction) -> Mat:
    return [[s * a for a in row] for row in A]


def iteration(N: Mat, eta: Fraction) -> Mat:
    """``B = I - eta N``."""
    return sub(identity(len(N)), scale(N, eta))


def power(B: Mat, layer: int) -> Mat:
    out = identity(len(B))
    for _ in range(layer):
        out = matmul(out, B)
    return out


def det(A: Mat) -> Fraction:
    """Determinant by fraction-exact Gaussian elimination."""
    A = [list(row) for row in A]
    n, out = len(A), Fraction(1)
    for col in range(n):
        pivot = next((r for r in range(col, n) if A[r][col] != 0), None)
        if pivot is None:
            return Fraction(0)
        if pivot != col:
            A[col], A[pivot] = A[pivot], A[col]
            out = -out
        out *= A[col][col]
        for r in range(col + 1, n):
            f = A[r][col] / A[col][col]
            A[r] = [a - f * b for a, b in zip(A[r], A[col], strict=False)]
    return out


def solve(A: Mat, b: Sequence[Fraction]) -> list | None:
    """``A^{-1} b`` exactly, or None when ``A`` is singular."""
    n = len(A)
    M = [list(row) + [b[r]] for r, row in enumerate(A)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if M[r][col] != 0), None)
        if pivot is None:
            return None
        M[col], M[pivot] = M[pivot], M[col]
        M[col] = [a / M[col][col] for a in M[col]]
        for r in range(n):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * c for a, c in zip(M[r], M[col], strict=False)]
    return [M[r][n] for r in range(n)]


def charpoly(A: Mat) -> list:
    """Coefficients of ``det(z I - A)``, highest degree first (exact, python-flint's ``fmpq_mat.charpoly``)."""
    import flint

    if not A:
        return [Fraction(1)]
    M = flint.fmpq_mat(len(A), len(A), [flint.fmpq(a.numerator, a.denominator) for row in A for a in row])
    return [Fraction(int(c.p), int(c.q)) for c in reversed(M.charpoly().coeffs())]


def routh_hurwitz(coeffs: Sequence[Fraction]) -> bool:
    """True iff every root of the real polynomial (highest degree first) has negative real part."""
    coeffs = [frac(c) for c in coeffs]
    while coeffs and coeffs[0] == 0:
        coeffs = coeffs[1:]
    if not coeffs:
        return False
    if coeffs[0] < 0:
        coeffs = [-c for c in coeffs]
    if len(coeffs) == 1:
        return True
    rows = [coeffs[0::2], coeffs[1::2]]
    width = len(rows[0])
    rows[1] = rows[1] + [Fraction(0)] * (width - len(rows[1]))
    first = [rows[0][0], rows[1][0]]
    for _ in range(len(coeffs) - 2):
        upper, lower = rows[-2], rows[-1]
        if lower[0] <= 0:
            return False
        new = [(lower[0] * upper[k + 1] - upper[0] * lower[k + 1]) / lower[0] for k in range(width - 1)] + [Fraction(0)]
        rows.append(new)
        first.append(new[0])
    return all(f > 0 for f in first)


def _poly_mul(a: list, b: list) -> list:
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def iteration_charpoly(pN: Sequence[Fraction], eta: Fraction) -> list:
    """``det(z I - (I - eta N))`` from ``p_N = det(t I - N)`` (highest first), without forming ``B``:
    ``(-1)^n eta^n p_N((1 - z)/eta) = (-1)^n sum_k a_k eta^k (1 - z)^(n-k)``."""
    n = len(pN) - 1
    out = [Fraction(0)] * (n + 1)
    for k, a in enumerate(pN):
        term = [Fraction(1)]
        for _ in range(n - k):
            term = _poly_mul(term, [Fraction(-1), Fraction(1)])  # (1 - z) = (-z + 1)
        term = [Fraction(0)] * (n + 1 - len(term)) + term
        out = [x + (-1) ** n * a * eta ** k * y for x, y in zip(out, term, strict=False)]
    return out


def schur_stable(B: Mat) -> bool:
    """True iff every eigenvalue of ``B`` has modulus < 1 (exact; see module docstring)."""
    return schur_stable_poly(charpoly(B))


def schur_stable_poly(p: Sequence[Fraction]) -> bool:
    """True iff every root of ``p`` (highest first, monic) has modulus < 1.

    ``q(s) = (1 - s)^n p((1 + s)/(1 - s))``; ``-1`` is a root iff ``q`` loses degree,
    which the Routh test then refuses.
    """
    n = len(p) - 1
    q = [Fraction(0)] * (n + 1)
    for k, a in enumerate(p):  # a z^(n-k) -> a (1+s)^(n-k) (1-s)^k
        term = [Fraction(1)]
        for _ in range(n - k):
            term = _poly_mul(term, [Fraction(1), Fraction(1)])  # (s + 1), highest first
        for _ in range(k):
            term = _poly_mul(term, [Fraction(-1), Fraction(1)])  # (1 - s) = (-s + 1)
        q = [x + a * y for x, y in zip(q, term, strict=False)]
    if q[0] == 0:
        return False
    return routh_hurwitz(q)


def right_half_plane(N: Mat, p: Sequence[Fraction] | None = None) -> bool:
    """True iff every eigenvalue of ``N`` has positive real part (some ``eta`` makes ``I - eta N`` stable)."""
    p = charpoly(N) if p is None else p
    n = len(p) - 1
    return routh_hurwitz([c * (-1) ** (n - k) for k, c in enumerate(p)])  # roots of p(-s)


def positive_definite(A: Mat) -> bool:
    """Sylvester's criterion for a symmetric ``A``: every leading principal minor > 0."""
    return all(det([row[:k] for row in A[:k]]) > 0 for k in range(1, len(A) + 1))


def rational_eigenvalues(A: Mat) -> list:
    """The rational roots of the characteristic polynomial (exact)."""
    z = sp.Symbol("z")
    poly = sp.Poly([sp.Rational(c.numerator, c.denominator) for c in charpoly(A)], z)
    return sorted({frac(r) for r in poly.ground_roots() if r.is_Rational}) if poly.degree() > 0 else []


def sq(v: Sequence[Fraction]) -> Fraction:
    return sum((a * a for a in v), Fraction(0))


def is_symmetric(A: Mat) -> bool:
    return all(A[a][b] == A[b][a] for a in range(len(A)) for b in range(a))


def to_float(A: Mat) -> np.ndarray:
    return np.array([[float(a) for a in row] for row in A], dtype=float)


# ----------------------------------------------------------------------------- the model, exactly


@dataclass(frozen=True)
class Model:
    """A variant at one prompt size: the mask (numpy bool), normalizers and construction.

    c : exact normalizers (one per token); kq, pv : SymPy matrices at ``eta = 1``.
    """

    mask: np.ndarray
    c: tuple
    kq: sp.Matrix
    pv: sp.Matrix

    @property
    def n(self) -> int:
        return self.mask.shape[0] - self.m_queries

    m_queries: int = 0


def model(attention, kind: str, scale, kq: sp.Matrix, pv: sp.Matrix, n: int, m: int) -> Model:
    """Mask from the attention's one definition, normalizers from ``verify.normalizers``."""
    from verify.normalizers import normalizer

    mask = np.asarray(attention.mask(n, m), dtype=bool)
    if kind == "constant":
        c = normalizer("constant", mask, sp.Rational(scale.numerator, scale.denominator))
    else:
        c = normalizer(kind, mask, 1.0)
    return Model(mask, tuple(frac(v) for v in c), kq, pv, m)


def _layer(mod: Model, X: Mat, r: Sequence[Fraction], Xq: Mat):
    """One layer of :func:`verify.lsa.lsa_layer` on tokens ``[x_i; r_i]``, ``[x_q; 0]`` (exact)."""
    from verify.construction import Construction
    from verify.lsa import lsa_layer

    d = mod.kq.shape[0] - 1
    if len(Xq) != mod.m_queries:  # nothing reads a query: placeholders leave the examples unchanged
        Xq = list(Xq) + [[Fraction(0)] * d] * (mod.m_queries - len(Xq))
    R = lambda v: sp.Rational(v.numerator, v.denominator)  # noqa: E731
    cols = [[R(a) for a in x] + [R(ri)] for x, ri in zip(X, r, strict=False)] + [[R(a) for a in xq] + [0] for xq in Xq]
    Z = sp.Matrix(d + 1, len(cols), lambda a, b: cols[b][a])
    con = Construction(K=sp.eye(d + 1), Q=mod.kq, V=mod.pv, P=sp.eye(d + 1))
    c = [sp.Rational(v.numerator, v.denominator) for v in mod.c]
    return Z, lsa_layer(Z, con, mod.mask, c)


def residual_operator(mod: Model, X: Mat) -> Mat:
    """``N`` with ``r <- r - N r`` for one layer at ``eta = 1`` (column ``k``: residual ``e_k``).

    Valid as the residual dynamics when the construction is in P10's family (V1)."""
    n = len(X)
    cols = []
    for k in range(n):
        e = [Fraction(int(a == k)) for a in range(n)]
        Z, out = _layer(mod, X, e, [])
        d = Z.shape[0] - 1
        cols.append([frac(Z[d, a] - out[d, a]) for a in range(n)])
    return [[cols[b][a] for b in range(n)] for a in range(n)]


def query_increment(mod: Model, X: Mat, s: Sequence[Fraction], Xq: Mat) -> list:
    """Each query's prediction gained from one layer at ``eta = 1`` with example residuals ``s``:
    minus the change of its last coordinate.  Linear in ``s``, so with ``s = sum_l eta r^(l)`` it is
    the prediction after all those layers (SPEC section 6)."""
    Z, out = _layer(mod, X, s, Xq)
    d, n = Z.shape[0] - 1, len(X)
    return [-frac(out[d, n + q] - Z[d, n + q]) for q in range(len(Xq))]


def least_squares_predictions(X: Mat, y: Sequence[Fraction], Xq: Mat) -> list:
    """``y^T X^+ x_q`` with the exact Moore-Penrose pseudo-inverse (SymPy)."""
    R = lambda v: sp.Rational(v.numerator, v.denominator)  # noqa: E731
    Xs = sp.Matrix([[R(a) for a in row] for row in X])
    w = sp.Matrix([[R(v) for v in y]]) * Xs.T.pinv()
    return [frac((w * sp.Matrix([R(a) for a in xq]))[0, 0]) for xq in Xq]
