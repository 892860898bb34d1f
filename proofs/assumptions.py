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

import numpy as np
import sympy as sp


@dataclass(frozen=True)
class Assumption:
    """A named standard result: ``id``, ``statement``, ``reference`` and a ``spot_check``."""

    id: str
    statement: str
    reference: str
    spot_check: Callable[[], bool]
    spot_check_text: str


def _rng():
    return np.random.default_rng(20230806)


def _spectral_spot() -> bool:
    # exact: a rational symmetric matrix has real eigenvalues and orthogonal eigenvectors
    A = sp.Matrix([[2, 1, 0], [1, 3, 1], [0, 1, 4]])
    vecs = [v for _, _, vs in A.eigenvects() for v in vs]
    real = all(sp.im(sp.nsimplify(lam)) == 0 for lam in A.eigenvals())
    orth = all(sp.simplify(vecs[a].dot(vecs[b])) == 0 for a in range(3) for b in range(a + 1, 3))
    return real and orth and len(vecs) == 3


def _gelfand_spot() -> bool:
    # a non-normal 2x2 whose norm first grows: ||B^l||^(1/l) approaches rho(B) = 1/2 from above
    B = np.array([[0.5, 0.0], [40.0, 0.5]])
    rho = max(abs(np.linalg.eigvals(B)))
    values = [np.linalg.norm(np.linalg.matrix_power(B, l), 2) ** (1.0 / l) for l in (50, 200, 800)]
    return values[0] > values[1] > values[2] > rho and abs(values[2] - rho) < 0.05


def _power_spot() -> bool:
    B = np.array([[0.9, 0.0, 0.0], [5.0, -0.8, 0.0], [1.0, 3.0, 0.7]])
    return bool(np.linalg.norm(np.linalg.matrix_power(B, 2000)) < 1e-12 and np.linalg.norm(
        np.linalg.matrix_power(B + 0.2 * np.eye(3), 200)) > 1.0)


def _rayleigh_spot() -> bool:
    rng = _rng()
    X = rng.standard_normal((4, 3))
    A = X.T @ X
    lam = np.linalg.eigvalsh(A)
    v = rng.standard_normal((100, 3))
    q = np.einsum("ij,jk,ik->i", v, A, v) / np.einsum("ij,ij->i", v, v)
    return bool(np.all(q >= lam[0] - 1e-12) and np.all(q <= lam[-1] + 1e-12))


def _submultiplicative_spot() -> bool:
    rng = _rng()
    A, B = rng.standard_normal((2, 5, 5))
    return bool(np.linalg.norm(A @ B, 2) <= np.linalg.norm(A, 2) * np.linalg.norm(B, 2) * (1 + 1e-12))


def _nonnegative_spot() -> bool:
    rng = _rng()
    A = rng.standard_normal((6, 6))
    B = np.abs(A) + rng.uniform(0, 1, (6, 6))
    two = lambda M: np.linalg.norm(M, 2)  # noqa: E731
    return bool(two(A) <= two(np.abs(A)) * (1 + 1e-12) and two(np.abs(A)) <= two(B) * (1 + 1e-12))


def _pinv_spot() -> bool:
    # exact: X (d x n) of rank 1; y X^+ solves the normal equations and is orthogonal to their null space
    X = sp.Matrix([[1, 2, 3], [2, 4, 6]])
    y = sp.Matrix([[1, 0, 2]])
    w = y * X.pinv()
    null = (X * X.T).nullspace()
    return sp.simplify(w * X * X.T - y * X.T) == sp.zeros(1, 2) and all(sp.simplify((w * v)[0]) == 0 for v in null)


def _block_triangular_spot() -> bool:
    # exact: the characteristic polynomial of a block lower-triangular matrix is the product of its diagonal blocks'
    z = sp.Symbol("z")
    A = sp.Matrix([[2, 1, 0, 0], [3, 1, 0, 0], [5, -1, 4, 0], [7, 2, 1, -3]])
    product = A[:2, :2].charpoly(z).as_expr() * A[2:3, 2:3].charpoly(z).as_expr() * A[3:, 3:].charpoly(z).as_expr()
    return sp.expand(A.charpoly(z).as_expr() - product) == 0


def _stability_spot() -> bool:
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
        if (a and b and c) != want or converges != want:
            return False
    return True


