"""P4: prefix converges linearly (SPEC section 3).

Symbolic (n, d symbolic, X of shape (d, n)), through ``verify.lsa.attend``: one layer
maps the token form at ``w`` to the form at
``w* + (w - w*)(I - (eta/c) X X^T)`` with ``w* = y X^T (X X^T)^{-1}`` (example and query
tokens), i.e. ``w' - w* = (w - w*)(I - (eta/c) X X^T)``; and ``B = I - (eta/c) X X^T``
is symmetric.

Stated spectral argument: ``B = U diag(1 - eta lambda_i / c) U^T`` with U orthogonal.
From ``w^(0) = 0`` the error ``w^(l) - w*`` (with ``w* = y X^+``) lies in the row space
of X, the span of the eigenvectors with ``lambda_i > 0`` (P3), so
``||w^(l) - w*|| <= rho^l ||w^(0) - w*||`` with
``rho = max(|1 - eta lambda_min^+ / c|, |1 - eta lambda_max / c|)``, and it converges for
every y iff ``rho < 1`` iff ``0 < eta < 2c / lambda_max``.  Finite: the setup's layer has
residual iteration ``I - (eta/c) X^T X`` at an exact example; the bound holds exactly
for 6 layers at a stable eta, and the error grows at an eta above ``2c/lambda_max``.
"""
from __future__ import annotations

import sympy as sp
from sympy import Identity, Inverse

from .p1 import symbols
from .registry import Theorem
from .symbolic import (
    ETA,
    C,
    D,
    Ledger,
    construction,
    forward_exact,
    is_zero,
    iteration_from_layer,
    layer,
    model_checks,
    prefix_matrix_step,
    rational_matrix,
    same,
    token,
)

STATEMENT = (
    "w^(l) - w* = (w^(l-1) - w*)(I - (eta/c) X X^T). Prefix converges for every y iff "
    "0 < eta < 2c / lambda_max(X X^T), "
    "and then ||w^(l) - w*|| <= rho^l ||w^(0) - w*|| with rho = max(|1 - eta lambda_min^+/c|, "
    "|1 - eta lambda_max/c|), lambda_min^+ the smallest non-zero eigenvalue."
)
LATEX = (
    r"w^{(l)}-w^\star=(w^{(l-1)}-w^\star)\Big(I-\frac{\eta}{c}XX^\top\Big),\quad 0<\eta<\frac{2c}{\lambda_{\max}},"
    r"\quad \|w^{(l)}-w^\star\|\le\rho^l\|w^{(0)}-w^\star\|,"
    r"\ \rho=\max\Big(\big|1-\tfrac{\eta\lambda_{\min}^+}{c}\big|,"
    r"\big|1-\tfrac{\eta\lambda_{\max}}{c}\big|\Big)"
)

#: exact example (rows are examples): X X^T = diag(4, 2), rho = 2/5 at eta = 3/10, c = 1
X_EXAMPLE = [[2, 0], [0, 1], [0, 1]]
Y_EXAMPLE = [1, 2, 3]
ETA_STABLE = sp.Rational(3, 10)
ETA_UNSTABLE = sp.Rational(3, 5)  # above 2c / lambda_max = 1/2


def symbolic_checks(setup, con, ledger) -> None:
    s = symbols()
    X, y, w, x, yj, xq = s["X"], s["y"], s["w"], s["x"], s["yj"], s["xq"]
    B = Identity(D) - (ETA / C) * X * X.T
    w_star = y * X.T * Inverse(X * X.T)
    w_next = w_star + (w - w_star) * B
    sources = token(X, y - w * X)
    ledger.symbolic("one layer: w' - w* = (w - w*)(I - (eta/c) X X^T) (example token)",
                    same(layer(setup, con, token(x, yj - w * x), sources, C), token(x, yj - w_next * x)))
    ledger.symbolic("... (query token)",
                    same(layer(setup, con, token(xq, -w * xq), sources, C), token(xq, -w_next * xq)))
    ledger.symbolic("I - (eta/c) X X^T is symmetric", is_zero(B.T - B))
    ledger.symbolic("the residual iteration of the whole prefix token matrix is I - (eta/c) X^T X (symbolic n, d)",
                    prefix_matrix_step(setup))


def finite_checks(setup, ledger) -> None:
    X = rational_matrix(X_EXAMPLE)
    y = sp.Matrix(Y_EXAMPLE)
    B = iteration_from_layer(setup, "prefix", "constant", X, ETA_STABLE, 1)
    ledger.finite("the setup's layer has residual iteration I - (eta/c) X^T X (n = 3, d = 2, exact)",
                  same(B, sp.eye(3) - ETA_STABLE * X * X.T))
    gram = X.T * X  # X X^T in SPEC's (d, n) notation
    lams = [lam for lam in gram.eigenvals() if lam != 0]
    w_star = y.T * X.T.pinv()
    for eta, stable in ((ETA_STABLE, True), (ETA_UNSTABLE, False)):
        rho = max(abs(1 - eta * lam) for lam in lams)
        run = forward_exact(setup, "prefix", "constant", X, y, sp.eye(2), eta, 1, 6)
        errors = [sum((p - ws) ** 2 for p, ws in zip(pred, w_star)) for _, pred in run]
        if stable:
            ok = rho < 1 and eta < 2 / max(lams) and all(e <= rho ** (2 * l) * errors[0] for l, e in enumerate(errors))
            ledger.finite(f"eta = {eta}: ||w^(l) - w*||^2 <= rho^(2l) ||w*||^2 for l <= 6, rho = {rho}", ok)
        else:
            ok = rho > 1 and eta > 2 / max(lams) and errors[-1] > errors[0]
            ledger.finite(f"eta = {eta} > 2c/lambda_max: the error grows (rho = {rho})", ok)


def prove(setup):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "prefix", "constant")
    con = construction(setup)
    if con is not None:
        symbolic_checks(setup, con, ledger)
    finite_checks(setup, ledger)
    return ledger.result(
        "error identity through the layer (full row rank; n, d symbolic) and symmetry of the iteration; "
        "rate and stable range from the spectral theorem (||p(B)|| = max |p(lambda_i)| for symmetric B)",
        "exact example n = 3, d = 2: layer iteration matrix, 6-layer bound at eta = 3/10, growth at eta = 3/5",
        assumes=("spectral-theorem",),
    )


THEOREM = Theorem(
    id="P4",
    title="prefixLM converges linearly",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P1", "P3"),
    prove=prove,
)
