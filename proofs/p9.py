"""P9: causal attention with the count normalizer ``c_j = j`` (SPEC section 3, issue 7).

Derived from the general lemma with ``A(j) = {1..j}``, ``c_j = j``.  Symbolic, through
``verify.lsa.attend`` at a symbolic position j (blocks of symbolic size j-1, symbolic d,
the normalizer *is* the symbol j): if every position's weight is
``w_i = v_i / i`` with ``v_i = sum_{k<=i} s_k x_k^T`` (the same ``s`` for all positions),
one layer gives ``s' = s + eta r`` with ``r = y - D^{-1} T s``, ``D = diag(1..n)``: the
representation persists (induction over L from ``s^(0) = 0``).  So
``s' - s* = (I - eta D^{-1} T)(s - s*)`` with ``T s* = D y``, the iteration is lower
triangular with eigenvalues ``1 - eta ||x_j||^2 / j`` (determinant induction as in P5),
and the stationary point is ``v_j = v_{j-1} + (j y_j - v_{j-1} x_j) x_j^T / ||x_j||^2``,
``w*_j = v_j / j`` (still ``w*_j x_j = y_j``).  Rate and range exactly as in P5
(``proofs.stability``, z3 over the reals) with ``t_j = ||x_j||^2 / j``: asymptotic rate
``max_j |1 - eta t_j|`` (gelfand-formula); stable iff every ``x_j != 0`` and
``0 < eta < 2 min_j j / ||x_j||^2`` (power-convergence).  Queries have ``c_q = n = c_n``, so ``w_q = w_n`` (P2).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import BlockMatrix, Identity, Inverse, MatrixSymbol, ZeroMatrix

from verify.algorithms import count_causal_stationary
from verify.tolerances import agreement_tol

from .formal import Check, Conclusions, equation_check, establish, model_equation
from .p5 import causal_symbols
from .registry import Theorem
from .stability import lazy_factor, range_check, rate_check
from .symbolic import (
    ETA,
    D,
    Ledger,
    construction,
    exact,
    gram_lower,
    is_zero,
    iteration_from_layer,
    layer,
    model_checks,
    rational_matrix,
    same,
    token,
    triangular_check,
)

STATEMENT = (
    "Causal attention with c_j = j: w_j^(l) = v_j^(l) / j with v_j = sum_{i<=j} s_i x_i^T and "
    "s^(l) = s^(l-1) + eta (y - D^{-1} T s^(l-1)), D = diag(1..n), T_ji = x_i^T x_j (i <= j). Stationary point: "
    "v_j = v_{j-1} + (j y_j - v_{j-1} x_j) x_j^T / ||x_j||^2, w*_j = v_j / j, with w*_j x_j = y_j. Eigenvalues "
    "1 - eta ||x_j||^2 / j; rate max_j |1 - eta ||x_j||^2 / j|; stable iff every x_j != 0 and "
    "0 < eta < 2 min_j j / ||x_j||^2. The query's weight equals w_n."
)
LATEX = (
    r"s^{(l)}-s^\star=(I-\eta D^{-1}T)(s^{(l-1)}-s^\star),\ D=\operatorname{diag}(1,\dots,n),\quad "
    r"v_j=v_{j-1}+\frac{(j\,y_j-v_{j-1}x_j)\,x_j^\top}{\|x_j\|^2},\ w^\star_j=\frac{v_j}{j},\quad "
    r"\rho=\max_j\Big|1-\frac{\eta\|x_j\|^2}{j}\Big|"
)

#: the quantities the formal statement speaks about (row vectors over n positions, D = diag(1..n))
N_POS = sp.Symbol("n", integer=True, positive=True)
S_NEXT = MatrixSymbol("s'", 1, N_POS)
MU_J = sp.Symbol("mu_j")
S_J = sp.Symbol("s_j", positive=True)  # ||x_j||^2
T_MIN, T_MAX = sp.symbols("min_j||x_j||^2/j max_j||x_j||^2/j", positive=True)
KAPPA = sp.Symbol("min_j j/||x_j||^2", positive=True)
CONVERGES = sp.Symbol("converges")
RATE = sp.Symbol("rate", nonnegative=True)


def formal_statement() -> list:
    cs = causal_symbols()
    j, x, yj = cs["j"], cs["x"], cs["yj"]
    s, y = MatrixSymbol("s", 1, N_POS), MatrixSymbol("y", 1, N_POS)
    T, Dinv = MatrixSymbol("T", N_POS, N_POS), MatrixSymbol("D^{-1}", N_POS, N_POS)
    v_prev = MatrixSymbol("v_{j-1}", 1, D)
    return Conclusions([
        sp.Eq(S_NEXT, s + ETA * (y - s * T.T * Dinv)),
        sp.Eq(MU_J, 1 - ETA * S_J / j),
        sp.Equivalent(CONVERGES, sp.And(0 < ETA, ETA < 2 * KAPPA)),
        sp.Eq(RATE, sp.Max(sp.Abs(1 - ETA * T_MIN), sp.Abs(1 - ETA * T_MAX))),
        sp.Eq(V_J, v_prev + (j * yj - v_prev * x) * Inverse(x.T * x) * x.T),
        sp.Eq(FIT_J, yj),
    ])


V_J = MatrixSymbol("v_j", 1, D)  # the stationary v_j
FIT_J = MatrixSymbol("w*_j x_j", 1, 1)
FORMAL = formal_statement()

X_EXAMPLE = [[1, 0], [1, 1], [2, -1], [0, 3]]
Y_EXAMPLE = [1, -2, 3, 1]


def s_step(setup, con, s_next) -> bool:
    """One layer with ``c_j = j`` at a symbolic position j updates ``s`` as the formula ``s_next`` says
    (a formula in the rows ``s, y`` and ``T, D^{-1}`` over n positions, instantiated at position j)."""
    cs = causal_symbols()
    j, Xp, x, yj, Tp = cs["j"], cs["Xp"], cs["x"], cs["yj"], cs["Tp"]
    s_p, s_j = MatrixSymbol("s_{<j}", 1, j - 1), MatrixSymbol("s_j", 1, 1)
    D_p = MatrixSymbol("D_{<j}^{-1}", j - 1, j - 1)
    # the earlier positions' residuals r_{<j} = y_{<j} - (s T^T D^{-1})_{<j} (induction hypothesis), written
    # with r_{<j} free and y_{<j} solved for it (cheaper for SymPy than the expanded product)
    r_p = MatrixSymbol("r_{<j}", 1, j - 1)
    r_j = yj - (s_p * Xp.T + s_j * x.T) * x / j
    sources = token(BlockMatrix([[Xp, x]]), BlockMatrix([[r_p, r_j]]))
    out = layer(setup, con, token(x, r_j), sources, j)  # the count normalizer of causal example j is j
    row = {"s": BlockMatrix([[s_p, s_j]]), "y": BlockMatrix([[r_p + s_p * Tp.T * D_p, yj]]),
           "T": BlockMatrix([[Tp, ZeroMatrix(j - 1, 1)], [x.T * Xp, x.T * x]]),
           "D^{-1}": BlockMatrix([[D_p, ZeroMatrix(j - 1, 1)], [ZeroMatrix(1, j - 1), Identity(1) / j]])}
    s_next = s_next.xreplace({N_POS: j})
    collapsed = sp.block_collapse(s_next.xreplace({m: row[m.name] for m in s_next.atoms(MatrixSymbol)
                                                   if m.name in row}))
    if not (isinstance(collapsed, BlockMatrix) and collapsed.blockshape == (1, 2)):
        return False
    new_p, new_j = collapsed.blocks[0, 0], collapsed.blocks[0, 1]
    return same(out, token(x, yj - (new_p * Xp.T + new_j * x.T) * x / j))


def stationary_v(ledger_ok: bool):
    """The model's stationary ``v_j`` at a symbolic position j (forward substitution of ``T s* = D y``)."""
    cs = causal_symbols()
    j, x, yj = cs["j"], cs["x"], cs["yj"]
    v_p = MatrixSymbol("v_{j-1}", 1, D)
    return v_p + (j * yj - v_p * x) * Inverse(x.T * x) * x.T if ledger_ok else None


