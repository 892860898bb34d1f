"""P5: causalLM converges linearly, asymptotically (SPEC section 3).

Symbolic, through ``verify.lsa.attend`` at a symbolic position j (blocks of symbolic
size j-1, symbolic d): if every position's weight is ``w_i = sum_{k<=i} a_k x_k^T``
(the same coefficients ``a`` for all positions), one layer gives
``w_j' = sum_{i<=j} a_i' x_i^T`` with ``a' = a + (eta/c)(y - T a)``,
``T_{ji} = x_i^T x_j`` (i <= j) -- the coefficient update does not depend on j, so the
representation persists (induction over L from ``a^(0) = 0``).  Then
``a' - a* = (I - (eta/c) T)(a - a*)`` when ``T a* = y``; and by induction on n
(block-triangular determinant) ``det(lambda I - B) = prod_j (lambda - 1 + (eta/c)||x_j||^2)``.

From the eigenvalues to the statement, exactly (``proofs.stability``, z3 over the reals): the
eigenvalue factor ``mu(s) = 1 - (eta/c) s`` is read off the setup's layer, the spectrum is
``{mu(||x_j||^2)}`` with ``||x_j||^2`` in ``[min_j, max_j]`` (both attained), so the spectral
radius is ``max |mu|`` over it; ``power-convergence`` and ``gelfand-formula``, instantiated from
their registered formulas, turn it into "converges iff eta is in the formula's range" and
"the asymptotic rate is the formula's rate", for every such spectrum.  What does *not* hold: B is not
normal, so ``||a^(l) - a*||`` need not decrease at every layer; exactly what holds is
``||a^(l) - a*|| <= K_eps (rho + eps)^l ||a^(0) - a*||`` for every eps > 0 with a
constant ``K_eps`` depending on X, eta, c.  The witness shows growth at a stable eta.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import sympy as sp
from sympy import BlockMatrix, Identity, MatrixSymbol, ZeroMatrix

from .formal import Check, Conclusions, equation_check, establish, model_equation
from .registry import Theorem
from .stability import lazy_factor, range_check, rate_check
from .symbolic import (
    ETA,
    C,
    D,
    Ledger,
    construction,
    fmt,
    forward_exact,
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
    "With a constant normalizer write w_j^(l) = sum_{i<=j} a_i^(l) x_i^T. Then "
    "a^(l) = a^(l-1) + (eta/c)(y - T a^(l-1)) with T lower triangular, T_ji = x_i^T x_j (i <= j), so "
    "a^(l) - a* = (I - (eta/c) T)(a^(l-1) - a*). The eigenvalues "
    "are 1 - (eta/c)||x_j||^2; it converges iff every x_j != 0 and 0 < eta < 2c / max_j ||x_j||^2, at asymptotic rate "
    "rho = max_j |1 - (eta/c)||x_j||^2| (lim ||B^l||^(1/l) = rho). T is not normal: ||a^(l) - a*|| can grow at some "
    "layer for a stable eta; only ||a^(l) - a*|| <= K_eps (rho + eps)^l ||a^(0) - a*|| holds."
)
LATEX = (
    r"a^{(l)}-a^\star=\Big(I-\frac{\eta}{c}T\Big)(a^{(l-1)}-a^\star),\ T_{ji}=x_i^\top x_j\,[i\le j],\quad "
    r"\operatorname{spec}=\{1-\tfrac{\eta}{c}\|x_j\|^2\},\quad \lim_{l}\|B^l\|^{1/l}=\rho=\max_j\big|1-\tfrac{\eta}{c}"
    r"\|x_j\|^2\big|"
)


#: the quantities the formal statement speaks about (row vectors a, y over n positions; T lower triangular)
N_POS = sp.Symbol("n", integer=True, positive=True)
A_NEXT = MatrixSymbol("a'", 1, N_POS)
S_J = sp.Symbol("s_j", positive=True)  # ||x_j||^2
MU_J = sp.Symbol("mu_j")  # the eigenvalue of the iteration at position j
S_MIN, S_MAX = sp.symbols("min_j||x_j||^2 max_j||x_j||^2", positive=True)
CONVERGES = sp.Symbol("converges")  # a^(l) -> a* for every y
RATE = sp.Symbol("rate", nonnegative=True)  # lim_l ||B^l||^(1/l)


def formal_statement() -> list:
    a, y, T = (MatrixSymbol(name, *shape) for name, shape in (("a", (1, N_POS)), ("y", (1, N_POS)),
                                                              ("T", (N_POS, N_POS))))
    return Conclusions([
        sp.Eq(A_NEXT, a + (ETA / C) * (y - a * T.T)),
        sp.Eq(MU_J, 1 - (ETA / C) * S_J),
        sp.Equivalent(CONVERGES, sp.And(0 < ETA, ETA < 2 * C / S_MAX)),
        sp.Eq(RATE, sp.Max(sp.Abs(1 - (ETA / C) * S_MIN), sp.Abs(1 - (ETA / C) * S_MAX))),
    ])


FORMAL = formal_statement()


def causal_symbols():
    j = sp.Symbol("j", integer=True, positive=True)
    return dict(j=j, Xp=MatrixSymbol("X_{<j}", D, j - 1), x=MatrixSymbol("x_j", D, 1),
                ap=MatrixSymbol("a_{<j}", 1, j - 1), aj=MatrixSymbol("a_j", 1, 1),
                yp=MatrixSymbol("y_{<j}", 1, j - 1), yj=MatrixSymbol("y_j", 1, 1),
                Tp=MatrixSymbol("T_{<j}", j - 1, j - 1))


def coefficient_step(setup, con, c=C, a_next=None) -> tuple[bool, bool]:
    """(residual of j is y_j - (T a)_j, one layer updates a as ``a_next`` says) at position j.

    ``c`` is the normalizer of position j; the earlier positions' residuals are
    ``y_{<j} - (T a)_{<j}`` (induction hypothesis on the rows before j).  ``a_next`` is a formula in
    the row vectors ``a, y`` and the matrix ``T`` over n positions (default ``a + (eta/c)(y - a T^T)``);
    it is instantiated at position j (``a = [a_{<j}, a_j]``, ``T = [[T_{<j}, 0], [x_j^T X_{<j}, x_j^T x_j]]``)."""
    s = causal_symbols()
    j, Xp, x, ap, aj, yj = (s[k] for k in ("j", "Xp", "x", "ap", "aj", "yj"))
    w_j = ap * Xp.T + aj * x.T
    r_p = MatrixSymbol("r_{<j}", 1, j - 1)  # = y_{<j} - (a T^T)_{<j}, see at_position
    r_j = yj - w_j * x
    row_ok = is_zero(r_j - (yj - (x.T * Xp * ap.T + x.T * x * aj.T).T))
    sources = token(BlockMatrix([[Xp, x]]), BlockMatrix([[r_p, r_j]]))
    out = layer(setup, con, token(x, r_j), sources, c)
    parts = at_position(FORMAL[0].rhs if a_next is None else a_next, s, c)
    if parts is None:
        return row_ok, False
    a_next_p, a_next_j = parts
    return row_ok, same(out, token(x, yj - (a_next_p * Xp.T + a_next_j * x.T) * x))


def at_position(a_next, s, c):
    """``(a'_{<j}, a'_j)``: a formula for ``a'`` over n positions with n = j and the blocks of position j
    substituted (``None`` if it does not split into those two blocks)."""
    j, Xp, x, ap, aj, yj, Tp = (s[k] for k in ("j", "Xp", "x", "ap", "aj", "yj", "Tp"))
    a_next = a_next.xreplace({N_POS: j, C: c})
    # y_{<j} solved for the free earlier residuals r_{<j} = y_{<j} - (a T^T)_{<j} (cheaper for SymPy)
    r_p = MatrixSymbol("r_{<j}", 1, j - 1)
    row = {"a": BlockMatrix([[ap, aj]]), "y": BlockMatrix([[r_p + ap * Tp.T, yj]]),
           "T": BlockMatrix([[Tp, ZeroMatrix(j - 1, 1)], [x.T * Xp, x.T * x]])}
    subs = {m: row[m.name] for m in a_next.atoms(MatrixSymbol) if m.name in row}
    collapsed = sp.block_collapse(a_next.xreplace(subs))
    if not (isinstance(collapsed, BlockMatrix) and collapsed.blockshape == (1, 2)):
        return None
    return collapsed.blocks[0, 0], collapsed.blocks[0, 1]


def error_recursion() -> bool:
    """``a' - a* = (I - (eta/c) T)(a - a*)`` for ``a' = a + (eta/c)(y - T a)``, ``y = T a*`` (columns)."""
    n = sp.Symbol("n", integer=True, positive=True)
    T, a, a_s = MatrixSymbol("T", n, n), MatrixSymbol("a", n, 1), MatrixSymbol("a^*", n, 1)
    a_next = a + (ETA / C) * (T * a_s - T * a)
    return is_zero(a_next - a_s - (Identity(n) - (ETA / C) * T) * (a - a_s))


def determinant_step() -> bool:
    """Induction on n: with B_n = [[B_{n-1}, 0], [b, beta_n]] (zero block: position < n never reads n),
    det(lambda I - B_n) = (lambda - beta_n) det(lambda I - B_{n-1}), beta_n = 1 - (eta/c)||x_n||^2."""
    k = sp.Symbol("k", integer=True, nonnegative=True)
    lam, norm_sq = sp.symbols("lambda s", real=True)
    B_p, b = MatrixSymbol("B_{n-1}", k, k), MatrixSymbol("b", 1, k)
    beta = 1 - (ETA / C) * norm_sq
    char = BlockMatrix([[lam * Identity(k) - B_p, ZeroMatrix(k, 1)], [-b, sp.ImmutableMatrix([[lam - beta]])]])
    return sp.simplify(sp.det(char) - (lam - beta) * sp.det(lam * Identity(k) - B_p)) == 0


# ---------------------------------------------------------------- the witness


def _search_witness():
    """Smallest (max|x|, denominator of eta, max|y|) d = 1, n = 2 example whose error
    ||a^(1) - a*|| exceeds ||a^(0) - a*|| = ||a*|| at a stable eta (exact, Fractions)."""
    best = None
    for bound in range(1, 4):
        for x in itertools.product(range(1, bound + 1), repeat=2):
            if max(x) != bound:
                continue
            for q in range(1, 11):
                for p in range(1, 2 * q):
                    eta = Fraction(p, q)
                    if not max(abs(1 - eta * xi * xi) for xi in x) < 1:
                        continue
                    for a_star in itertools.product(range(-2, 3), repeat=2):
                        y = (x[0] * x[0] * a_star[0], x[0] * x[1] * a_star[0] + x[1] * x[1] * a_star[1])
                        e0 = [-a for a in a_star]
                        e1 = [(1 - eta * x[0] ** 2) * e0[0], -eta * x[0] * x[1] * e0[0] + (1 - eta * x[1] ** 2) * e0[1]]
                        if sum(e * e for e in e1) > sum(e * e for e in e0):
                            key = (bound, q, max(abs(v) for v in y), sum(abs(v) for v in y), p)
                            if best is None or key < best[0]:
                                best = (key, x, eta, y)
        if best is not None:
            return best[1:]
    raise AssertionError("no witness in the search space")


def witness(setup, ledger, layers: int = 8) -> dict:
    """Run the setup's causal model exactly on the searched example; read a^(l) from the
    residuals (``a^(l) = T^{-1}(y - r^(l))``) and check growth, stability and the recursion."""
    x, eta, y = _search_witness()
    X = rational_matrix([[v] for v in x])
    y_vec = sp.Matrix([sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v for v in y])
    eta = sp.Rational(eta.numerator, eta.denominator)
    T = gram_lower(X)
    a_star = T.inv() * y_vec
    run = forward_exact(setup, "causal", "constant", X, y_vec, sp.Matrix([[1]]), eta, 1, layers)
    errors = []
    for res, _ in run:
        a = T.inv() * (y_vec - sp.Matrix(res))
        errors.append(sum((a - a_star).applyfunc(lambda v: v ** 2)))
    rho = max(abs(1 - eta * T[j, j]) for j in range(T.rows))
    B = sp.eye(T.rows) - eta * T
    recursion = all(sp.simplify(errors[l] - sum((B ** l * a_star).applyfunc(lambda v: v ** 2))) == 0
                    for l in range(layers + 1))
    grows = [l for l in range(1, layers + 1) if errors[l] > errors[l - 1]]
    ledger.finite("witness: the setup's layers follow a^(l) - a* = B^l (a^(0) - a*)", recursion)
    ledger.finite("witness: eta stable (rho < 1) and the error norm grows at some layer", rho < 1 and bool(grows))
    return {
        "X": [[fmt(v) for v in X.row(i)] for i in range(X.rows)],
        "y": [fmt(v) for v in y_vec],
        "eta": fmt(eta),
        "c": "1",
        "rho": fmt(rho),
        "stable_eta_max": fmt(2 / max(T[j, j] for j in range(T.rows))),
        "error": "||a^(l) - a*||^2 from a^(0) = 0",
        "error_norm_sq": [fmt(e) for e in errors],
        "grows_at_layers": grows,
    }


def checks(setup, con) -> list[Check]:
    """What establishes each conclusion of the formal statement, through the setup's layer."""
    mu = lazy_factor(setup, "causal", "constant", ETA, C)

    return [
        Check(A_NEXT, "r_j = y_j - (T a)_j and one layer updates the coefficients as stated, at a symbolic "
                      "position j (symbolic d; the update does not depend on j: induction over L)",
              equation_check(A_NEXT, lambda F: con is not None and all(coefficient_step(setup, con, a_next=F)))),
        model_equation(MU_J, lambda: mu()(S_J), "the eigenvalue at position j is the layer's diagonal entry "
                       "mu(||x_j||^2) (triangular by z3, determinant by induction on n)"),
        range_check(CONVERGES, mu, S_MIN, S_MAX, "radius", "converges iff eta is in the stated range, for every "
                    "spectrum {mu(||x_j||^2)} (z3, power-convergence)"),
        rate_check(RATE, mu, S_MIN, S_MAX, "radius", "the stated rate is the asymptotic rate: max_j |mu(||x_j||^2)| "
                   "(z3, gelfand-formula)"),
    ]


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "causal", "constant")
    establish(ledger, formal, checks(setup, construction(setup)))
    ok, why = triangular_check(setup)
    ledger.symbolic("no example reads a later one for every n (z3): the iteration is lower triangular", ok, why)
    ledger.symbolic("a' - a* = (I - (eta/c) T)(a - a*)", error_recursion())
    ledger.symbolic("det(lambda I - B_n) = (lambda - beta_n) det(lambda I - B_{n-1}) (induction on n)",
                    determinant_step())
    X = rational_matrix([[1, 0], [1, 1], [2, -1]])
    eta = sp.Rational(1, 7)
    B = iteration_from_layer(setup, "causal", "constant", X, eta, 1)
    ledger.finite("the setup's layer has residual iteration I - (eta/c) T (n = 3, d = 2, exact)",
                  same(B, sp.eye(3) - eta * gram_lower(X)))
    eig = B.eigenvals()
    want = {}
    for j in range(3):
        lam = 1 - eta * X.row(j).dot(X.row(j))
        want[lam] = want.get(lam, 0) + 1
    ledger.finite("its eigenvalues are 1 - (eta/c)||x_j||^2 with multiplicity", eig == want)
    found = witness(setup, ledger)
    return ledger.result(
        "coefficient recursion through the layer at a symbolic position j (symbolic d), error recursion, "
        "triangularity from the rule (z3), triangular determinant by induction on n; convergence iff rho < 1 and the "
        "asymptotic rate from the named spectral-radius results",
        "exact example n = 3, d = 2 (iteration matrix, eigenvalues); witness n = 2, d = 1 over 8 layers",
        witness=found,
    )


THEOREM = Theorem(
    id="P5",
    title="causalLM converges linearly, at an asymptotic rate only",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("P2",),
    prove=prove,
    formal=FORMAL,
)
