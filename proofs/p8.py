"""P8: every step size stable for prefix is stable for causal (SPEC section 3).

Symbolic (symbolic d and n, ``X = [X_o, x_j]`` with ``X_o`` of shape (d, n-1)):
``x_j^T X X^T x_j = ||X_o^T x_j||^2 + (x_j^T x_j)^2``.  Stated argument (Rayleigh):
``lambda_max(X X^T) = max_{||u|| = 1} u^T X X^T u >= x_j^T X X^T x_j / ||x_j||^2
>= ||x_j||^2`` for every ``x_j != 0``.  So ``2c / lambda_max <= 2c / max_j ||x_j||^2``:
by P4 and P5, when every ``x_j != 0``, every eta stable for prefix is stable for causal
(with some ``x_j = 0`` the causal iteration has eigenvalue 1 and no eta is stable).
Finite: the Rayleigh inequality and the stable-range inclusion exactly (Sylvester's
criterion instead of eigenvalues); both iteration matrices read off the setup's layer.
"""
from __future__ import annotations

import sympy as sp
from sympy import BlockMatrix, MatrixSymbol

from .evaluate import instance
from .formal import Check, Conclusions, establish, valid
from .registry import Theorem
from .symbolic import (
    ETA,
    C,
    D,
    Ledger,
    gram_lower,
    is_zero,
    iteration_from_layer,
    model_checks,
    prefix_matrix_step,
    rational_matrix,
    same,
    triangular_check,
)

STATEMENT = (
    "With the same constant normalizer and every x_j != 0, every eta stable for prefix is stable for causal, "
    "because lambda_max(X X^T) >= max_j ||x_j||^2 (so 2c / lambda_max <= 2c / max_j ||x_j||^2)."
)
LATEX = (r"\lambda_{\max}(XX^\top)\ \ge\ \max_j\|x_j\|^2\quad\Longrightarrow\quad"
         r"\frac{2c}{\lambda_{\max}}\le\frac{2c}{\max_j\|x_j\|^2}")

EXAMPLES = ([[1, 0], [1, 1], [2, -1]], [[3, 1], [1, 2], [0, 1], [1, -1]])


#: what the formal statement speaks about: lambda_max(X X^T) and max_j ||x_j||^2 (every x_j != 0)
LMAX, SMAX = sp.symbols("lambda_max max_j||x_j||^2", positive=True)
FORMAL = Conclusions([LMAX >= SMAX,
                      sp.Implies(sp.And(0 < ETA, ETA < 2 * C / LMAX), sp.And(0 < ETA, ETA < 2 * C / SMAX))])


def block_identity() -> bool:
    n = sp.Symbol("n", integer=True, positive=True)
    X_o, x = MatrixSymbol("X_o", D, n - 1), MatrixSymbol("x_j", D, 1)
    X = BlockMatrix([[X_o, x]])
    return is_zero(x.T * X * X.T * x - ((X_o.T * x).T * (X_o.T * x) + (x.T * x) * (x.T * x)))


def checks(identity_ok: bool) -> list[Check]:
    """z3 over the reals, from the Rayleigh quotient at the longest example x_j (``rayleigh-quotient``,
    instantiated from its registered formula) and the block identity
    ``x_j^T X X^T x_j = ||X_o^T x_j||^2 + (x_j^T x_j)^2`` (checked symbolically for symbolic n, d)."""
    from .assumptions import ASSUMPTIONS, LAM_MAX, LAM_MIN, NONZERO, QUOTIENT, SYMMETRIC

    def run(conclusion):
        if not identity_ok:
            return False, "the block identity did not hold"
        q, rest, lmin = sp.symbols("q rest lambda_min", real=True)
        rayleigh = instance(ASSUMPTIONS["rayleigh-quotient"].formal,
                            {SYMMETRIC: True, NONZERO: True, QUOTIENT: q, LAM_MIN: lmin, LAM_MAX: LMAX})
        # q = x_j^T X X^T x_j / ||x_j||^2 with ||x_j||^2 = SMAX and x_j^T X X^T x_j = rest + SMAX^2, rest >= 0
        return valid(conclusion, [rayleigh, sp.Eq(q * SMAX, rest + SMAX ** 2), rest >= 0])

    return [Check(LMAX, "lambda_max >= the Rayleigh quotient at the longest x_j >= max_j ||x_j||^2 (z3)", run,
                  assumes=("rayleigh-quotient",))]