def checks(setup, con, ledger) -> list[Check]:
    """What establishes each conclusion of the formal statement, through the setup's layer."""
    cs = causal_symbols()
    mu = lazy_factor(setup, "causal", "count", ETA, 1)

    def fixed_ok() -> bool:  # the s-recursion through the layer (the first check) held
        return con is not None and not ledger.failures

    return [
        Check(S_NEXT, "one layer with c_j = j updates s as stated at a symbolic position j (symbolic d; induction "
                      "over L)", equation_check(S_NEXT, lambda F: con is not None and s_step(setup, con, F))),
        model_equation(MU_J, lambda: mu()(S_J / cs["j"]), "the eigenvalue at position j is the layer's diagonal "
                       "entry mu(||x_j||^2 / j) (triangular by z3, determinant by induction on n)"),
        range_check(CONVERGES, mu, T_MIN, T_MAX, "radius", "converges iff eta is in the stated range, for every "
                    "spectrum {mu(||x_j||^2 / j)} (z3, power-convergence)", extra=[sp.Eq(KAPPA * T_MAX, 1)]),
        rate_check(RATE, mu, T_MIN, T_MAX, "radius", "the stated rate is the asymptotic rate max_j |mu(t_j)| (z3, "
                   "gelfand-formula)"),
        model_equation(V_J, lambda: stationary_v(fixed_ok()), "v_j is the fixed point of the layer's s-recursion by "
                       "forward substitution at a symbolic position j"),
        model_equation(FIT_J, lambda: None if not fixed_ok() else stationary_v(True) * cs["x"] / cs["j"],
                       "w*_j x_j = v_j x_j / j at a symbolic position j"),
    ]


