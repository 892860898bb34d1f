"""The standard results the proofs lean on without machine-checking them (assumptions as data).

A proof that uses one of these lists its id in ``Result.assumes``; its status is then
``conditional`` rather than ``proved``.  Each entry carries a precise statement, a
textbook reference and a spot check that runs with ``icl-verify prove`` (an exact or
numeric instance: it can catch a misstatement, it does not prove the result).

Keep the list short: what can be derived is derived in the proofs themselves.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from .formal import Conclusions


@dataclass(frozen=True)
class Assumption:
    """A named standard result: ``id``, ``statement`` (text), ``formal`` (the statement as data: a SymPy
    Boolean or a list of them over the named symbols below), ``reference`` and a ``spot_check``.

    ``spot_check(formal) -> bool`` evaluates *the given formula* on many instances (random and boundary
    cases) whose symbols it computes from concrete matrices; the registry passes the formula registered
    in :data:`ASSUMPTIONS` at call time, so a misstated formula fails its spot check.
    """

    id: str
    statement: str
    reference: str
    spot_check: Callable[[Any], bool]
    spot_check_text: str
    formal: Any = None


# ---------------------------------------------------------------- the named symbols of the statements

#: the size of a family, its index and the family of eigenvalues lambda_1..lambda_n
SIZE = sp.Symbol("n", integer=True, positive=True)
IDX = sp.Symbol("i", integer=True, positive=True)
LAM = sp.IndexedBase("lambda")
#: a real polynomial p and ||p(A)||_2
POLY = sp.Function("p")
NORM_PA = sp.Symbol("norm_pA", nonnegative=True)
#: Boolean hypotheses / quantities: A is symmetric; v != 0; |A| <= B entrywise; A is block lower triangular;
#: B^l -> 0; w solves the normal equations
SYMMETRIC, NONZERO, DOMINATED, BLOCK_LOWER, CONVERGES, SOLVES = sp.symbols(
    "symmetric v_nonzero abs_A_le_B block_lower converges w_solves")
#: the spectral radius rho(B) and lim_l ||B^l||^(1/l)
RHO = sp.Symbol("rho", nonnegative=True)
GELFAND_LIMIT = sp.Symbol("lim_norm_root", nonnegative=True)
#: the Rayleigh quotient v^T A v / v^T v and the extreme eigenvalues of A
QUOTIENT, LAM_MIN, LAM_MAX = sp.symbols("q lambda_min lambda_max", real=True)
#: 2-norms ||A||, ||B||, ||A B||, ||A + B||, || |A| ||
NORM_A, NORM_B, NORM_AB, NORM_APB, NORM_ABS_A = sp.symbols("norm_A norm_B norm_AB norm_ApB norm_absA",
                                                            nonnegative=True)
#: least squares: ||y X^+ X X^T - y X^T||^2, ||y X^+||^2, ||w||^2, sum_v (y X^+ v)^2 over a basis of null(X X^T)
RESIDUAL_PINV, NORM_PINV, NORM_W, CROSS_NULL = sp.symbols("res_pinv norm_pinv_sq norm_w_sq cross_null",
                                                          nonnegative=True)
#: det(z I - A) and prod_b det(z I - A_bb) at a point z
DET, DET_BLOCKS = sp.symbols("det_zI_minus_A prod_det_blocks", real=True)


# ---------------------------------------------------------------- instances


def _rng():
    return np.random.default_rng(20230806)


def _householder(v) -> sp.Matrix:
    """``I - 2 v v^T / v^T v``: a rational orthogonal matrix (exact) from a non-zero rational vector."""
    v = sp.Matrix(v)
    return sp.eye(v.rows) - 2 * v * v.T / (v.T * v)[0]


def _symmetric_instances():
    """``(A, eigenvalues, eigenvectors)`` exact: ``A = H diag(D) H^T`` with ``H`` rational orthogonal
    (the eigenvalues are exactly ``D``), including the zero matrix, repeated and zero eigenvalues."""
    rng = _rng()
    diagonals = [[0, 0, 0], [1, 1], [2, 2, 3], [4, 2, 0], [5], [-1, 3, 3, 0], [sp.Rational(1, 3), -2, 7, 7, 1]]
    for _ in range(8):
        size = int(rng.integers(1, 6))
        diagonals.append([sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 4))) for _ in range(size)])
    out = []
    for D in diagonals:
        n = len(D)
        v = [int(rng.integers(-3, 4)) for _ in range(n)]
        H = _householder(v) if any(v) else sp.eye(n)
        A = H * sp.diag(*D) * H.T
        out.append((A, [sp.sympify(d) for d in D], [H[:, k] for k in range(n)]))
    return out


#: square matrices that are not symmetric (some not diagonalizable): the hypotheses fail on them
NON_SYMMETRIC = ([[0, 1], [0, 0]], [[1, 5], [0, 1]], [[0, 4], [0, 0]], [[2, 1, 0], [0, 2, 1], [0, 0, 2]],
                 [[1, -3], [2, 1]])


def _two_norm(M) -> float:
    return float(np.linalg.norm(np.array(M, dtype=float), 2)) if len(M) else 0.0


def _polynomials():
    t = sp.Symbol("t")
    return [sp.Lambda(t, e) for e in (t, t ** 2, t ** 5, 1 - t / 3, (1 - t / 2) ** 3, 2 - t + t ** 2 / 5,
                                      sp.Integer(3))]


def _spectral_spot(formal) -> bool:
    """||p(A)||_2 (SVD of p(A)) against the formula's right side at A's exact eigenvalues,
    for symmetric A (random, repeated and zero eigenvalues, the zero matrix) and non-symmetric A."""
    cases = []
    for A, eigs, _ in _symmetric_instances():
        cases.append((A, eigs, True))
    for rows in NON_SYMMETRIC:
        A = sp.Matrix(rows)
        cases.append((A, [e for e, k in A.eigenvals().items() for _ in range(k)], False))
    for A, eigs, symmetric in cases:
        Af = np.array(A, dtype=float)
        for p in _polynomials():
            pA = np.zeros_like(Af)
            for c in sp.Poly(p.expr, p.variables[0]).all_coeffs():  # Horner, in floats
                pA = pA @ Af + float(c) * np.eye(A.rows)
            values = {SYMMETRIC: symmetric, NORM_PA: _two_norm(pA), SIZE: len(eigs), LAM: eigs, POLY: p}
            if not _holds(formal, values):
                return False
    return True


def _triangular_instances():
    """``(B, exact rho)``: ``B = S T S^{-1}`` with ``T`` rational lower triangular (rho = max |T_jj|), including
    the zero matrix, nilpotent and non-diagonalizable ones (Jordan chains), repeated eigenvalues and rho = 1."""
    rng = _rng()
    triangles = [
        [[0, 0], [0, 0]], [[0, 0], [1, 0]], [[sp.Rational(1, 2), 0], [40, sp.Rational(1, 2)]], [[1, 0], [0, 1]],
        [[1, 0], [1, 1]], [[-1, 0], [3, sp.Rational(1, 2)]], [[sp.Rational(9, 10), 0, 0], [5, -sp.Rational(4, 5), 0],
                                                            [1, 3, sp.Rational(7, 10)]],
        [[sp.Rational(11, 10), 0], [0, sp.Rational(1, 10)]], [[2, 0, 0], [1, 2, 0], [0, 1, 2]],
        [[sp.Rational(1, 2), 0, 0], [1, sp.Rational(1, 2), 0], [0, 1, sp.Rational(1, 2)]],
    ]
    for _ in range(6):
        n = int(rng.integers(1, 5))
        diag = [sp.Rational(int(rng.integers(-12, 13)), 10) for _ in range(n)]
        triangles.append([[diag[a] if a == b else (int(rng.integers(-3, 4)) if b < a else 0) for b in range(n)]
                          for a in range(n)])
    out = []
    for T in triangles:
        T = sp.Matrix(T)
        n = T.rows
        S = sp.eye(n) + sp.Matrix(n, n, lambda a, b: int(rng.integers(-1, 2)) if b > a else 0)  # unit upper
        B = S * T * S.inv()
        rho = max(abs(T[j, j]) for j in range(n))
        out.append((B, rho))
    return out


def _log_power_norm(B, power_of_two: int) -> float:
    """``log ||B^(2^k)||_2`` by repeated squaring with rescaling (no overflow); ``-inf`` for a zero power."""
    M, log_scale = np.array(B, dtype=float), 0.0
    for _ in range(power_of_two):
        M = M @ M
        log_scale *= 2
        size = np.abs(M).max()
        if size == 0:
            return float("-inf")
        M, log_scale = M / size, log_scale + np.log(size)
    return float(np.log(np.linalg.norm(M, 2)) + log_scale)


def _nilpotent(B) -> bool:
    return B ** B.rows == sp.zeros(B.rows, B.rows)


def _gelfand_spot(formal) -> bool:
    """lim ||B^l||^(1/l) read at l = 2^16 (repeated squaring; exactly 0 for a nilpotent B) against the
    formula at B's exact spectral radius, within the 2e-3 that (C l^n)^(1/l) leaves at that depth."""
    for B, rho in _triangular_instances():
        limit = 0.0 if _nilpotent(B) else float(np.exp(_log_power_norm(B, 16) / 2 ** 16))
        if not _holds(formal, {GELFAND_LIMIT: limit, RHO: rho}, rtol=2e-3):
            return False
    return True