ASSUMPTIONS: dict[str, Assumption] = {a.id: a for a in (
    Assumption(
        "spectral-theorem",
        "A real symmetric matrix A is orthogonally diagonalizable: A = U diag(lambda) U^T with U orthogonal and "
        "lambda real; hence ||p(A)||_2 = max_i |p(lambda_i)| for every real polynomial p.",
        "R. A. Horn and C. R. Johnson, Matrix Analysis, 2nd ed., Cambridge 2013, Theorem 4.1.5",
        _spectral_spot, "exact: eigenvectors of a rational symmetric 3 x 3 are real and pairwise orthogonal"),
    Assumption(
        "gelfand-formula",
        "For every square matrix B and every matrix norm, lim_{l -> oo} ||B^l||^(1/l) = rho(B), the spectral radius.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Corollary 5.6.14",
        _gelfand_spot, "numeric: ||B^l||^(1/l) decreases to rho(B) for a non-normal 2 x 2"),
    Assumption(
        "power-convergence",
        "For a square matrix B, B^l -> 0 as l -> oo if and only if rho(B) < 1.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 5.6.12",
        _power_spot, "numeric: a triangular B with rho < 1 has B^2000 ~ 0; with rho > 1 its powers grow"),
    Assumption(
        "rayleigh-quotient",
        "For a real symmetric A and every v != 0, lambda_min(A) <= v^T A v / v^T v <= lambda_max(A); "
        "the bounds are attained at eigenvectors.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 4.2.2 (Rayleigh-Ritz)",
        _rayleigh_spot, "numeric: 100 random quotients of a Gram matrix lie in [lambda_min, lambda_max]"),
    Assumption(
        "submultiplicativity",
        "The operator 2-norm is submultiplicative, ||A B||_2 <= ||A||_2 ||B||_2, and satisfies the triangle "
        "inequality.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Section 5.6 (induced norms)",
        _submultiplicative_spot, "numeric: random 5 x 5 matrices"),
    Assumption(
        "nonnegative-norm-monotone",
        "For real matrices, ||A||_2 <= || |A| ||_2 (entrywise absolute value), and 0 <= A <= B entrywise implies "
        "||A||_2 <= ||B||_2.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Theorem 8.1.18",
        _nonnegative_spot, "numeric: a random 6 x 6 matrix and an entrywise larger non-negative one"),
    Assumption(
        "pseudoinverse-min-norm",
        "For X of shape (d, n) and y of shape (1, n), w = y X^+ solves the normal equations w X X^T = y X^T and has "
        "the smallest norm among their solutions (it lies in the row space of X^T, orthogonal to null(X X^T)).",
        "G. H. Golub and C. F. Van Loan, Matrix Computations, 4th ed., Johns Hopkins 2013, Section 5.5.1",
        _pinv_spot, "exact: a rank-1 rational X"),
    Assumption(
        "block-triangular-spectrum",
        "The eigenvalues (with multiplicity) of a block lower-triangular square matrix are those of its diagonal "
        "blocks: det(z I - A) is the product of det(z I - A_bb); for a triangular matrix, its diagonal entries.",
        "Horn and Johnson, Matrix Analysis, 2nd ed., Section 0.9.4 (block triangular matrices)",
        _block_triangular_spot, "exact: a 4 x 4 rational block lower-triangular matrix with blocks 2, 1, 1"),
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
        "partial and whole reads of a null vector, eigenvalue 1 - sqrt 2, a zero example)"),
)}


def spot_check(assumption_id: str) -> bool:
    """Run one assumption's spot check (once per process); an exception counts as a failed check."""
    return _spot_check(ASSUMPTIONS[assumption_id])


@cache
def _spot_check(assumption: Assumption) -> bool:
    try:
        return bool(assumption.spot_check())
    except Exception:  # noqa: BLE001 - a spot check that crashes has not passed
        return False


def as_json(assumption: Assumption, checked: bool | None = None) -> dict:
    """``{"id", "statement", "reference", "spot_check"}`` for ``prove --json``'s ``assumptions`` key."""
    entry = {"id": assumption.id, "statement": assumption.statement, "reference": assumption.reference,
             "spot_check": {"what": assumption.spot_check_text,
                            "passed": spot_check(assumption.id) if checked is None else checked}}
    return entry