def symbolic_checks(setup, con, ledger) -> None:
    s = causal_symbols()
    j, Xp, x, yj = s["j"], s["Xp"], s["x"], s["yj"]
    s_p, s_j = MatrixSymbol("s_{<j}", 1, j - 1), MatrixSymbol("s_j", 1, 1)
    w_j = (s_p * Xp.T + s_j * x.T) / j
    r_j = yj - w_j * x
    if con is not None:
        ledger.symbolic("r_j = y_j - (D^{-1} T s)_j at a symbolic position j",
                        is_zero(r_j - (yj - (x.T * Xp * s_p.T + x.T * x * s_j.T).T / j)))
    n = sp.Symbol("n", integer=True, positive=True)
    T, Dinv = MatrixSymbol("T", n, n), MatrixSymbol("D^{-1}", n, n)
    s_col, s_star = MatrixSymbol("s", n, 1), MatrixSymbol("s^*", n, 1)
    s_next = s_col + ETA * (Dinv * T * s_star - Dinv * T * s_col)  # y = D^{-1} T s*
    ok, why = triangular_check(setup)
    ledger.symbolic("no example reads a later one for every n (z3): the iteration is lower triangular", ok, why)
    ledger.symbolic("s' - s* = (I - eta D^{-1} T)(s - s*)",
                    is_zero(s_next - s_star - (Identity(n) - ETA * Dinv * T) * (s_col - s_star)))
    k = sp.Symbol("k", integer=True, nonnegative=True)
    lam, norm_sq = sp.symbols("lambda s", real=True)
    B_p, b = MatrixSymbol("B_{j-1}", k, k), MatrixSymbol("b", 1, k)
    beta = 1 - ETA * norm_sq / j
    char = BlockMatrix([[lam * Identity(k) - B_p, ZeroMatrix(k, 1)], [-b, sp.ImmutableMatrix([[lam - beta]])]])
    ledger.symbolic("det(lambda I - B_j) = (lambda - 1 + eta ||x_j||^2 / j) det(lambda I - B_{j-1})",
                    sp.simplify(sp.det(char) - (lam - beta) * sp.det(lam * Identity(k) - B_p)) == 0)
    norm = x.T * x
    v_p = s_p * Xp.T
    s_star_j = (j * yj - v_p * x) * Inverse(norm)
    ledger.symbolic("forward substitution: row j of T s* equals j y_j",
                    is_zero(x.T * Xp * s_p.T + x.T * x * s_star_j.T - j * yj.T))
    v_j = v_p + s_star_j * x.T
    ledger.symbolic("v_j = v_{j-1} + (j y_j - v_{j-1} x_j) x_j^T / ||x_j||^2 and w*_j x_j = y_j",
                    is_zero(v_j - (v_p + (j * yj - v_p * x) * Inverse(norm) * x.T)) and is_zero(v_j * x / j - yj))