def _power_spot(formal) -> bool:
    """Whether B^l -> 0, read from ||B^(2^13)|| < 1e-8 (every instance has rho <= 9/10 or rho >= 1, so the
    reading is unambiguous), against the formula at B's exact spectral radius (rho = 1 included)."""
    for B, rho in _triangular_instances():
        converges = _nilpotent(B) or _log_power_norm(B, 13) < np.log(1e-8)
        if not _holds(formal, {CONVERGES: bool(converges), RHO: rho}):
            return False
    return True


def _rayleigh_spot(formal) -> bool:
    """Exact quotients at random rational vectors and at every eigenvector (where a bound is attained),
    for symmetric A with exact eigenvalues; non-symmetric A with the real parts of their eigenvalues."""
    rng = _rng()
    for A, eigs, vecs in _symmetric_instances():
        vs = vecs + [sp.Matrix([int(rng.integers(-4, 5)) for _ in range(A.rows)]) for _ in range(4)]
        for v in vs:
            norm = (v.T * v)[0]
            if norm == 0:
                continue
            values = {SYMMETRIC: True, NONZERO: True, QUOTIENT: (v.T * A * v)[0] / norm,
                      LAM_MIN: min(eigs), LAM_MAX: max(eigs)}
            if not _holds(formal, values):
                return False
    for rows in NON_SYMMETRIC:
        A = sp.Matrix(rows)
        real = [sp.re(e) for e in A.eigenvals()]
        v = sp.ones(A.rows, 1)
        values = {SYMMETRIC: False, NONZERO: True, QUOTIENT: (v.T * A * v)[0] / A.rows,
                  LAM_MIN: min(real), LAM_MAX: max(real)}
        if not _holds(formal, values):
            return False
    return True


