"""P1: prefixLM is gradient descent (SPEC section 3).

Induction over L with symbolic n, d: every example token reads the block
``[X; y - w X]`` (X of shape (d, n)), so applying ``verify.lsa.attend`` to an
example ``[x_j; y_j - w x_j]`` and a query ``[x_q; -w x_q]`` must give the same
form with ``w' = w + (eta/c)(y - w X) X^T``.  Base case: the initial tokens are
the claimed form with ``w^(0) = 0``.  ``w' - w`` is checked to be ``-(eta/2c)``
times the gradient of ``(y - wX)(y - wX)^T`` (SymPy's matrix derivative).
"""
from __future__ import annotations

import sympy as sp
from sympy import MatrixSymbol, ZeroMatrix

from verify.prompt import tokens

from .formal import Check, Conclusions, equation_check, establish
from .registry import Theorem
from .symbolic import ETA, C, D, Ledger, construction, exact, forward, is_zero, layer, model_checks, same, token

STATEMENT = (
    "With the paper's construction, prefix attention and a constant normalizer c, for every n, d >= 1 and L >= 0: "
    "z_j^(L) = [x_j; y_j - w^(L) x_j] and z_q^(L) = [x_q; -w^(L) x_q], where w^(0) = 0 and "
    "w^(l) = w^(l-1) + (eta/c) sum_i (y_i - w^(l-1) x_i) x_i^T (gradient descent on the squared loss). "
    "The prediction is w^(L) x_q."
)
LATEX = (
    r"z_j^{(L)}=\begin{bmatrix}x_j\\ y_j-w^{(L)}x_j\end{bmatrix},\ z_q^{(L)}=\begin{bmatrix}x_q\\ -w^{(L)}x_q"
    r"\end{bmatrix},\quad w^{(l)}=w^{(l-1)}+\frac{\eta}{c}\sum_{i=1}^n\big(y_i-w^{(l-1)}x_i\big)x_i^\top,\ w^{(0)}=0"
)


def symbols():
    n = sp.Symbol("n", integer=True, positive=True)
    return dict(n=n, X=MatrixSymbol("X", D, n), y=MatrixSymbol("y", 1, n), w=MatrixSymbol("w", 1, D),
                x=MatrixSymbol("x_j", D, 1), yj=MatrixSymbol("y_j", 1, 1), xq=MatrixSymbol("x_q", D, 1))


#: what the formal statement speaks about: the weight of the initial tokens and the weight after one layer
W_0, W_NEXT = MatrixSymbol("w^(0)", 1, D), MatrixSymbol("w'", 1, D)


def formal_statement() -> list:
    s = symbols()
    return Conclusions([sp.Eq(W_0, ZeroMatrix(1, D)), sp.Eq(W_NEXT, gd_step(s))])


def checks(setup, con) -> list[Check]:
    """The base case reads the initial tokens [x_j; y_j], [x_q; 0] (SPEC section 2); the step runs the
    setup's layer on the tokens at w (example and query) and compares with the tokens at the stated w'."""
    s = symbols()

    def base(F):
        return is_zero((s["yj"] - F * s["x"]) - s["yj"]) and is_zero(-F * s["xq"])

    def step(F):
        return con is not None and all(induction_step(setup, con, s, F))

    return [Check(W_0, "base case L = 0: the initial tokens are the form at the stated w^(0)",
                  equation_check(W_0, base)),
            Check(W_NEXT, "induction step: one layer maps the form at w to the form at the stated w' (example and "
                          "query tokens; X of shape (d, n), n and d symbolic)", equation_check(W_NEXT, step))]


def gd_step(s):
    """``w' = w + (eta/c)(y - w X) X^T``."""
    return s["w"] + (ETA / C) * (s["y"] - s["w"] * s["X"]) * s["X"].T


def induction_step(setup, con, s, w_next) -> tuple[bool, bool]:
    """(example, query): one layer maps the claimed form at ``w`` to the claimed form at ``w_next``."""
    sources = token(s["X"], s["y"] - s["w"] * s["X"])
    example = layer(setup, con, token(s["x"], s["yj"] - s["w"] * s["x"]), sources, C)
    query = layer(setup, con, token(s["xq"], -s["w"] * s["xq"]), sources, C)
    return (same(example, token(s["x"], s["yj"] - w_next * s["x"])),
            same(query, token(s["xq"], -w_next * s["xq"])))


def finite_layers(setup, n=2, d=1, m=1, layers=3) -> bool:
    """L layers of ``lsa_forward`` (setup's mask, normalizer) on symbolic data equal
    ``tokens(X, y, Xq, W0=w^(l))`` with the gradient-descent iterates."""
    X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
    Xq = sp.Matrix(m, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y{i}"))
    mask = setup.mask("prefix", n, m)
    c = exact(setup.normalizer("constant", mask, C))
    con = setup.construction(ETA, d)
    states = forward(setup, tokens(X, y, Xq), [con] * layers, mask, c)
    w = sp.zeros(1, d)
    for Z in states:
        if not same(sp.Matrix(Z), tokens(X, y, Xq, W0=w)):
            return False
        w = w + (ETA / C) * (y.T - w * X.T) * X
    return True


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "prefix", "constant")
    con = construction(setup)
    establish(ledger, formal, checks(setup, con))
    if con is not None:
        s = symbols()
        loss = (s["y"] - s["w"] * s["X"]) * (s["y"] - s["w"] * s["X"]).T
        ledger.symbolic("w' - w = -(eta/2c) grad_w sum_i (y_i - w x_i)^2",
                        is_zero((gd_step(s) - s["w"]).T + (ETA / (2 * C)) * loss.diff(s["w"])))
    ledger.finite("lsa_forward 3 layers = gradient descent (n = 2, d = 1, m = 1)", finite_layers(setup))
    return ledger.result(
        "induction over L (base + step, example and query tokens) with X of shape (d, n), n and d symbolic",
        "lsa_layer at n = 3, d = 2; 3 layers of lsa_layer at n = 2, d = 1",
    )


THEOREM = Theorem(
    id="P1",
    title="prefixLM is gradient descent",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("L6",),
    prove=prove,
    formal=formal_statement(),
)
