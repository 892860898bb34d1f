"""P3: the prefix stationary point is least squares (SPEC section 3).

Symbolic (n, d symbolic, X of shape (d, n)), each through ``verify.lsa.attend``:

1. one layer moves every token by ``-(eta/c)(y X^T - w X X^T) x`` (so a state is
   fixed for every example and query x iff ``w X X^T = y X^T``, the normal equations:
   a row vector annihilating every x is zero);
2. with full row rank, ``w* = y X^T (X X^T)^{-1}`` is fixed;
3. from ``w^(0) = 0`` every iterate lies in the row space of X: if ``w = a X^T`` then
   ``w' = (a + (eta/c)(y - a X^T X)) X^T``.

The limit: a limit of the iterates is a fixed point of the layer (the layer is continuous),
so by step 1 it solves the normal equations; by step 3 it lies in the row space ``{a X^T}``
(closed); the named result ``pseudoinverse-min-norm`` says the only solution there is
``y X^+``.  The formula's limit must be that object (``is_zero(F - y X^+)``), and steps 1
and 3 must hold through the layer.  Finite: exact rank-deficient example (``y X^+`` solves the
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

from .formal import Check, Conclusions, equation_check, establish
from .p1 import symbols
from .registry import Theorem
from .symbolic import (
    ETA,
    C,
    D,
    Ledger,
    construction,
    exact,
    forward,
    is_zero,
    layer,
    model_checks,
    rational_matrix,
    same,
    token,
)

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


#: what the formal statement speaks about: the change of w in one layer, a fixed point (full row rank),
#: the limit of the iterates from w = 0, and the pseudoinverse X^+ of ``pseudoinverse-min-norm``
DRIFT = MatrixSymbol("w' - w", 1, D)
W_FIXED, W_LIMIT = MatrixSymbol("w*", 1, D), MatrixSymbol("w^(oo)", 1, D)
X_PINV = MatrixSymbol("X^+", symbols()["n"], D)


def formal_statement() -> list:
    s = symbols()
    X, y, w = s["X"], s["y"], s["w"]
    return Conclusions([sp.Eq(DRIFT, (ETA / C) * (y * X.T - w * X * X.T)), sp.Eq(W_FIXED, y * X.T * Inverse(X * X.T)),
            sp.Eq(W_LIMIT, y * X_PINV)])


def moves(setup, con, w, w_next) -> bool:
    """One layer maps the tokens at ``w`` (an example and a query) to the tokens at ``w_next``."""
    s = symbols()
    X, y, x, yj, xq = s["X"], s["y"], s["x"], s["yj"], s["xq"]
    sources = token(X, y - w * X)
    return (same(layer(setup, con, token(x, yj - w * x), sources, C), token(x, yj - w_next * x))
            and same(layer(setup, con, token(xq, -w * xq), sources, C), token(xq, -w_next * xq)))


def checks(setup, con) -> list[Check]:
    s = symbols()

    def limit(F):  # steps 1 and 3 through the layer, and the formula's limit is y X^+
        return con is not None and row_space_step(setup, con) and is_zero(F - s["y"] * X_PINV)

    return [
        Check(DRIFT, "one layer moves w by the stated amount (example and query; n, d symbolic), so a state is "
                     "fixed iff w X X^T = y X^T",
              equation_check(DRIFT, lambda F: con is not None and moves(setup, con, s["w"], s["w"] + F))),
        Check(W_FIXED, "full row rank: the layer leaves the tokens at the stated w* unchanged",
              equation_check(W_FIXED, lambda F: con is not None and moves(setup, con, F, F))),
        Check(W_LIMIT, "the limit: iterates stay in the row space (through the layer), a limit solves the normal "
                       "equations, and the only such point is y X^+", equation_check(W_LIMIT, limit),
              assumes=("pseudoinverse-min-norm",)),
    ]


def row_space_step(setup, con) -> bool:
    """Row-space invariant through the layer: ``w = a X^T`` implies ``w' = a' X^T``."""
    s = symbols()
    X, y, x, yj = s["X"], s["y"], s["x"], s["yj"]
    a = MatrixSymbol("a", 1, s["n"])
    w_row = a * X.T
    a_next = a + (ETA / C) * (y - a * X.T * X)
    return same(layer(setup, con, token(x, yj - w_row * x), token(X, y - w_row * X), C),
                token(x, yj - a_next * X.T * x))


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


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "prefix", "constant")
    con = construction(setup)
    establish(ledger, formal, checks(setup, con))
    finite_checks(setup, ledger)
    return ledger.result(
        "fixed-point identity for any w, w* fixed (full row rank), row-space invariant; n, d symbolic; "
        "min-norm limit: a limit of iterates in the row space solves the normal equations there",
        "exact rank-deficient example n = 3, d = 2 (layer fixes y X^+); 300 numeric layers to y X^+",
    )


THEOREM = Theorem(
    id="P3",
    title="prefix stationary point is least squares",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P1",),
    prove=prove,
    formal=formal_statement(),
)