def _pairs():
    """Pairs of square float matrices: random, zero, identity, aligned rank-one (norms multiply exactly)."""
    rng = _rng()
    out = [tuple(rng.standard_normal((2, n, n))) for n in (1, 2, 3, 5)]
    out += [(np.zeros((3, 3)), rng.standard_normal((3, 3))), (np.eye(3), np.eye(3))]
    u, v, w = rng.standard_normal((3, 4))
    out.append((np.outer(u, v), np.outer(v, w)))
    out.append((np.outer(u, u), np.outer(u, u)))
    return out


def _submultiplicative_spot(formal) -> bool:
    for A, B in _pairs():
        values = {NORM_A: _two_norm(A), NORM_B: _two_norm(B), NORM_AB: _two_norm(A @ B), NORM_APB: _two_norm(A + B)}
        if not _holds(formal, values):
            return False
    return True


def _nonnegative_spot(formal) -> bool:
    """Random A with an entrywise larger non-negative B, B = |A| (equality), non-negative A, and pairs with
    |A| <= B false."""
    rng = _rng()
    for A, B in _pairs():
        for other, dominated in ((np.abs(A) + rng.uniform(0, 1, A.shape), True), (np.abs(A), True),
                                 (np.abs(B), bool(np.all(np.abs(A) <= np.abs(B)))), (np.abs(A) - 0.5, False)):
            dominated = dominated and bool(np.all(np.abs(A) <= other))
            values = {NORM_A: _two_norm(A), NORM_ABS_A: _two_norm(np.abs(A)), NORM_B: _two_norm(other),
                      DOMINATED: dominated}
            if not _holds(formal, values):
                return False
    return True


