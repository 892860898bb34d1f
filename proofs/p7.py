"""P7: causalLM is suboptimal (SPEC section 3), with exactly what holds.

(a) Symbolic (n, d symbolic, full row rank): with ``w_LS = y X^T (X X^T)^{-1}``,
``R(w) - R(w_LS) = (1/n) ||(w - w_LS) X||^2`` for every w, where
``R(w) = (1/n)(y - w X)(y - w X)^T``; so ``R(w*_n) >= R(w_LS)`` with equality iff
``w*_n X = w_LS X``, i.e. iff ``w*_n`` minimizes R.  Without full row rank the same
identity holds with ``w_LS = y X^+`` (``y X^+ X X^T = y X^T``, checked exactly on an
example in P3).
(b) d = 1: P6's recursion gives ``w*_j = y_j / x_j`` for every j (symbolic), so with
noise ``y_n = w x_n + e_n`` the error ``w*_n - w = e_n / x_n`` does not shrink with n
(stated: it has the law of ``e/x`` for every n).
(c) d = 1 noiseless: ``w*_n = w`` exactly and the causal risk is 0: optimal.
(d) d >= 2 noiseless: the smallest example found by exhaustive search (n = 2, d = 2,
entries in {-1, 0, 1}) where the causal risk is strictly above the least-squares risk;
the causal weight is computed from the *layer's* T, and every number is exact.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import sympy as sp
from sympy import Inverse, MatrixSymbol

from .formal import Check, Conclusions, equation_check, establish, valid
from .p1 import symbols
from .p5 import coefficient_step
from .registry import Theorem
from .symbolic import Ledger, construction, fmt, is_zero, iteration_from_layer, model_checks, rational_matrix

STATEMENT = (
    "(a) For every w, R(w) - R(w_LS) = (1/n)||(w - w_LS) X||^2 with R(w) = (1/n) sum_i (y_i - w x_i)^2 and w_LS any "
    "solution of the normal equations (any rank); so the causal w*_n is never below the least-squares risk, with "
    "equality iff (w*_n - w_LS) X = 0, i.e. iff w*_n minimizes R. (b) d = 1 with label noise y_i = w x_i + e_i: "
    "w*_n - w = e_n / x_n exactly, the error of the last example alone, for every n (no averaging of the noise). "
    "(c) Equality cases: d = 1 noiseless gives w*_n = w (optimal), and pairwise orthogonal examples give "
    "w*_n x_i = y_i for every i (optimal). (d) For every d >= 2 some noiseless prompt has causal risk strictly above "
    "the least-squares risk 0 (exact witness at n = 2, d = 2, padded with zero coordinates for larger d)."
)
LATEX = (
    r"R(w)-R(w_{LS})=\tfrac1n\|(w-w_{LS})X\|^2\ge0,\quad d=1:\ w^\star_n=\frac{y_n}{x_n},\quad "
    r"\forall d\ge2\ \exists\,X,\,y=wX:\ R(w^\star_n)>R(w_{LS})=0"
)


#: what the formal statement speaks about: (a) the excess risk of any w, (b) the error of the causal
#: weight in d = 1 with noise, (c) the causal weight in d = 1 without noise, (d) the witness's risk gap
EXCESS = MatrixSymbol("R(w) - R(w_LS)", 1, 1)
W_TRUE, NOISE, X_N = sp.symbols("w e_n x_n", real=True)
ERR_N, W_CLEAN, GAP = sp.symbols("w*_n-w w*_n(noiseless) R(w*_n)-R(w_LS)", real=True)


def formal_statement() -> list:
    s = symbols()
    X, w = s["X"], s["w"]
    w_ls = s["y"] * X.T * Inverse(X * X.T)
    return Conclusions([sp.Eq(EXCESS, (w - w_ls) * X * X.T * (w - w_ls).T / s["n"]), sp.Eq(ERR_N, NOISE / X_N),
            sp.Eq(W_CLEAN, W_TRUE), GAP > 0])


def online_d1(y_n):
    """P6's recursion in d = 1 at the last example: ``w*_n`` from any ``w*_{n-1}`` (scalars)."""
    w_prev = sp.Symbol("w*_{n-1}", real=True)
    return w_prev + (y_n - w_prev * X_N) * X_N / X_N ** 2


