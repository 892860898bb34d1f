"""L6, the general lemma (SPEC section 6): one layer under any attention sets and normalizers.

Proof: apply ``verify.lsa.attend`` to a symbolic target ``[x_j; r_j]`` reading a
block of sources ``[X_A; r_A]`` of symbolic size ``n_A`` (any attention set; the
target may or may not be one of its columns, the identity is universal in the
symbols) with a symbolic normalizer ``c_j`` and symbolic ``d``, and reduce the
difference to the claimed token to zero.  Stacking the per-token identity over
examples is the matrix form ``r^(l) = (I - eta D^{-1} M) r^(l-1)``; the query's
prediction accumulates the same increments (induction over L, base ``u^(0) = 0``).
Finite checks run the full pipeline (mask, normalizer, ``lsa_layer``) for every
mask at n = 2, m = 1, for the named masks at n <= 4, and check that the paper's
two attention sets are the ones SPEC section 2 defines.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import sympy as sp
from sympy import MatrixSymbol, ZeroMatrix

from .formal import Check, Conclusions, equation_check, establish
from .registry import Theorem
from .symbolic import (
    ETA,
    SPEC_RULES,
    C,
    D,
    Ledger,
    attention_sets,
    claimed_c,
    construction,
    forward_exact,
    is_zero,
    layer,
    layer_residual_map,
    lemma_claim,
    model_checks,
    rational_matrix,
    same,
    token,
)

STATEMENT = (
    "With the paper's construction, for any attention sets A(j) and normalizers c_j, one layer maps "
    "z_j = [x_j; r_j] to [x_j; r_j - (eta/c_j) sum_{i in A(j)} r_i (x_i^T x_j)]. Hence the example residuals "
    "follow r^(l) = (I - eta D^{-1} M) r^(l-1), r^(0) = y, M_ji = [i in A(j)] x_i^T x_j, D = diag(c_j), and a "
    "query's prediction after L layers is (eta/c_q) sum_{l<L} sum_{i in A(q)} r_i^(l) x_i^T x_q."
)
LATEX = (
    r"z_j=\begin{bmatrix}x_j\\ r_j\end{bmatrix}\mapsto\begin{bmatrix}x_j\\ r_j-\frac{\eta}{c_j}"
    r"\sum_{i\in A(j)} r_i\,x_i^\top x_j\end{bmatrix},\qquad r^{(l)}=(I-\eta D^{-1}M)\,r^{(l-1)},\quad "
    r"\hat y_q^{(L)}=\frac{\eta}{c_q}\sum_{l<L}\sum_{i\in A(q)} r_i^{(l)}x_i^\top x_q"
)

#: the symbols of the formal statement: a target [x_j; r_j] reading a source block [X_A; r_A] of size n_A
N_A = sp.Symbol("n_A", integer=True, positive=True)
X_A, R_A = MatrixSymbol("X_A", D, N_A), MatrixSymbol("r_A", 1, N_A)
X_J, R_J, C_J = MatrixSymbol("x_j", D, 1), MatrixSymbol("r_j", 1, 1), sp.Symbol("c_j", positive=True)
X_Q, P_Q = MatrixSymbol("x_q", D, 1), MatrixSymbol("p", 1, 1)
#: what one layer produces: the target's x part and residual, and a query's prediction (query token [x_q; -p])
X_NEXT, R_NEXT, P_NEXT = MatrixSymbol("x_j'", D, 1), MatrixSymbol("r_j'", 1, 1), MatrixSymbol("p'", 1, 1)

FORMAL = Conclusions([
    sp.Eq(X_NEXT, X_J),
    sp.Eq(R_NEXT, R_J - (ETA / C_J) * R_A * X_A.T * X_J),
    sp.Eq(P_NEXT, P_Q + (ETA / C) * R_A * X_A.T * X_Q),
])


def one_layer(setup, con, target, c):
    """The setup's layer on ``target`` reading ``[X_A; r_A]``: its two blocks ``(x part, last row)``
    (``None`` when the output is not a 2 x 1 block matrix)."""
    out = sp.block_collapse(layer(setup, con, target, token(X_A, R_A), c))
    if not (isinstance(out, sp.BlockMatrix) and out.blockshape == (2, 1)):
        return None
    return out.blocks[0, 0], out.blocks[1, 0]


def checks(setup, con) -> list[Check]:
    """Each conclusion read off the setup's layer applied to symbolic blocks (symbolic d, n_A, c_j)."""
    def example():
        return None if con is None else one_layer(setup, con, token(X_J, R_J), C_J)

    def query():
        return None if con is None else one_layer(setup, con, token(X_Q, -P_Q), C)

    def part(get, k, sign=1):
        def verify(F):
            blocks = get()
            return blocks is not None and is_zero(sign * blocks[k] - F)
        return verify

    return [
        Check(X_NEXT, "the layer leaves x_j unchanged (symbolic d, n_A)", equation_check(X_NEXT, part(example, 0))),
        Check(R_NEXT, "the layer's new residual r_j' for any source block [X_A; r_A] (symbolic d, n_A, c_j)",
              equation_check(R_NEXT, part(example, 1))),
        Check(P_NEXT, "a query [x_q; -p] reading [X_A; r_A] gets prediction p' (induction over L, base p = 0)",
              equation_check(P_NEXT, part(query, 1, sign=-1))),
    ]