def _pinv_spot(formal) -> bool:
    """Exact rational X (d x n) of every rank (zero, rank one, full), labels y, and w = y X^+ plus
    null-space directions of X X^T (solutions) or a random w (not a solution)."""
    rng = _rng()
    shapes = [([[0, 0, 0], [0, 0, 0]], [1, 2, 3]), ([[1, 2, 3], [2, 4, 6]], [1, 0, 2]),
              ([[1, 0], [0, 1]], [3, -1]), ([[1, 1, 1], [1, 1, 1], [0, 1, 2]], [0, 1, 5])]
    for _ in range(3):
        d, n = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        base = sp.Matrix(1, n, [int(rng.integers(-3, 4)) for _ in range(n)])
        rows = [list(int(rng.integers(-2, 3)) * base) for _ in range(d)]
        shapes.append((rows, [int(rng.integers(-3, 4)) for _ in range(n)]))
    for rows, y in shapes:
        X, y = sp.Matrix(rows), sp.Matrix([y])
        G = X * X.T
        wp = y * X.pinv()
        null = G.nullspace()
        candidates: list = [(wp, True)] + [(wp + k * v.T, True) for v in null for k in (1, -2)]
        candidates.append((sp.Matrix(1, X.rows, [int(rng.integers(-3, 4)) for _ in range(X.rows)]), None))
        candidates.append((sp.zeros(1, X.rows), None))  # the smallest norm of all, a solution only when y X^T = 0
        for w, solves in candidates:
            solves = (w * G - y * X.T) == sp.zeros(1, X.rows) if solves is None else solves
            values = {RESIDUAL_PINV: sum((wp * G - y * X.T).applyfunc(lambda t: t ** 2)), SOLVES: solves,
                      NORM_PINV: (wp * wp.T)[0], NORM_W: (w * w.T)[0],
                      CROSS_NULL: sum(((wp * v)[0] ** 2 for v in null), sp.Integer(0))}
            if not _holds(formal, values):
                return False
    return True


def _block_triangular_spot(formal) -> bool:
    """Exact: random rational block lower-triangular matrices with random partitions (and the zero
    matrix, and matrices that are not block triangular) at several points z."""
    rng = _rng()
    z = sp.Symbol("z")
    for trial in range(10):
        sizes = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 4)))]
        n = sum(sizes)
        A = sp.Matrix(n, n, lambda a, b: int(rng.integers(-4, 5)))
        starts = np.cumsum([0] + sizes)
        lower = trial % 3 != 2 and trial != 0
        if trial == 0:
            A = sp.zeros(n, n)
            lower = True
        if lower:
            for bi in range(len(sizes)):
                for bj in range(bi + 1, len(sizes)):
                    A[starts[bi]:starts[bi + 1], starts[bj]:starts[bj + 1]] = sp.zeros(sizes[bi], sizes[bj])
        blocks = [A[starts[b]:starts[b + 1], starts[b]:starts[b + 1]] for b in range(len(sizes))]
        is_lower = all(A[a, b] == 0 for bi in range(len(sizes)) for bj in range(bi + 1, len(sizes))
                       for a in range(starts[bi], starts[bi + 1]) for b in range(starts[bj], starts[bj + 1]))
        for point in (sp.Integer(0), sp.Rational(1, 2), sp.Integer(int(rng.integers(-5, 6)))):
            values = {BLOCK_LOWER: is_lower, DET: (A.charpoly(z).as_expr()).subs(z, point),
                      DET_BLOCKS: sp.prod([b.charpoly(z).as_expr().subs(z, point) for b in blocks])}
            if not _holds(formal, values):
                return False
    return True