def checks(gap) -> list[Check]:
    """(a) from the risk's definition (full row rank; any rank is a separate check), (b), (c) from P6's
    recursion in d = 1, (d) from the witness run through the layer (``gap``: its exact risk gap)."""
    s = symbols()
    X, y, w, n = s["X"], s["y"], s["w"], s["n"]
    w_ls = y * X.T * Inverse(X * X.T)

    def risk(v):
        return (y - v * X) * (y - v * X).T / n

    return [
        Check(EXCESS, "(a) R(w) - R(w_LS) from the definition of R (symbolic n, d, full row rank)",
              equation_check(EXCESS, lambda F: is_zero(F - (risk(w) - risk(w_ls))))),
        Check(ERR_N, "(b) d = 1 with noise: P6's recursion gives w*_n - w whatever w*_{n-1}",
              equation_check(ERR_N, lambda F: sp.simplify(F - (online_d1(W_TRUE * X_N + NOISE) - W_TRUE)) == 0)),
        Check(W_CLEAN, "(c) d = 1 noiseless: P6's recursion gives w*_n whatever w*_{n-1}",
              equation_check(W_CLEAN, lambda F: sp.simplify(F - online_d1(W_TRUE * X_N)) == 0)),
        # an existence claim: an exact witness proves it (zero padding carries it to every d >= 2)
        Check(GAP, "(d) the exact witness's risk gap, computed through the layer", lambda c: (
            (False, "no witness") if gap is None else valid(c.xreplace({GAP: gap})))),
    ]


def symbolic_checks(ledger) -> None:
    s = symbols()
    n, X, y, w = s["n"], s["X"], s["y"], s["w"]
    w_ls = y * X.T * Inverse(X * X.T)

    def risk(v):
        return (y - v * X) * (y - v * X).T / n

    ledger.symbolic("(a) R(w) - R(w_LS) = (1/n) (w - w_LS) X X^T (w - w_LS)^T (full row rank)",
                    is_zero(risk(w) - risk(w_ls) - (w - w_ls) * X * X.T * (w - w_ls).T / n))
    # any rank: y = w_LS X + e with the normal equations e X^T = 0; the identity holds up to terms linear in e X^T
    w_any, e = MatrixSymbol("w_LS", 1, s["X"].shape[0]), MatrixSymbol("e", 1, n)
    y_any = w_any * X + e

    def risk_any(v):
        return (y_any - v * X) * (y_any - v * X).T / n

    cross = (e * X.T * (w_any - w).T + (w_any - w) * X * e.T) / n
    ledger.symbolic("(a) any rank: R(w) - R(w_LS) - (1/n)||(w - w_LS) X||^2 is linear in e X^T = 0",
                    is_zero(risk_any(w) - risk_any(w_any) - (w - w_any) * X * X.T * (w - w_any).T / n - cross))
    v = MatrixSymbol("v", 1, s["X"].shape[0])
    ledger.symbolic("(a) v X X^T v^T = (v X)(v X)^T (a squared norm)", is_zero(v * X * X.T * v.T - (v * X) * (v * X).T))
    # (b), (c): P6's recursion in d = 1 with scalars
    w_prev, x_j, y_j, w_true, noise = sp.symbols("w_prev x_j y_j w e_j", real=True)
    online = w_prev + (y_j - w_prev * x_j) * x_j / x_j ** 2
    ledger.symbolic("(b) d = 1: w*_j = y_j / x_j whatever w*_{j-1}", sp.simplify(online - y_j / x_j) == 0)
    noisy = online.subs(y_j, w_true * x_j + noise)
    ledger.symbolic("(b) d = 1 noisy: w*_n - w = e_n / x_n", sp.simplify(noisy - w_true - noise / x_j) == 0)
    clean = online.subs(y_j, w_true * x_j)
    x_i = sp.Symbol("x_i", real=True)
    ledger.symbolic("(c) d = 1 noiseless: w*_n = w and every residual y_i - w*_n x_i is 0",
                    sp.simplify(clean - w_true) == 0 and sp.simplify(w_true * x_i - clean * x_i) == 0)
    # (c) orthogonal examples: the online step keeps every earlier fit (x_j^T x_i = 0) and fits x_j
    k = sp.Symbol("k", integer=True, positive=True)
    wv, xj, xi = MatrixSymbol("w", 1, k), MatrixSymbol("x_j", k, 1), MatrixSymbol("x_i", k, 1)
    yjv = MatrixSymbol("y_j", 1, 1)
    step = wv + (yjv - wv * xj) * sp.Inverse(xj.T * xj) * xj.T
    ledger.symbolic("(c) orthogonal examples: w' x_i = w x_i + (y_j - w x_j)(x_j^T x_j)^{-1} (x_j^T x_i), so w' x_i = "
                    "w x_i when x_j^T x_i = 0, and w' x_j = y_j",
                    is_zero(step * xi - wv * xi - (yjv - wv * xj) * sp.Inverse(xj.T * xj) * (xj.T * xi))
                    and is_zero(step * xj - yjv))
    # (d) for every d >= 2: a d = 2 prompt padded with k zero coordinates runs the same online steps
    w2, x2, zero = MatrixSymbol("w_2", 1, 2), MatrixSymbol("x_2", 2, 1), sp.ZeroMatrix(k, 1)
    padded_w, padded_x = sp.BlockMatrix([[w2, zero.T]]), sp.BlockMatrix([[x2], [zero]])
    padded_step = padded_w + (yjv - padded_w * padded_x) * sp.Inverse(padded_x.T * padded_x) * padded_x.T
    small_step = w2 + (yjv - w2 * x2) * sp.Inverse(x2.T * x2) * x2.T
    ledger.symbolic("(d) padding with zero coordinates commutes with the online step (every d = 2 + k)",
                    is_zero(padded_step - sp.BlockMatrix([[small_step, zero.T]])))