def query_induction(setup, con) -> bool:
    """Query readout by induction over L: if ``u^(l-1) = -p^(l-1)`` then ``u^(l) = -p^(l)`` with
    ``p^(l) = p^(l-1) + (eta/c_q) r_A^(l-1) X_A^T x_q``; base ``u^(0) = 0 = -p^(0)``."""
    n_a = sp.Symbol("n_A", integer=True, positive=True)
    X_a, r_a = MatrixSymbol("X_A", D, n_a), MatrixSymbol("r_A", 1, n_a)
    xq, p = MatrixSymbol("x_q", D, 1), MatrixSymbol("p", 1, 1)
    out = layer(setup, con, token(xq, -p), token(X_a, r_a), C)
    base = is_zero(ZeroMatrix(1, 1) - (-ZeroMatrix(1, 1)))
    return base and is_zero(out - token(xq, -(p + (ETA / C) * r_a * X_a.T * xq)))


def finite_check(setup, spec_or_mask, kind, n, m, d, ledger, label) -> None:
    """Full pipeline at a finite size against the lemma's prediction (symbols for x, r, u)."""
    X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
    Xq = sp.Matrix(m, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
    if isinstance(spec_or_mask, str):
        Z, out, r, u, _ = layer_residual_map(setup, spec_or_mask, kind, X, Xq, ETA, C)
        sets = attention_sets(setup.mask(spec_or_mask, n, m), n, m)
    else:  # a custom mask: route it through the setup's own mask argument
        custom = spec_or_mask
        local = dataclasses.replace(setup, mask=lambda *_: custom)
        Z, out, r, u, _ = layer_residual_map(local, "custom", kind, X, Xq, ETA, C)
        sets = attention_sets(custom, n, m)
    want = lemma_claim(Z, X, Xq, r, u, sets, claimed_c(kind, sets), ETA)
    ledger.finite(label, same(out, want), f"n = {n}, m = {m}, d = {d}")


def stack_check(setup, spec: str, kind: str, layers: int = 3) -> bool:
    """``lsa_forward`` over ``layers`` layers on an exact prompt against the lemma's matrix form:
    ``r^(l) = (I - eta D^{-1} M) r^(l-1)`` from ``r^(0) = y`` and the query readout
    ``(eta/c_q) sum_{l<L} sum_{i in A(q)} r_i^(l) x_i^T x_q`` (SPEC's sets and normalizers)."""
    X = rational_matrix([[1, 2], [-1, 1], [2, 0]])
    y = sp.Matrix([1, -2, 3])
    Xq = rational_matrix([[1, -1]])
    eta, c = sp.Rational(1, 9), sp.Integer(2)
    n = X.rows
    sets = [frozenset(i for i in range(n) if SPEC_RULES[spec](i, j, n)) for j in range(n + 1)]
    cs = claimed_c(kind, sets, c)
    G = X * X.T
    B = sp.eye(n) - eta * sp.Matrix(n, n, lambda j, i: G[j, i] / cs[j] if i in sets[j] else 0)
    runs = forward_exact(setup, spec, kind, X, y, Xq, eta, c, layers)
    r, prediction = y, sp.Integer(0)
    for l in range(layers + 1):
        got_r, got_q = runs[l]
        if list(r) != list(got_r) or [prediction] != list(got_q):
            return False
        prediction += eta / cs[n] * sum(r[i] * (X.row(i) * Xq.T)[0] for i in sets[n])
        r = B * r
    return True


def all_masks(n: int, m: int):
    """Every valid mask: any example sets; every query reads a non-empty set of examples."""
    subsets = [s for s in itertools.product((False, True), repeat=n)]
    nonempty = [s for s in subsets if any(s)]
    for ex_cols in itertools.product(subsets, repeat=n):
        for q_cols in itertools.product(nonempty, repeat=m):
            mask = np.zeros((n + m, n + m), dtype=bool)
            mask[:n, :n] = np.array(ex_cols).T
            mask[:n, n:] = np.array(q_cols).T
            yield mask


def prove(setup, formal=None):
    ledger = Ledger.for_setup(setup)
    establish(ledger, formal, checks(setup, construction(setup)))
    # the general step (any source block) is the third check of model_checks; the rest pin down the
    # two attention rules and both normalizers of SPEC section 2 at symbolic sizes
    model_checks(setup, ledger, "prefix", "constant")
    model_checks(setup, ledger, "causal", "count")
    ledger.symbolic("query readout, induction over L", query_induction(setup, construction(setup)))
    for spec, kind in (("prefix", "count"), ("causal", "constant")):
        model_checks(setup, ledger, spec, kind, finite=False)
    for spec, kind in (("prefix", "constant"), ("causal", "count")):
        ledger.finite(f"lsa_forward, 3 layers, {spec}, {kind}: residuals and query readout as the lemma says (n = 3, "
                      "d = 2, exact)", stack_check(setup, spec, kind))
    for kind in ("constant", "count"):
        for mask in all_masks(2, 1):
            finite_check(setup, mask, kind, 2, 1, 1, ledger, f"every mask at n = 2, m = 1, d = 1, {kind}")
            if ledger.failures:
                break  # one counterexample mask is enough
        for spec in ("prefix", "causal", "sliding:2", "block:2", "hybrid:2"):
            finite_check(setup, spec, kind, 4, 1, 2, ledger, f"{spec}, {kind}, n = 4, m = 1, d = 2")
    return ledger.result(
        "one layer for an arbitrary source block [X_A; r_A] (d x n_A, n_A and d symbolic), any c_j, with the "
        "construction at symbolic d; query readout by induction over L; prefix and causal rules and both "
        "normalizers equal SPEC's for every n (z3)",
        "full lsa_layer with the setup's masks and normalizers: all 48 masks at n = 2, m = 1, d = 1; "
        "prefix/causal/sliding:2/block:2/hybrid:2 at n = 4, m = 1, d = 2",
    )


THEOREM = Theorem(
    id="L6",
    title="General lemma: one layer moves residuals by -(eta/c_j) sum_{A(j)} r_i x_i^T x_j",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=(),
    prove=prove,
    formal=FORMAL,
)