def _holds(formal, values, rtol: float = 1e-9) -> bool:
    """Every conclusion of ``formal`` holds at the instance (``proofs.evaluate.holds_at``)."""
    from .evaluate import holds_at

    conclusions = formal if isinstance(formal, (list, tuple)) else [formal]
    return bool(conclusions) and all(holds_at(c, values, rtol) for c in conclusions)


def _spectral_formal():
    from .evaluate import MaxOver

    return sp.Implies(SYMMETRIC, sp.Eq(NORM_PA, MaxOver(sp.Abs(POLY(LAM[IDX])), IDX, 1, SIZE)))


#: the stability characterisation's named truths (docs/SPEC.md section 7)
STACK_CONVERGES, NONZERO_INSIDE, NO_JORDAN_CHAIN, NO_VISIBLE_NULL = sp.symbols(
    "residuals_and_queries_converge nonzero_eigenvalues_inside rank_N2_eq_rank_N no_query_reads_null")


def _stability_spot(formal) -> bool:
    # the statement evaluated on five (N, R, eta): the three criteria (exact, SymPy) against the behaviour of
    # the iteration itself (residuals (I - eta N)^L and query sums R sum_{l<L} (I - eta N)^l at L = 400, 800)
    cases = [
        ([[0, 0], [1, 0]], [[1, 1]], sp.Rational(1, 2), False),                     # Jordan chain at 0
        ([[1, 1], [1, 1]], [[1, 0]], sp.Rational(1, 2), False),                     # a query reads a null vector
        ([[1, 1], [1, 1]], [[1, 1]], sp.Rational(1, 2), True),                      # whole block read
        ([[1, 1, 0], [1, 1, 1], [0, 1, 1]], [[1, 1, 1]], sp.Rational(1, 4), False),  # eigenvalue 1 - sqrt 2
        ([[0, 0, 0], [0, 2, 0], [0, 1, 3]], [[0, 1, 1]], sp.Rational(1, 4), True),  # a zero example
    ]
    for N, R, eta, want in cases:
        N, R = sp.Matrix(N), sp.Matrix(R)
        a = all(abs(1 - eta * lam) < 1 for lam in N.eigenvals() if lam != 0)
        b = (N * N).rank() == N.rank()
        c = all((R * v).is_zero_matrix for v in N.nullspace())
        B = np.eye(N.shape[0]) - float(eta) * np.array(N.tolist(), dtype=float)
        Rf = np.array(R.tolist(), dtype=float)
        sums = {}
        for L in (400, 800):
            S = sum(np.linalg.matrix_power(B, k) for k in range(L))
            sums[L] = (np.linalg.matrix_power(B, L), Rf @ S)
        converges = (np.linalg.norm(sums[800][0] - sums[400][0]) < 1e-6
                     and np.linalg.norm(sums[800][1] - sums[400][1]) < 1e-6)
        values = {STACK_CONVERGES: bool(converges), NONZERO_INSIDE: bool(a), NO_JORDAN_CHAIN: bool(b),
                  NO_VISIBLE_NULL: bool(c)}
        if not _holds(formal, values) or converges != want:
            return False
    return True


