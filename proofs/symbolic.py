"""Shared SymPy helpers for the proofs: symbolic sizes, symbolic-d constructions,
symbolic tokens, exact zero tests and the bookkeeping that turns checks into a status.

Two kinds of objects are fed to the package's own layer (``verify.lsa.attend``):

- *block tokens* for symbolic sizes: ``[X_A; r_A]`` with ``X_A`` a ``MatrixSymbol``
  of shape ``(d, n_A)`` and ``d``, ``n_A`` SymPy symbols, and the construction at
  symbolic ``d`` (``verify.construction.paper(eta, d)`` with ``d`` a symbol: block
  matrices, the same definition the numeric path instantiates);
- *explicit tokens* for finite sizes: ``sympy.Matrix`` of symbols or rationals,
  run through ``verify.lsa.lsa_layer`` with the setup's mask and normalizer
  (:func:`layer_residual_map`).

Example::

    con = construction(Setup())
    out = layer(Setup(), con, token(x, r), token(X_A, r_A), C)
    is_zero(out - token(x, r - (ETA / C) * r_A * X_A.T * x))   # the general lemma
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy import BlockMatrix, block_collapse

from verify.logic import holds
from verify.prompt import tokens

from .registry import Result

#: symbolic dimension d, number of examples n and of queries m, step size, constant normalizer
D = sp.Symbol("d", integer=True, positive=True)
N = sp.Symbol("n", integer=True, positive=True)
M = sp.Symbol("m", integer=True, positive=True)
ETA = sp.Symbol("eta", positive=True)
C = sp.Symbol("c", positive=True)
#: symbolic source and target token indices (0-based; targets j >= n are queries)
I_SRC = sp.Symbol("i", integer=True, nonnegative=True)
J_TGT = sp.Symbol("j", integer=True, nonnegative=True)


def construction(setup, eta=ETA, d=D):
    """The setup's construction (``verify.construction.paper`` unless replaced) at symbolic ``d``:
    2 x 2 block matrices over ``(d, 1)``, read at call time, never sampled."""
    return setup.construction(eta, d)


def token(x, r) -> BlockMatrix:
    """A block of tokens ``[x; r]``: ``x`` is ``(d, s)``, ``r`` is ``(1, s)``."""
    return BlockMatrix([[x], [r]])


def hcat(*blocks) -> BlockMatrix:
    """Horizontal concatenation of matrix expressions (``[A, B]``)."""
    return BlockMatrix([list(blocks)])


def layer(setup, construction, target, sources, c):
    """The package's layer on symbolic blocks: ``verify.lsa.attend`` (the setup's, read at call
    time) with every target reading every source (the sources *are* its attention set ``A(j)``)."""
    return setup.attend(target, sources, construction, None, c)


def is_zero(expr) -> bool:
    """True when SymPy reduces ``expr`` to zero (block by block, entry by entry).

    Conservative: an expression SymPy cannot reduce counts as non-zero, so a
    proof can fail spuriously but never pass spuriously.
    """
    expr = block_collapse(expr) if isinstance(expr, sp.MatrixExpr) else expr
    if isinstance(expr, BlockMatrix):
        return all(is_zero(b) for b in expr.blocks)
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(t) for t in expr)
    if isinstance(expr, sp.MatrixExpr):
        reduced = sp.expand(expr.doit())
        if not _vanishes(reduced):  # cheap canonical form first, then simplify
            reduced = sp.simplify(reduced)
        if isinstance(reduced, sp.MatrixBase):
            return is_zero(reduced)
        if _vanishes(reduced):
            return True
        # SymPy folds (x^T x)(x^T x) into a MatPow that MatMul does not match; unfold and retry
        return _vanishes(sp.expand(_unpow(reduced)))
    expanded = sp.expand(expr)
    return expanded == 0 or sp.simplify(expanded) == 0


def _vanishes(expr) -> bool:
    return bool(getattr(expr, "is_ZeroMatrix", False)) or expr == 0


def _unpow(expr):
    """Replace ``A**k`` (k a positive integer) by the product ``A A ... A``."""
    return expr.replace(lambda t: isinstance(t, sp.MatPow) and t.exp.is_Integer and t.exp > 1,
                        lambda t: sp.MatMul(*([t.base] * int(t.exp)), evaluate=False))


def same(a, b) -> bool:
    """``is_zero(a - b)``."""
    return is_zero(a - b)


# ---------------------------------------------------------------- finite sizes


def exact(values) -> list:
    """Normalizers as exact SymPy numbers (integral floats become Integers)."""
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        if isinstance(v, (float, np.floating)):
            v = sp.Integer(int(v)) if float(v).is_integer() else sp.Rational(float(v))
        out.append(sp.sympify(v))
    return out


def attention_sets(mask, n: int, m: int) -> list[frozenset]:
    """``A(j)`` (0-based example indices) for every token, read from a mask."""
    mask = np.asarray(mask)
    return [frozenset(int(i) for i in np.flatnonzero(mask[:, j])) for j in range(n + m)]


def layer_residual_map(setup, spec: str, kind: str, X, Xq, eta, c):
    """Run the setup's layer once on explicit tokens with symbolic residuals.

    Tokens are ``[x_j; r_j]`` for examples and ``[x_q; u_q]`` for queries
    (``X`` (n, d), ``Xq`` (m, d) SymPy matrices; ``r``, ``u`` symbols), masked and
    normalized by the setup.  Returns ``(Z_in, Z_out, r, u, c_vector)``.
    """
    X, Xq = sp.Matrix(X), sp.Matrix(Xq)
    n, m = X.rows, Xq.rows
    r = sp.Matrix(1, n, sp.symbols(f"r1:{n + 1}"))
    u = sp.Matrix(1, m, sp.symbols(f"u1:{m + 1}"))
    Z = tokens(X, r.T, Xq)
    Z[X.cols, n:] = u
    mask = setup.mask(spec, n, m)
    cvec = exact(setup.normalizer(kind, mask, c))
    out = setup.lsa_layer(sp.Matrix(Z), setup.construction(eta, X.cols), mask, cvec)
    return Z, sp.Matrix(out), r, u, cvec


def lemma_claim(Z, X, Xq, r, u, sets, cvec, eta):
    """The token matrix the general lemma predicts after one layer (SPEC section 6):
    ``x`` unchanged, ``r_j <- r_j - (eta / c_j) sum_{i in A(j)} r_i x_i^T x_j``."""
    X, Xq = sp.Matrix(X), sp.Matrix(Xq)
    allx = X.col_join(Xq)
    last = list(r) + list(u)
    want = sp.Matrix(Z)
    for j in range(want.cols):
        moved = sum((r[i] * allx.row(i).dot(allx.row(j)) for i in sets[j]), sp.Integer(0))
        want[X.cols, j] = last[j] - eta / cvec[j] * moved
    return want


def rational_matrix(rows) -> sp.Matrix:
    """A SymPy matrix of exact rationals from nested lists of ints/strings."""
    return sp.Matrix([[sp.Rational(v) for v in row] for row in rows])


def iteration_from_layer(setup, spec: str, kind: str, X, eta, c=1):
    """The example-residual iteration matrix ``B`` (``r' = B r``) of the setup's
    layer, read off by running it on explicit tokens (exact)."""
    X = sp.Matrix(X)
    Xq = sp.zeros(1, X.cols)
    Xq[0, 0] = 1
    _, out, r, _, _ = layer_residual_map(setup, spec, kind, X, Xq, eta, c)
    residuals = out[X.cols, : X.rows]
    return residuals.jacobian(list(r))


def gram_lower(X) -> sp.Matrix:
    """``T`` with ``T_{ji} = x_i^T x_j`` for ``i <= j`` and 0 above the diagonal (rows of X)."""
    X = sp.Matrix(X)
    n = X.rows
    return sp.Matrix(n, n, lambda j, i: X.row(i).dot(X.row(j)) if i <= j else 0)


def fmt(value) -> str:
    """An exact rational as a string ``"3/7"``."""
    return str(sp.Rational(value))


# ---------------------------------------------------------------- bookkeeping


class CheckFailed(Exception):
    """Raised by a fail-fast :class:`Ledger` at its first failed check."""


@dataclass
class Ledger:
    """Collects a proof's checks and turns them into a :class:`Result`.

    ``symbolic`` checks hold for symbolic sizes; ``finite`` checks name their sizes.
    ``coverage`` is filled by :func:`proofs.formal.establish`: one entry per conclusion of the
    theorem's formal statement, with the checks that established it.
    Status, computed here and nowhere else: ``failed`` if any check failed or the statement has
    no conclusion; otherwise ``refuted`` if an exact counterexample was re-checked
    (:meth:`counterexample`); otherwise ``checked`` if no symbolic check ran or some conclusion is
    established only by finite checks; otherwise ``conditional`` when it rests on named standard
    results (``assumes``, including those of the checks that established a conclusion), else
    ``proved``.
    """

    symbolic_ok: list = field(default_factory=list)
    finite_ok: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    coverage: list = field(default_factory=list)
    fail_fast: bool = False
    counterexamples: list = field(default_factory=list)

    @classmethod
    def for_setup(cls, setup) -> Ledger:
        """A ledger that stops at the first failed check when ``setup.extra['fail_fast']``
        (the mutation tests: a failed status needs one failing check, not all of them)."""
        return cls(fail_fast=bool(setup.extra.get("fail_fast", False)))

    def symbolic(self, name: str, ok: bool, why: str = "") -> bool:
        self.symbolic_ok.append(name)
        if not ok:
            self._fail(f"symbolic: {name}" + (f" ({why})" if why else ""))
        return ok

    def finite(self, name: str, ok: bool, why: str = "") -> bool:
        self.finite_ok.append(name)
        if not ok:
            self._fail(f"finite: {name}" + (f" ({why})" if why else ""))
        return ok

    def counterexample(self, name: str, rechecked: bool) -> bool:
        """An exact witness against the statement: ``refuted`` once re-checked, a failed check otherwise."""
        if rechecked:
            self.counterexamples.append(name)
        else:
            self._fail(f"counterexample: {name} (its exact re-check failed)")
        return rechecked

    def _fail(self, text: str) -> None:
        self.failures.append(text)
        if self.fail_fast:
            raise CheckFailed(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def result(self, symbolic_scope: str, finite_scope: str, witness=None, assumes: tuple = ()) -> Result:
        if not self.coverage:
            self.failures.append("the formal statement has no conclusion: nothing is established")
        assumes = tuple(dict.fromkeys([*assumes, *(a for c in self.coverage for a in c["assumes"])]))
        if self.failures:
            status = "failed"
        elif self.counterexamples:
            status = "refuted"
        elif not self.symbolic_ok or any(c["kind"] != "symbolic" for c in self.coverage):
            status = "checked"
        else:
            status = "conditional" if assumes else "proved"
        parts = []
        if self.symbolic_ok:
            parts.append(f"symbolic: {symbolic_scope}")
        if finite_scope:
            parts.append(f"finite: {finite_scope}")
        if assumes:
            parts.append(f"assumes: {', '.join(assumes)}")
        detail = "; ".join(self.failures + self.notes)
        return Result(status, "; ".join(parts), witness, detail, tuple(assumes), tuple(self.coverage))


# ---------------------------------------------------------------- the paper's two models

#: the attention rules SPEC section 2 defines (0-based; tokens j >= n are queries), written
#: here as the theorems' claims, independently of ``verify.masks.reads``
SPEC_RULES = {
    "prefix": lambda i, j, n: i < n,
    "causal": lambda i, j, n: sp.And(i < n, sp.Or(j >= n, i <= j)),
}
#: SPEC's count normalizers ``|A(j)|``: (example j, query)
SPEC_COUNTS = {
    "prefix": (lambda j, n: n, lambda n: n),
    "causal": (lambda j, n: j + 1, lambda n: n),
}


def _guard(check, *args):
    """Run a check; a wrong model may make it raise, which is a failed check, not a crash."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - any exception of a replaced model is a failure
        return False, f"{type(exc).__name__}: {exc}"


def rule_check(setup, spec: str) -> tuple[bool, str]:
    """z3: ``reads(spec, i, j, n)`` is SPEC's rule for all integers ``n >= 1``, ``i, j >= 0``."""
    rule = setup.reads(spec, I_SRC, J_TGT, N)
    ok, counterexample = holds(sp.Equivalent(rule, SPEC_RULES[spec](I_SRC, J_TGT, N)))
    return ok, "" if ok else f"differs at {counterexample}"


def normalizer_check(setup, spec: str, kind: str) -> tuple[bool, str]:
    """The setup's normalizer at symbolic sizes (the mask at symbolic ``n, m``): ``c_j = c``
    (constant) or SPEC's ``|A(j)|`` (count; z3), for every example ``j < n`` and every query."""
    c = setup.normalizer(kind, setup.mask(spec, N, M), C)
    example, query = c(J_TGT), c(N + J_TGT)
    if kind == "constant":
        ok = sp.simplify(example - C) == 0 and sp.simplify(query - C) == 0
        return ok, "" if ok else f"c_j = {example}, c_q = {query}, want c"
    want_example, want_query = SPEC_COUNTS[spec]
    ok_e, cex_e = holds(sp.Eq(example, want_example(J_TGT, N)), [J_TGT < N])
    ok_q, cex_q = holds(sp.Eq(query, want_query(N)))
    return ok_e and ok_q, "" if ok_e and ok_q else f"count differs at {cex_e or cex_q}"


def lemma_step(setup, con) -> bool:
    """SPEC section 6 for one target: ``attend`` on ``[x_j; r_j]`` reading a source block
    ``[X_A; r_A]`` of symbolic size ``n_A`` (symbolic ``d``, ``c_j``) gives
    ``[x_j; r_j - (eta/c_j) r_A X_A^T x_j]``."""
    n_a = sp.Symbol("n_A", integer=True, positive=True)
    X_a, r_a = sp.MatrixSymbol("X_A", D, n_a), sp.MatrixSymbol("r_A", 1, n_a)
    x, r = sp.MatrixSymbol("x_j", D, 1), sp.MatrixSymbol("r_j", 1, 1)
    c_j = sp.Symbol("c_j", positive=True)
    out = layer(setup, con, token(x, r), token(X_a, r_a), c_j)
    return is_zero(out - token(x, r - (ETA / c_j) * r_a * X_a.T * x))


def prefix_matrix_step(setup) -> bool:
    """The whole prefix token matrix at symbolic ``n, d``: with every token reading every token
    (the prefix rule, established for every n by :func:`rule_check`), ``Z = [X; r]`` moves to
    ``[X; r (I - (eta/c) X^T X)]``: the residual iteration is the symmetric ``I - (eta/c) X^T X``."""
    X, r = sp.MatrixSymbol("X", D, N), sp.MatrixSymbol("r", 1, N)
    Z = token(X, r)
    out = setup.attend(Z, Z, construction(setup), None, C)
    return is_zero(out - token(X, r * (sp.Identity(N) - (ETA / C) * X.T * X)))


def triangular_check(setup, spec: str = "causal") -> tuple[bool, str]:
    """z3, every n: no example reads a later example (``reads(i, j, n)``, ``j < n`` imply ``i <= j``),
    so ``M`` and the residual iteration ``I - eta D^{-1} M`` are lower triangular."""
    rule = setup.reads(spec, I_SRC, J_TGT, N)
    ok, counterexample = holds(sp.Implies(sp.And(rule, J_TGT < N), I_SRC <= J_TGT))
    return ok, "" if ok else f"example {counterexample} reads a later one"


def model_checks(setup, ledger: Ledger, spec: str, kind: str, finite: bool = True) -> bool:
    """The setup's model is the one the theorem is about, at symbolic sizes.

    Symbolic: (1) ``reads`` is SPEC's rule for ``spec`` for every ``n`` (z3); (2) the
    normalizer ``kind`` at symbolic ``n, m`` is SPEC's; (3) the layer with the construction
    at symbolic ``d`` moves a token as the general lemma says.  Finite (``finite=True``): one
    full ``lsa_layer`` (setup's mask, normalizer, construction) on symbolic tokens at
    ``n = 3, m = 1, d = 2`` against the lemma with SPEC's sets.
    """
    ok_rule, why = _guard(rule_check, setup, spec)
    ledger.symbolic(f"{spec} attention: reads(i, j, n) is SPEC's rule for every n (z3)", ok_rule, why)
    ok_c, why = _guard(normalizer_check, setup, spec, kind)
    ledger.symbolic(f"{kind} normalizer under {spec} attention at symbolic n, m", ok_c, why)
    ok_layer, why = _guard(lambda: (lemma_step(setup, construction(setup)), ""))
    ledger.symbolic("the layer at symbolic d moves r_j by -(eta/c_j) r_A X_A^T x_j (general lemma)", ok_layer, why)
    good = True
    if finite:
        n, m, d = 3, 1, 2
        X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
        Xq = sp.Matrix(m, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
        try:
            Z, out, r, u, _ = layer_residual_map(setup, spec, kind, X, Xq, ETA, C)
            sets = [frozenset(i for i in range(n) if SPEC_RULES[spec](i, j, n)) for j in range(n + m)]
            want = lemma_claim(Z, X, Xq, r, u, sets, claimed_c(kind, sets), ETA)
            good, why = same(out, want), ""
        except Exception as exc:  # noqa: BLE001
            good, why = False, f"{type(exc).__name__}: {exc}"
        ledger.finite(f"lsa_layer with the {spec} mask and {kind} normalizer (n = {n}, m = {m}, d = {d})", good, why)
    return ok_rule and ok_c and ok_layer and good


def claimed_c(kind: str, sets, c=C) -> list:
    """The claim's normalizers: ``c`` (constant) or ``|A(j)|`` (count; 1 for an empty set)."""
    return [c if kind == "constant" else sp.Integer(max(len(s), 1)) for s in sets]


def forward(setup, Z, constructions, mask, c) -> list:
    """``[Z^(0), ..., Z^(L)]`` through the setup's stack (``verify.lsa.lsa_forward``, read at call time)."""
    return list(setup.lsa_forward(Z, constructions, mask, c))


def forward_exact(setup, spec: str, kind: str, X, y, Xq, eta, c, layers: int):
    """Run ``layers`` layers of the setup's model exactly (SymPy rationals).

    Returns a list over ``l = 0..L`` of ``(residuals (n,), predictions (m,))``: the
    last coordinate of each example token, minus that of each query token (the
    readout of ``verify.prompt.split_tokens``, whose ``...`` indexing is numpy-only).
    """
    X, Xq = sp.Matrix(X), sp.Matrix(Xq)
    y = sp.Matrix(y).reshape(X.rows, 1)
    mask = setup.mask(spec, X.rows, Xq.rows)
    cvec = exact(setup.normalizer(kind, mask, c))
    con = setup.construction(eta, X.cols)
    states = forward(setup, tokens(X, y, Xq), [con] * layers, mask, cvec)
    out = []
    for Z in states:
        Z = sp.Matrix(Z)
        out.append((list(Z[X.cols, : X.rows]), list(-Z[X.cols, X.rows:])))
    return out
