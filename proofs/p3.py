"""P3: the prefix stationary point is least squares (SPEC section 3).

Symbolic (n, d symbolic, X of shape (d, n)), each through ``verify.lsa.attend``:

1. one layer moves every token by ``-(eta/c)(y X^T - w X X^T) x`` (so a state is
   fixed for every example and query x iff ``w X X^T = y X^T``, the normal equations:
   a row vector annihilating every x is zero);
2. with full row rank, ``w* = y X^T (X X^T)^{-1}`` is fixed;
3. from ``w^(0) = 0`` every iterate lies in the row space of X: if ``w = a X^T`` then
   ``w' = (a + (eta/c)(y - a X^T X)) X^T``.

Stated argument for the limit: the row space ``{a X^T}`` is closed, so a limit lies in
it and solves the normal equations (step 1); the solutions are ``y X^+ + v`` with
``v X = 0``, and ``v`` is orthogonal to the row space, so the only solution in it is
the minimum-norm ``y X^+``.  Finite: exact rank-deficient example (``y X^+`` solves the
normal equations, lies in the row space, and the setup's layer leaves its tokens
unchanged) and 300 numeric layers from ``w = 0`` against ``numpy.linalg.pinv``.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import Inverse, MatrixSymbol

from verify.algorithms import least_squares
from verify.prompt import split_tokens, tokens
from verify.tolerances import agreement_tol

from .p1 import symbols
from .registry import Theorem
from .symbolic import ETA, C, Ledger, construction, exact, forward, layer, model_checks, rational_matrix, same, token

STATEMENT = (
    "Prefix fixed points solve w X X^T = y X^T; with full row rank w* = y X^T (X X^T)^{-1}; from w^(0) = 0 the "
    "limit, when it exists, is the minimum-norm least-squares solution y X^+."
)
LATEX = (
    r"w^\star XX^\top=yX^\top,\quad w^\star=yX^\top(XX^\top)^{-1}\ (\operatorname{rank}X=d),\quad "
    r"\lim_{l\to\infty}w^{(l)}=yX^{+}\ \text{from } w^{(0)}=0"
)

#: exact rank-deficient example (rows are examples): rank 1 < d = 2, labels not in the row space
X_DEFICIENT = [[1, 1], [2, 2], [1, 1]]
Y_DEFICIENT = [1, 2, 5]


def symbolic_checks(setup, con, ledger) -> None:
    s = symbols()
    X, y, w, x, yj, xq = s["X"], s["y"], s["w"], s["x"], s["yj"], s["xq"]
    drift = (ETA / C) * (y * X.T - w * X * X.T)
    sources = token(X, y - w * X)
    ledger.symbolic("one layer moves z_j by -(eta/c)(y X^T - w X X^T) x_j (example)",
                    same(layer(setup, con, token(x, yj - w * x), sources, C), token(x, yj - w * x - drift * x)))
    ledger.symbolic("... and z_q likewise (query)",
                    same(layer(setup, con, token(xq, -w * xq), sources, C), token(xq, -w * xq - drift * xq)))
    w_star = y * X.T * Inverse(X * X.T)
    star_sources = token(X, y - w_star * X)
    ledger.symbolic("full row rank: w* = y X^T (X X^T)^{-1} is a fixed point (example and query)",
                    same(layer(setup, con, token(x, yj - w_star * x), star_sources, C), token(x, yj - w_star * x))
                    and same(layer(setup, con, token(xq, -w_star * xq), star_sources, C), token(xq, -w_star * xq)))
    a = MatrixSymbol("a", 1, s["n"])
    w_row = a * X.T
    a_next = a + (ETA / C) * (y - a * X.T * X)
    ledger.symbolic("row-space invariant: w = a X^T implies w' = a' X^T",
                    same(layer(setup, con, token(x, yj - w_row * x), token(X, y - w_row * X), C),
                         token(x, yj - a_next * X.T * x)))


def finite_checks(setup, ledger) -> None:
    X = rational_matrix(X_DEFICIENT)
    y = sp.Matrix(Y_DEFICIENT)
    w_mn = y.T * X.T.pinv()  # y X^+ with X = (d, n) in SPEC's notation
    ledger.finite("rank-deficient example: y X^+ solves the normal equations",
                  same(w_mn * X.T * X, y.T * X))
    ledger.finite("rank-deficient example: y X^+ lies in the row space",
                  X.col_join(w_mn).rank() == X.rank())
    mask = setup.mask("prefix", 3, 2)
    state = tokens(X, y, sp.eye(2), W0=w_mn)
    moved = setup.lsa_layer(state, setup.construction(sp.Rational(1, 10), 2), mask,
                      exact(setup.normalizer("constant", mask, sp.Integer(1))))
    ledger.finite("rank-deficient example: the setup's layer leaves the tokens at y X^+ unchanged",
                  same(sp.Matrix(moved), state))
    # the limit from w = 0 (numeric: 300 layers of the setup's model against pinv)
    Xf = np.array(X_DEFICIENT, dtype=float)
    yf = np.array(Y_DEFICIENT, dtype=float)[:, None]
    mask = setup.mask("prefix", 3, 2)
    c = setup.normalizer("constant", mask, 1.0)
    con = setup.construction(0.1, 2)
    Z = forward(setup, tokens(Xf, yf, np.eye(2)), [con] * 300, mask, c)[-1]
    _, pred = split_tokens(Z, 3, 2)
    want = least_squares(Xf, yf)[0]
    ledger.finite("300 layers from w = 0 reach y X^+ (numeric, eta = 0.1, rank-deficient X)",
                  bool(np.all(np.abs(pred[:, 0] - want) <= agreement_tol(float(np.abs(want).max()), 1.0, 300))))


def prove(setup):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "prefix", "constant")
    con = construction(setup)
    if con is not None:
        symbolic_checks(setup, con, ledger)
    finite_checks(setup, ledger)
    return ledger.result(
        "fixed-point identity for any w, w* fixed (full row rank), row-space invariant; n, d symbolic; "
        "min-norm limit: a limit of iterates in the row space solves the normal equations there",
        "exact rank-deficient example n = 3, d = 2 (layer fixes y X^+); 300 numeric layers to y X^+",
        assumes=("pseudoinverse-min-norm",),
    )


THEOREM = Theorem(
    id="P3",
    title="prefix stationary point is least squares",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P1",),
    prove=prove,
)