ASSUMPTIONS: dict[str, Assumption] = {a.id: a for a in (
    Assumption(
        "spectral-theorem",
        "A real symmetric matrix A is orthogonally diagonalizable: A = U diag(lambda) U^T with U orthogonal and "
        "lambda real; hence ||p(A)||_2 = max_i |p(lambda_i)| for every real polynomial p.",
        "R. A. Horn and C. R. Johnson, Matrix Analysis, 2nd ed., Cambridge 2013, Theorem 4.1.5 (spectral theorem "
        "for Hermitian matrices); the norm identity follows since p(A) = U diag(p(lambda)) U^T and the spectral norm "
        "is unitarily invariant (Section 5.6)",
        _spectral_spot, "||p(A)||_2 from the SVD of p(A) against the formula at A's exact eigenvalues: 22 matrices "
        "(15 symmetric ones built as H diag(D) H^T with H rational orthogonal: zero matrix, repeated and zero "
        "eigenvalues; 5 non-symmetric, 3 not diagonalizable) x 7 polynomials",
        _spectral_formal()),
    Assumption(
        "gelfand-formula",
        "For every square matrix B and every matrix norm, lim_{l -> oo} ||B^l||^(1/l) = rho(B), the spectral radius.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Corollary 5.6.14",
        _gelfand_spot, "||B^l||^(1/l) at l = 2^16 (exactly 0 for nilpotent B) against the formula at B's exact "
        "spectral radius: 16 matrices S T S^-1 (T triangular): zero, nilpotent, Jordan chains, repeated "
        "eigenvalues, rho = 1",
        sp.Eq(GELFAND_LIMIT, RHO)),
    Assumption(
        "power-convergence",
        "For a square matrix B, B^l -> 0 as l -> oo if and only if rho(B) < 1.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 5.6.12",
        _power_spot, "whether ||B^(2^13)|| < 1e-8 against the formula at B's exact spectral radius: the 16 "
        "matrices of gelfand-formula (rho in {0, 1/2, 9/10, 1, 11/10, 2, ...}; rho = 1 with and without a Jordan "
        "chain)",
        sp.Equivalent(CONVERGES, RHO < 1)),
    Assumption(
        "rayleigh-quotient",
        "For a real symmetric A and every v != 0, lambda_min(A) <= v^T A v / v^T v <= lambda_max(A); "
        "the bounds are attained at eigenvectors.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 4.2.2 (Rayleigh-Ritz)",
        _rayleigh_spot, "exact quotients at every eigenvector and 4 random rational vectors of 15 symmetric "
        "matrices with exact eigenvalues (zero matrix, repeated eigenvalues), and of 5 non-symmetric ones",
        sp.Implies(sp.And(SYMMETRIC, NONZERO), sp.And(LAM_MIN <= QUOTIENT, QUOTIENT <= LAM_MAX))),
    Assumption(
        "submultiplicativity",
        "The operator 2-norm is submultiplicative, ||A B||_2 <= ||A||_2 ||B||_2, and satisfies the triangle "
        "inequality.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Section 5.6 (induced norms are matrix norms)",
        _submultiplicative_spot, "numeric 2-norms: random pairs of sizes 1, 2, 3, 5, the zero matrix, the identity "
        "and aligned rank-one pairs (where ||AB|| = ||A|| ||B||)",
        sp.And(NORM_AB <= NORM_A * NORM_B, NORM_APB <= NORM_A + NORM_B)),
    Assumption(
        "nonnegative-norm-monotone",
        "For real matrices, ||A||_2 <= || |A| ||_2 (entrywise absolute value), and |A| <= B entrywise implies "
        "|| |A| ||_2 <= ||B||_2.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 8.1.18 (|A| <= B implies rho(A) <= rho(|A|) <= rho(B)) "
        "applied to A^T A, using |A^T A| <= |A|^T |A| <= B^T B and ||A||_2^2 = rho(A^T A) (Section 5.6)",
        _nonnegative_spot, "numeric 2-norms: the pairs of submultiplicativity with B = |A| + U (U >= 0 random), "
        "B = |A| (equality), and pairs where |A| <= B fails",
        sp.And(NORM_A <= NORM_ABS_A, sp.Implies(DOMINATED, NORM_ABS_A <= NORM_B))),
    Assumption(
        "pseudoinverse-min-norm",
        "For X of shape (d, n) and y of shape (1, n), w = y X^+ solves the normal equations w X X^T = y X^T and has "
        "the smallest norm among their solutions (it lies in the row space of X^T, orthogonal to null(X X^T)).",
        "G. H. Golub and C. F. Van Loan, Matrix Computations, 4th ed., Johns Hopkins 2013, Section 5.5.1",
        _pinv_spot, "exact: 7 rational X of every rank (zero, rank one, full), w = y X^+ plus null-space "
        "directions, a random w and w = 0",
        Conclusions([sp.Eq(RESIDUAL_PINV, 0), sp.Implies(SOLVES, NORM_PINV <= NORM_W), sp.Eq(CROSS_NULL, 0)])),
    Assumption(
        "block-triangular-spectrum",
        "The eigenvalues (with multiplicity) of a block lower-triangular square matrix are those of its diagonal "
        "blocks: det(z I - A) is the product of det(z I - A_bb); for a triangular matrix, its diagonal entries.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Section 0.9.4 (block triangular matrices)",
        _block_triangular_spot, "exact: 10 random rational matrices with random block partitions (the zero "
        "matrix, block lower triangular ones, and ones that are not) at 3 points z each",
        sp.Implies(BLOCK_LOWER, sp.Eq(DET, DET_BLOCKS))),
    Assumption(
        "stability-characterisation",
        "For N (n x n), eta > 0 and a read-out R (rows: what queries read), the residuals (I - eta N)^L y and the "
        "query sums R sum_{l<L} eta (I - eta N)^l y converge for every y exactly when (a) |1 - eta l| < 1 for every "
        "nonzero eigenvalue l of N, (b) rank N^2 = rank N (no Jordan chain at 0) and (c) R v = 0 for every v with "
        "N v = 0. (Jordan form: a block of l != 0 converges iff |1 - eta l| < 1; on a Jordan chain at 0 "
        "(I - eta N)^L v = v - L eta N v grows; on a semisimple null vector the query sum grows like L eta R v.)",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 3.1.11 (Jordan canonical form) and Section 3.2; "
        "docs/SPEC.md section 7",
        _stability_spot, "exact criteria against 800 iterations on five 2 x 2 and 3 x 3 cases (Jordan chain, "
        "partial and whole reads of a null vector, eigenvalue 1 - sqrt 2, a zero example)",
        sp.Equivalent(STACK_CONVERGES, sp.And(NONZERO_INSIDE, NO_JORDAN_CHAIN, NO_VISIBLE_NULL))),
)}


def spot_check(assumption_id: str) -> bool:
    """Run one assumption's spot check (once per process); an exception counts as a failed check."""
    a = ASSUMPTIONS[assumption_id]
    formal = tuple(a.formal) if isinstance(a.formal, list) else a.formal
    return _spot_check(a.spot_check, formal)


@cache
def _spot_check(check: Callable, formal) -> bool:
    """The spot check of a formula, once per process for each (check, formula) pair."""
    try:
        return bool(check(formal))
    except Exception:  # noqa: BLE001 - a spot check that crashes has not passed
        return False


def as_json(assumption: Assumption, checked: bool | None = None) -> dict:
    """``{"id", "statement", "formal", "reference", "spot_check"}`` for ``prove --json``'s ``assumptions`` key."""
    from .formal import render

    entry = {"id": assumption.id, "statement": assumption.statement, "formal": render(assumption.formal),
             "reference": assumption.reference,
             "spot_check": {"what": assumption.spot_check_text,
                            "passed": spot_check(assumption.id) if checked is None else checked}}
    return entry