def _online(X, y):
    """P6's recursion in Fractions (rows of X are examples)."""
    w = [Fraction(0)] * len(X[0])
    for x, yj in zip(X, y):
        norm = sum(v * v for v in x)
        step = (yj - sum(a * b for a, b in zip(w, x))) / norm
        w = [a + step * b for a, b in zip(w, x)]
    return w


def _risk(w, X, y):
    return sum((yj - sum(a * b for a, b in zip(w, x))) ** 2 for x, yj in zip(X, y)) / len(y)


def search_witness():
    """Smallest noiseless n = 2, d = 2 example (entries in {-1, 0, 1}) with positive causal risk.

    Order: largest absolute entry of X, y, then number of non-zero entries, of
    negative entries, then lexicographic.  Noiseless: ``y = w X`` for an integer ``w``; the least-squares
    risk is then 0."""
    values = (0, 1, -1)
    best = None
    for X_flat in itertools.product(values, repeat=4):
        X = [X_flat[:2], X_flat[2:]]
        if any(all(v == 0 for v in x) for x in X):
            continue  # P6 needs every x_j != 0
        for w in itertools.product(values, repeat=2):
            y = [sum(a * b for a, b in zip(w, x)) for x in X]
            causal = _online([[Fraction(v) for v in x] for x in X], [Fraction(v) for v in y])
            if _risk(causal, X, y) > 0:
                entries = list(X_flat) + y
                key = (max(abs(v) for v in entries), sum(v != 0 for v in entries), sum(v < 0 for v in entries),
                       [abs(v) for v in entries], entries)
                if best is None or key < best[0]:
                    best = (key, X, y)
    return best[1], best[2]


def witness(setup, ledger) -> dict:
    X_rows, y_list = search_witness()
    X = rational_matrix(X_rows)
    y = sp.Matrix(y_list)
    eta = sp.Rational(1, 4)
    T = (sp.eye(X.rows) - iteration_from_layer(setup, "causal", "constant", X, eta, 1)) / eta  # the layer's T
    if T.det() == 0:
        ledger.finite("(d) the layer's T is invertible", False)
        return {}
    a_star = T.LUsolve(y)
    causal = sum((a_star[i] * X.row(i) for i in range(X.rows)), sp.zeros(1, X.cols))
    ls = y.T * X.T.pinv()
    causal_risk = sum((y[i] - causal.dot(X.row(i))) ** 2 for i in range(X.rows)) / X.rows
    ls_risk = sum((y[i] - ls.dot(X.row(i))) ** 2 for i in range(X.rows)) / X.rows
    online = _online([[Fraction(int(v)) for v in row] for row in X_rows], [Fraction(v) for v in y_list])
    ledger.finite("(d) the layer's stationary w*_n equals P6's online GD", [sp.Rational(v.numerator, v.denominator)
                                                                         for v in online] == list(causal))
    ledger.finite("(d) noiseless, d = 2: causal risk > least-squares risk", causal_risk > ls_risk)
    return {
        "X": [[fmt(v) for v in X.row(i)] for i in range(X.rows)],
        "y": [fmt(v) for v in y],
        "causal_weight": [fmt(v) for v in causal],
        "least_squares_weight": [fmt(v) for v in ls],
        "causal_risk": fmt(causal_risk),
        "least_squares_risk": fmt(ls_risk),
    }


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "causal", "constant")
    con = construction(setup)
    if con is not None:
        row_ok, step_ok = coefficient_step(setup, con)
        ledger.symbolic("the layer's causal dynamics (P5/P6): a' = a + (eta/c)(y - T a)", row_ok and step_ok)
    symbolic_checks(ledger)
    found = witness(setup, ledger)
    gap = (sp.Rational(found["causal_risk"]) - sp.Rational(found["least_squares_risk"])) if found else None
    establish(ledger, formal, checks(gap))
    return ledger.result(
        "(a) risk identity for symbolic n, d and any rank (normal equations as the hypothesis e X^T = 0); "
        "(b), (c) for every n in d = 1; (c) orthogonal examples and (d) zero padding for symbolic d",
        "(d) exhaustive search n = 2, d = 2, entries in {-1, 0, 1}; witness checked through the layer",
        witness=found,
    )


THEOREM = Theorem(
    id="P7",
    title="causalLM is suboptimal: risk never below least squares, strictly above for some prompts when d >= 2",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P3", "P6"),
    prove=prove,
    formal=formal_statement(),
)
