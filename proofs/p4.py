"""P4: prefix converges linearly (SPEC section 3).

Symbolic (n, d symbolic, X of shape (d, n)), through ``verify.lsa.attend``: one layer
maps the token form at ``w`` to the form at
``w* + (w - w*)(I - (eta/c) X X^T)`` with ``w* = y X^T (X X^T)^{-1}`` (example and query
tokens), i.e. ``w' - w* = (w - w*)(I - (eta/c) X X^T)``; and ``B = I - (eta/c) X X^T``
is symmetric.

From the eigenvalues to the statement, exactly (``proofs.stability``, z3 over the reals):
the layer's eigenvalue factor ``mu(lambda) = 1 - eta lambda / c`` is read off the setup's
layer; the error lives in the row space of X (P3), where the eigenvalues of ``X X^T`` lie in
``[lambda_min^+, lambda_max]`` with both ends attained.  The spectral theorem's norm identity
(``||p(A)||_2 = max_i |p(lambda_i)|``, instantiated from ``proofs.assumptions`` at ``p = mu``)
gives the norm of one layer on the row space; z3 then proves the formula's rate is that norm,
that one layer contracts the error by it, and (with ``power-convergence``) that the iteration
converges iff ``eta`` is in the formula's range, for every spectrum in the interval.
Finite: the setup's layer has residual iteration ``I - (eta/c) X^T X`` at an exact example;
the bound holds exactly for 6 layers at a stable eta, and the error grows above ``2c/lambda_max``.
"""
from __future__ import annotations

import sympy as sp
from sympy import Identity, Inverse, MatrixSymbol

from .formal import Check, Conclusions, equation_check, establish
from .p1 import symbols
from .registry import Theorem
from .stability import contraction_check, lazy_factor, range_check, rate_check
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

#: the quantities the formal statement speaks about
W_NEXT = MatrixSymbol("w'", 1, D)  # the weight after one layer
LMIN, LMAX = sp.symbols("lambda_min^+ lambda_max", positive=True)  # extreme non-zero eigenvalues of X X^T
RHO = sp.Symbol("rho", nonnegative=True)  # the norm of one layer on the row space of X
CONVERGES = sp.Symbol("converges")  # w^(l) -> w* for every y
ERR, ERR_NEXT = sp.symbols("err err_next", nonnegative=True)  # ||w^(l-1) - w*||, ||w^(l) - w*||


def formal_statement() -> list:
    s = symbols()
    X, y, w = s["X"], s["y"], s["w"]
    w_star = y * X.T * Inverse(X * X.T)
    rate = sp.Max(sp.Abs(1 - ETA * LMIN / C), sp.Abs(1 - ETA * LMAX / C))
    return Conclusions([
        sp.Eq(W_NEXT - w_star, (w - w_star) * (Identity(D) - (ETA / C) * X * X.T)),
        sp.Eq(RHO, rate),
        sp.Equivalent(CONVERGES, sp.And(0 < ETA, ETA < 2 * C / LMAX)),
        ERR_NEXT <= rate * ERR,
    ])


FORMAL = formal_statement()

#: exact example (rows are examples): X X^T = diag(4, 2), rho = 2/5 at eta = 3/10, c = 1
X_EXAMPLE = [[2, 0], [0, 1], [0, 1]]
Y_EXAMPLE = [1, 2, 3]
ETA_STABLE = sp.Rational(3, 10)
ETA_UNSTABLE = sp.Rational(3, 5)  # above 2c / lambda_max = 1/2


def layer_moves_to(setup, con, w_next) -> bool:
    """One layer maps the tokens at ``w`` (example and query) to the tokens at ``w_next``."""
    s = symbols()
    X, y, w, x, yj, xq = s["X"], s["y"], s["w"], s["x"], s["yj"], s["xq"]
    sources = token(X, y - w * X)
    return (same(layer(setup, con, token(x, yj - w * x), sources, C), token(x, yj - w_next * x))
            and same(layer(setup, con, token(xq, -w * xq), sources, C), token(xq, -w_next * xq)))


def checks(setup, con) -> list[Check]:
    """What establishes each conclusion of the formal statement, through the setup's layer."""
    mu = lazy_factor(setup, "prefix", "constant", ETA, C)

    return [
        Check(W_NEXT, "the layer maps the tokens at w to the tokens at the stated w' (example and query; symbolic "
                      "n, d)", equation_check(W_NEXT, lambda F: con is not None and layer_moves_to(setup, con, F))),
        rate_check(RHO, mu, LMIN, LMAX, "symmetric", "the stated rate is the norm of one layer on the row space: "
                   "max |mu(lambda)| over every spectrum in [lambda_min^+, lambda_max] (z3)"),
        range_check(CONVERGES, mu, LMIN, LMAX, "symmetric", "converges iff eta is in the stated range, for every "
                    "spectrum in [lambda_min^+, lambda_max] (z3)"),
        contraction_check(ERR_NEXT, ERR, mu, LMIN, LMAX, "one layer contracts the row-space error by the stated "
                          "factor (operator norm and the spectral theorem; z3)"),
    ]


def symbolic_checks(setup, con, ledger) -> None:
    s = symbols()
    X = s["X"]
    B = Identity(D) - (ETA / C) * X * X.T
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


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "prefix", "constant")
    con = construction(setup)
    if con is not None:
        symbolic_checks(setup, con, ledger)
    establish(ledger, formal, checks(setup, con))
    finite_checks(setup, ledger)
    return ledger.result(
        "error identity through the layer (full row rank; n, d symbolic) and symmetry of the iteration; "
        "rate, stable range and contraction from the layer's eigenvalue factor by z3 over the reals, with the "
        "spectral theorem's norm identity and power-convergence instantiated from their registered formulas",
        "exact example n = 3, d = 2: layer iteration matrix, 6-layer bound at eta = 3/10, growth at eta = 3/5",
    )


THEOREM = Theorem(
    id="P4",
    title="prefixLM converges linearly",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P1", "P3"),
    prove=prove,
    formal=FORMAL,
)
