"""P2: causalLM is per-position online dynamics (SPEC section 3).

Induction over L with symbolic position j and symbolic d: causal example j reads
the block ``[X_{<j}, x_j; r_{<j}, r_j]`` (``X_{<j}`` of shape (d, j-1); each earlier
example carries its own residual ``r_i = y_i - w_i x_i``, so ``r_{<j}`` is a free
symbol).  ``verify.lsa.attend`` on ``[x_j; y_j - w_j x_j]`` must give
``[x_j; y_j - w_j' x_j]`` with ``w_j' = w_j + (eta/c_j)(r_{<j} X_{<j}^T + r_j x_j^T)``.
A query reads 1..n, the same block as example n; with ``w_q = w_n`` and
``c_q = c_n`` its update is example n's, so ``w_q^(L) = w_n^(L)`` for all L.
"""
from __future__ import annotations

import sympy as sp
from sympy import MatrixSymbol, ZeroMatrix

from verify.prompt import tokens

from .formal import Check, Conclusions, equation_check, establish
from .registry import Theorem
from .symbolic import ETA, C, D, Ledger, construction, exact, forward, is_zero, layer, model_checks, same, token

STATEMENT = (
    "With the paper's construction and causal attention, for every n, d >= 1 and L >= 0: "
    "z_j^(L) = [x_j; y_j - w_j^(L) x_j] with w_j^(0) = 0 and "
    "w_j^(l) = w_j^(l-1) + (eta/c_j) sum_{i<=j} (y_i - w_i^(l-1) x_i) x_i^T. Each position keeps its own weight; "
    "the query's weight equals w_n^(L) whenever c_q = c_n."
)
LATEX = (
    r"z_j^{(L)}=\begin{bmatrix}x_j\\ y_j-w_j^{(L)}x_j\end{bmatrix},\quad w_j^{(l)}=w_j^{(l-1)}+\frac{\eta}{c_j}"
    r"\sum_{i\le j}\big(y_i-w_i^{(l-1)}x_i\big)x_i^\top,\ w_j^{(0)}=0,\quad w_q^{(L)}=w_n^{(L)}\text{ if }c_q=c_n"
)


def symbols():
    j = sp.Symbol("j", integer=True, positive=True)
    return dict(j=j, Xp=MatrixSymbol("X_{<j}", D, j - 1), rp=MatrixSymbol("r_{<j}", 1, j - 1),
                x=MatrixSymbol("x_j", D, 1), yj=MatrixSymbol("y_j", 1, 1), w=MatrixSymbol("w_j", 1, D),
                xq=MatrixSymbol("x_q", D, 1), c=sp.Symbol("c_j", positive=True), eta=ETA)


#: what the formal statement speaks about: position j's weight after one layer, and a query's
#: (which reads what example n reads; w_q = w_n, c_q = c_n)
W_NEXT_J, W_NEXT_Q = MatrixSymbol("w_j'", 1, D), MatrixSymbol("w_q'", 1, D)


def online_step(s):
    """``w_j + (eta/c_j)(r_{<j} X_{<j}^T + (y_j - w_j x_j) x_j^T)``."""
    return s["w"] + (s["eta"] / s["c"]) * (s["rp"] * s["Xp"].T + (s["yj"] - s["w"] * s["x"]) * s["x"].T)


def formal_statement() -> list:
    s = symbols()
    return Conclusions([sp.Eq(W_NEXT_J, online_step(s)), sp.Eq(W_NEXT_Q, online_step(s))])


def checks(setup, con) -> list[Check]:
    s = symbols()
    memo: dict = {}

    def stepped(F, k):  # one layer run per stated value (example and query share it)
        if F not in memo:
            memo[F] = con is not None and step(setup, con, s, F)
        return bool(memo[F] and memo[F][k])

    return [
        Check(W_NEXT_J, "induction step at a symbolic position j: one layer maps the form at w_j to the form at the "
                        "stated w_j' (symbolic j, d, c_j)", equation_check(W_NEXT_J, lambda F: stepped(F, 0))),
        Check(W_NEXT_Q, "a query with w_q = w_n, c_q = c_n moves to the stated w_q'",
              equation_check(W_NEXT_Q, lambda F: stepped(F, 1))),
    ]


def step(setup, con, s, w_next=None):
    """(example ok, query ok): the induction step at position j (and at a query with j = n) to ``w_next``."""
    r_j = s["yj"] - s["w"] * s["x"]
    sources = token(sp.BlockMatrix([[s["Xp"], s["x"]]]), sp.BlockMatrix([[s["rp"], r_j]]))
    w_next = online_step(s) if w_next is None else w_next
    example = layer(setup, con, token(s["x"], r_j), sources, s["c"])
    query = layer(setup, con, token(s["xq"], -s["w"] * s["xq"]), sources, s["c"])  # w_q = w_n, c_q = c_n
    return (same(example, token(s["x"], s["yj"] - w_next * s["x"])),
            same(query, token(s["xq"], -w_next * s["xq"])))


def online(X, y, c, layers):
    """The claimed per-position weights, computed from the recursion (explicit SymPy)."""
    n, d = X.shape
    W = [sp.zeros(1, d) for _ in range(n)]
    out = [list(W)]
    for _ in range(layers):
        r = [y[i] - (W[i] * X.row(i).T)[0] for i in range(n)]
        W = [W[j] + (ETA / c[j]) * sum((r[i] * X.row(i) for i in range(j + 1)), sp.zeros(1, d)) for j in range(n)]
        out.append(list(W))
    return out


def finite_layers(setup, n=3, d=1, m=1, layers=2) -> bool:
    """``lsa_forward`` (setup's mask and constant normalizer) equals the recursion, query = w_n."""
    X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
    Xq = sp.Matrix(m, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y{i}"))
    mask = setup.mask("causal", n, m)
    c = exact(setup.normalizer("constant", mask, C))
    con = setup.construction(ETA, d)
    states = forward(setup, tokens(X, y, Xq), [con] * layers, mask, c)
    for Z, W in zip(states, online(X, y, [C] * n, layers)):
        want = sp.Matrix(Z).copy()
        for j in range(n):
            want[d, j] = y[j] - (W[j] * X.row(j).T)[0]
        for q in range(m):
            want[d, n + q] = -(W[n - 1] * Xq.row(q).T)[0]
        if not same(sp.Matrix(Z), want):
            return False
    return True


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    model_checks(setup, ledger, "causal", "constant")
    model_checks(setup, ledger, "causal", "count", finite=False)
    con = construction(setup)
    establish(ledger, formal, checks(setup, con))
    if con is not None:
        s = symbols()
        ledger.symbolic("base case L = 0: w_j^(0) = 0 gives the initial tokens [x_j; y_j]",
                        is_zero((s["yj"] - ZeroMatrix(1, D) * s["x"]) - s["yj"]))
    ledger.finite("lsa_forward 2 layers = online dynamics (n = 3, d = 1, m = 1)", finite_layers(setup))
    return ledger.result(
        "induction over L (base + step) at a symbolic position j with X_{<j} of shape (d, j-1), symbolic d, c_j",
        "lsa_layer at n = 3, d = 2 (causal, constant); "
        "2 layers at n = 3, d = 1",
    )


THEOREM = Theorem(
    id="P2",
    title="causalLM is per-position online dynamics",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=("L6",),
    prove=prove,
    formal=formal_statement(),
)