def finite_checks(setup, ledger) -> None:
    ledger.finite("count normalizer on causal: c_j = j, c_q = n (n <= 6, m = 2)", all(
        exact(setup.normalizer("count", setup.mask("causal", n, 2)))
        == [sp.Integer(j) for j in range(1, n + 1)] + [sp.Integer(n)] * 2 for n in range(1, 7)))
    X = rational_matrix(X_EXAMPLE)
    y = sp.Matrix(Y_EXAMPLE)
    eta = sp.Rational(1, 5)
    B = iteration_from_layer(setup, "causal", "count", X, eta)
    Dinv = sp.diag(*[sp.Rational(1, j) for j in range(1, X.rows + 1)])
    T = gram_lower(X)
    ledger.finite("the setup's layer has residual iteration I - eta D^{-1} T (n = 4, d = 2, exact)",
                  same(B, sp.eye(X.rows) - eta * Dinv * T))
    ledger.finite("its eigenvalues are 1 - eta ||x_j||^2 / j (triangular)",
                  all(B[a, b] == 0 for a in range(X.rows) for b in range(a + 1, X.rows))
                  and all(B[a, a] == 1 - eta * T[a, a] / (a + 1) for a in range(X.rows)))
    N = (sp.eye(X.rows) - B) / eta  # the layer's D^{-1} T
    if N.det() == 0:
        ledger.finite("the layer's D^{-1} T is invertible", False)
        return
    s_star = N.LUsolve(y)
    w_layer = [sum((s_star[i] * X.row(i) for i in range(j + 1)), sp.zeros(1, X.cols)) / (j + 1) for j in range(X.rows)]
    v = sp.zeros(1, X.cols)
    recursion = []
    for j in range(X.rows):
        x = X.row(j)
        v = v + ((j + 1) * y[j] - v.dot(x)) * x / x.dot(x)
        recursion.append(v / (j + 1))
    ledger.finite("exact n = 4, d = 2: the layer's fixed point equals the v-recursion at every position",
                  all(a == b for a, b in zip(w_layer, recursion)))
    ledger.finite("exact n = 4, d = 2: w*_j x_j = y_j", all(w_layer[j].dot(X.row(j)) == y[j] for j in range(X.rows)))
    numeric = count_causal_stationary(np.array(X_EXAMPLE, float), np.array(Y_EXAMPLE, float)[:, None])[:, 0, :]
    exact_w = np.array([[float(t) for t in wj] for wj in w_layer])
    ledger.finite("verify.algorithms.count_causal_stationary agrees (numeric)",
                  bool(np.all(np.abs(numeric - exact_w) <= agreement_tol(float(np.abs(exact_w).max()), 10.0))))


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "causal", "count")
    con = construction(setup)
    symbolic_checks(setup, con, ledger)
    establish(ledger, formal, checks(setup, con, ledger))
    finite_checks(setup, ledger)
    return ledger.result(
        "s-recursion through the layer with c_j = j at a symbolic position j (symbolic d), error recursion, "
        "triangularity from the rule (z3), triangular determinant, forward substitution (all n, d); c_j = j derived "
        "from reads (z3 counting certificate); convergence iff rho < 1 and the rate from the named spectral-radius "
        "results",
        "exact n = 4, d = 2: iteration matrix, eigenvalues, stationary point vs "
        "verify.algorithms.count_causal_stationary",
    )


THEOREM = Theorem(
    id="P9",
    title="count normalizer: causal dynamics, stationary point and rate",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("L6", "P2", "P5", "P6"),
    prove=prove,
    formal=FORMAL,
)