def symbolic_checks(ledger) -> bool:
    ok = block_identity()
    ledger.symbolic("x_j^T X X^T x_j = ||X_o^T x_j||^2 + (x_j^T x_j)^2", ok)
    return ok


def positive_definite(A) -> bool:
    """Sylvester's criterion: every leading principal minor is > 0 (exact)."""
    return all(A[:k, :k].det() > 0 for k in range(1, A.rows + 1))


def finite_checks(setup, ledger) -> None:
    c = sp.Integer(1)
    for rows in EXAMPLES:
        X = rational_matrix(rows)
        gram = X.T * X  # X X^T in SPEC's (d, n) notation
        norms = [X.row(j).dot(X.row(j)) for j in range(X.rows)]
        j = max(range(X.rows), key=lambda i: norms[i])
        x = X.row(j).T
        size = f"n = {X.rows}, d = {X.cols}"
        # Rayleigh quotient at u = x_j: lambda_max >= x_j^T G x_j / ||x_j||^2 >= ||x_j||^2 (exact rationals)
        ledger.finite(f"x_j^T X X^T x_j >= ||x_j||^4 at the longest x_j ({size}, exact)",
                      (x.T * gram * x)[0] >= norms[j] ** 2)
        eta_causal = 2 * c / norms[j]  # the causal boundary: prefix must already be unstable there
        ledger.finite(f"eta = 2c / max ||x_j||^2 is not prefix-stable: 2cI - eta X X^T is not positive definite "
                      f"({size})",
                      not positive_definite(2 * c * sp.eye(X.cols) - eta_causal * gram))
        eta = c / gram.trace()  # prefix-stable: eta lambda_max <= c < 2c
        prefix = iteration_from_layer(setup, "prefix", "constant", X, eta, c)
        causal = iteration_from_layer(setup, "causal", "constant", X, eta, c)
        ledger.finite(f"layer's iteration matrices are I - (eta/c) X^T X and I - (eta/c) T ({size}, eta = {eta})",
                      same(prefix, sp.eye(X.rows) - eta / c * X * X.T)
                      and same(causal, sp.eye(X.rows) - eta / c * gram_lower(X)))
        lower = all(causal[a, b] == 0 for a in range(X.rows) for b in range(a + 1, X.rows))
        ledger.finite(f"at the prefix-stable eta = c / tr(X X^T) the layer's causal iteration is triangular with "
                      f"|diagonal| < 1 ({size})", lower and all(abs(causal[a, a]) < 1 for a in range(X.rows))
                      and positive_definite(2 * c * sp.eye(X.cols) - eta * gram))


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    establish(ledger, formal, checks(symbolic_checks(ledger)))
    ledger.symbolic("prefix residual iteration I - (eta/c) X^T X through the layer (symbolic n, d)",
                    prefix_matrix_step(setup))
    ok, why = triangular_check(setup)
    ledger.symbolic("causal: no example reads a later one (z3, every n): eigenvalues 1 - (eta/c)||x_j||^2", ok, why)
    model_checks(setup, ledger, "prefix", "constant")
    model_checks(setup, ledger, "causal", "constant")
    finite_checks(setup, ledger)
    return ledger.result(
        "block identity for symbolic n, d; both iterations through the layer at symbolic sizes; the Rayleigh "
        "quotient bound lambda_max >= x_j^T X X^T x_j / ||x_j||^2; stable ranges from P4, P5",
        "exact examples (3 x 2, 4 x 2): Rayleigh inequality, stable-range inclusion (Sylvester), the layer's "
        "iteration matrices",
    )


THEOREM = Theorem(
    id="P8",
    title="every eta stable for prefix is stable for causal",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P4", "P5"),
    prove=prove,
    formal=FORMAL,
)
