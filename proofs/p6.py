"""P6: the causal stationary point is online gradient descent (SPEC section 3).

The layer's dynamics are the coefficient recursion ``a' = a + (eta/c)(y - T a)`` (checked
again here through ``verify.lsa.attend``, as in P5), whose fixed point solves ``T a* = y``.
Forward substitution at a symbolic position j (blocks of symbolic size j-1, symbolic d):
``a*_j = (y_j - a*_{<j} X_{<j}^T x_j) / ||x_j||^2`` makes row j of ``T a*`` equal ``y_j``
(rows before j by induction), and ``w*_j = sum_{i<=j} a*_i x_i^T`` equals
``w*_{j-1} + (y_j - w*_{j-1} x_j) x_j^T / ||x_j||^2`` with ``w*_j x_j = y_j``; base
``w*_0 = 0`` (empty sum).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import Inverse, MatrixSymbol

from verify.algorithms import causal_stationary
from verify.tolerances import agreement_tol

from .formal import Check, Conclusions, equation_check, establish
from .p5 import causal_symbols, coefficient_step
from .registry import Theorem
from .symbolic import D, Ledger, construction, is_zero, iteration_from_layer, model_checks, rational_matrix

STATEMENT = (
    "The causal stationary point (constant normalizer) is a*_j = (y_j - sum_{i<j} a*_i x_i^T x_j) / ||x_j||^2, i.e. "
    "w*_j = w*_{j-1} + (y_j - w*_{j-1} x_j) x_j^T / ||x_j||^2, w*_0 = 0: online gradient descent with the "
    "non-decaying step 1/||x_j||^2. Every w*_j fits its own example exactly: w*_j x_j = y_j."
)
LATEX = (
    r"w^\star_j=w^\star_{j-1}+\frac{(y_j-w^\star_{j-1}x_j)\,x_j^\top}{\|x_j\|^2},\quad w^\star_0=0,\qquad "
    r"w^\star_j x_j=y_j"
)

X_EXAMPLE = [[1, 0], [1, 1], [2, -1], [0, 3]]
Y_EXAMPLE = [1, -2, 3, 1]


#: what the formal statement speaks about: the stationary weight of position j, given that of j - 1,
#: and its fit to example j
W_PREV, W_STAR_J, FIT_J = MatrixSymbol("w*_{j-1}", 1, D), MatrixSymbol("w*_j", 1, D), MatrixSymbol("w*_j x_j", 1, 1)


def formal_statement() -> list:
    s = causal_symbols()
    x, yj = s["x"], s["yj"]
    return Conclusions([sp.Eq(W_STAR_J, W_PREV + (yj - W_PREV * x) * Inverse(x.T * x) * x.T), sp.Eq(FIT_J, yj)])


def stationary(s):
    """The fixed point of the layer's coefficient dynamics at position j: ``a*_j`` from row j of ``T a* = y``
    (forward substitution; the rows before j by induction) and ``w*_j = sum_{i<=j} a*_i x_i^T``."""
    Xp, x, ap, yj = s["Xp"], s["x"], s["ap"], s["yj"]
    a_j = (yj - ap * Xp.T * x) * Inverse(x.T * x)
    return a_j, ap * Xp.T + a_j * x.T


def checks(setup, con, ledger) -> list[Check]:
    s = causal_symbols()
    x, ap, Xp = s["x"], s["ap"], s["Xp"]

    def model_ok():  # the layer's dynamics held (fixed point T a* = y) and a*_j solves row j
        a_j, _ = stationary(s)
        return (con is not None and not ledger.failures
                and is_zero(x.T * Xp * ap.T + x.T * x * a_j.T - s["yj"].T))

    def weight(F):
        return model_ok() and is_zero(F.xreplace({W_PREV: ap * Xp.T}) - stationary(s)[1])

    def fit(F):
        return model_ok() and is_zero(F - stationary(s)[1] * x)

    return [Check(W_STAR_J, "the layer's fixed point at a symbolic position j (forward substitution of T a* = y, "
                            "w*_{j-1} = sum_{i<j} a*_i x_i^T; symbolic d)", equation_check(W_STAR_J, weight)),
            Check(FIT_J, "w*_j x_j at the layer's fixed point (symbolic j, d)", equation_check(FIT_J, fit))]


def finite_checks(setup, ledger) -> None:
    X = rational_matrix(X_EXAMPLE)
    y = sp.Matrix(Y_EXAMPLE)
    eta = sp.Rational(1, 5)
    B = iteration_from_layer(setup, "causal", "constant", X, eta, 1)
    T = (sp.eye(X.rows) - B) / eta  # the layer's T, not a formula
    if T.det() == 0:
        ledger.finite("exact n = 4, d = 2: the layer's T is invertible", False)
        return
    a_star = T.LUsolve(y)
    w_layer = [sum((a_star[i] * X.row(i) for i in range(j + 1)), sp.zeros(1, X.cols)) for j in range(X.rows)]
    w = sp.zeros(1, X.cols)
    online = []
    for j in range(X.rows):
        x = X.row(j)
        w = w + (y[j] - w.dot(x)) * x / x.dot(x)
        online.append(w)
    ledger.finite("exact n = 4, d = 2: the layer's fixed point equals online GD at every position",
                  all(a == b for a, b in zip(w_layer, online)))
    ledger.finite("exact n = 4, d = 2: w*_j x_j = y_j", all(w_layer[j].dot(X.row(j)) == y[j] for j in range(X.rows)))
    numeric = causal_stationary(np.array(X_EXAMPLE, float), np.array(Y_EXAMPLE, float)[:, None])[:, 0, :]
    exact_w = np.array([[float(v) for v in wj] for wj in w_layer])
    ledger.finite("verify.algorithms.causal_stationary agrees (numeric)",
                  bool(np.all(np.abs(numeric - exact_w) <= agreement_tol(float(np.abs(exact_w).max()), 10.0))))


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "causal", "constant")
    con = construction(setup)
    if con is not None:
        row_ok, step_ok = coefficient_step(setup, con)
        ledger.symbolic("the layer's dynamics: a' = a + (eta/c)(y - T a) (fixed point T a* = y)", row_ok and step_ok)
    establish(ledger, formal, checks(setup, con, ledger))
    finite_checks(setup, ledger)
    return ledger.result(
        "coefficient dynamics through the layer, forward substitution and w*_j x_j = y_j at a symbolic position j, "
        "symbolic d",
        "exact n = 4, d = 2: fixed point of the layer's own T equals online GD; numeric agreement with "
        "verify.algorithms",
    )


THEOREM = Theorem(
    id="P6",
    title="causal stationary point is online gradient descent",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P2", "P5"),
    prove=prove,
    formal=formal_statement(),
)
