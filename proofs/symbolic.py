"""Shared SymPy helpers for the proofs: symbolic sizes, symbolic-d constructions,
symbolic tokens, exact zero tests and the bookkeeping that turns checks into a status.

Two kinds of objects are fed to the package's own layer (``verify.lsa.attend``):

- *block tokens* for symbolic sizes: ``[X_A; r_A]`` with ``X_A`` a ``MatrixSymbol``
  of shape ``(d, n_A)`` and ``d``, ``n_A`` SymPy symbols, and a construction lifted
  to symbolic ``d`` (:func:`lift_construction`);
- *explicit tokens* for finite sizes: ``sympy.Matrix`` of symbols or rationals,
  run through ``verify.lsa.lsa_layer`` with the setup's mask and normalizer
  (:func:`layer_residual_map`).

Example::

    con = lift_construction(Setup().construction)
    out = layer(con, token(x, r), token(X_A, r_A), C)
    is_zero(out - token(x, r - (ETA / C) * r_A * X_A.T * x))   # the general lemma
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy import BlockMatrix, Identity, OneMatrix, ZeroMatrix, block_collapse

from verify.construction import Construction
from verify.lsa import attend, lsa_layer
from verify.prompt import tokens

from .registry import Result

#: symbolic dimension d and step size / constant normalizer
D = sp.Symbol("d", integer=True, positive=True)
ETA = sp.Symbol("eta", positive=True)
C = sp.Symbol("c", positive=True)
#: the concrete sizes at which a setup's construction is sampled to learn its block form
LIFT_SIZES = (1, 2, 3, 4)


# ---------------------------------------------------------------- symbolic d


def _block_form(M, d: int):
    """Candidate coefficients ``(a + b, b, u, v, e)`` of ``[[a I + b 11^T, u 1], [v 1^T, e]]`` read off
    ``M`` ((d+1) x (d+1)), not yet checked; None for a wrong shape."""
    M = sp.Matrix(M)
    if M.shape != (d + 1, d + 1):
        return None
    a_plus_b = M[0, 0]
    b = M[0, 1] if d > 1 else None
    return a_plus_b, b, M[0, d], M[d, 0], M[d, d]


def _lift_one(family: dict) -> BlockMatrix | None:
    """Lift matrices sampled at several concrete d to one symbolic-d BlockMatrix.

    The candidate ``[[a I_d + b 1 1^T, u 1_d], [v 1_d^T, e]]`` is read off the
    largest sample and must reproduce *every* sample exactly; otherwise the
    construction has no such block form and None is returned.
    """
    big = max(family)
    form = _block_form(family[big], big)
    if form is None:
        return None
    a_plus_b, b, u, v, e = form
    a = sp.simplify(a_plus_b - b)
    for d, M in family.items():
        want = sp.Matrix(d + 1, d + 1, lambda i, j: (
            ((a if i == j else 0) + b) if i < d and j < d else u if i < d else v if j < d else e))
        if sp.Matrix(M).shape != want.shape or not all(sp.simplify(t) == 0 for t in sp.Matrix(M) - want):
            return None
    terms = []
    if a != 0:
        terms.append(a * Identity(D))
    if b != 0:
        terms.append(b * OneMatrix(D, D))
    top_left = sp.MatAdd(*terms) if len(terms) > 1 else terms[0] if terms else ZeroMatrix(D, D)
    top_right = u * OneMatrix(D, 1) if u != 0 else ZeroMatrix(D, 1)
    bottom_left = v * OneMatrix(1, D) if v != 0 else ZeroMatrix(1, D)
    corner = e * Identity(1) if e != 0 else ZeroMatrix(1, 1)
    return BlockMatrix([[top_left, top_right], [bottom_left, corner]])


def lift_construction(construction_fn, eta=ETA) -> Construction | None:
    """The setup's construction as BlockMatrices over the symbolic dimension ``D``.

    ``construction_fn(eta, d)`` is called at every d in ``LIFT_SIZES`` with a SymPy
    ``eta``; each of K, Q, V, P is lifted by :func:`_lift_one`.  Returns None when
    some matrix has no block form valid at all sampled sizes (the proofs then fall
    back to finite checks).  So a wrong construction is proved *with* its error.
    """
    samples = {d: construction_fn(eta, d) for d in LIFT_SIZES}
    lifted = {}
    for name in ("K", "Q", "V", "P"):
        block = _lift_one({d: getattr(con, name) for d, con in samples.items()})
        if block is None:
            return None
        lifted[name] = block
    return Construction(**lifted)


def token(x, r) -> BlockMatrix:
    """A block of tokens ``[x; r]``: ``x`` is ``(d, s)``, ``r`` is ``(1, s)``."""
    return BlockMatrix([[x], [r]])


def hcat(*blocks) -> BlockMatrix:
    """Horizontal concatenation of matrix expressions (``[A, B]``)."""
    return BlockMatrix([list(blocks)])


def layer(construction: Construction, target, sources, c):
    """The package's layer on symbolic blocks: ``verify.lsa.attend`` with every
    target reading every source (the sources *are* its attention set ``A(j)``)."""
    return attend(target, sources, construction, None, c)


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


def sets_agree(setup, spec: str, claimed, sizes) -> tuple[bool, str]:
    """Compare the setup's mask with the claim's ``A(j)`` at every ``(n, m)`` in ``sizes``.

    ``claimed(j, n)`` gives the 0-based set a token ``j`` (examples ``0..n-1``,
    then queries) must read.
    """
    for n, m in sizes:
        got = attention_sets(setup.mask(spec, n, m), n, m)
        for j in range(n + m):
            if got[j] != frozenset(claimed(j, n)):
                return False, f"{spec} mask, n = {n}, m = {m}: token {j} reads {sorted(got[j])}, claim says {sorted(claimed(j, n))}"
    return True, ""


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
    out = lsa_layer(sp.Matrix(Z), setup.construction(eta, X.cols), mask, cvec)
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

    ``symbolic`` checks hold for symbolic sizes; ``finite`` checks name their
    sizes.  Status: ``failed`` if any check failed; ``proved`` if every check
    passed and the symbolic part ran; ``checked`` if only finite checks ran.
    """

    symbolic_ok: list = field(default_factory=list)
    finite_ok: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    fail_fast: bool = False

    @classmethod
    def for_setup(cls, setup) -> "Ledger":
        """A ledger that stops at the first failed check when ``setup.extra['fail_fast']``
        (the mutation tests: a failed status needs one failing check, not all of them)."""
        return cls(fail_fast=bool(setup.extra.get("fail_fast", False)))

    def symbolic(self, name: str, ok: bool) -> bool:
        self.symbolic_ok.append(name)
        if not ok:
            self._fail(f"symbolic: {name}")
        return ok

    def finite(self, name: str, ok: bool, why: str = "") -> bool:
        self.finite_ok.append(name)
        if not ok:
            self._fail(f"finite: {name}" + (f" ({why})" if why else ""))
        return ok

    def _fail(self, text: str) -> None:
        self.failures.append(text)
        if self.fail_fast:
            raise CheckFailed(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def result(self, symbolic_scope: str, finite_scope: str, witness=None, lifted: bool = True,
               assumes: tuple = ()) -> Result:
        if self.failures:
            status = "failed"
        elif lifted and self.symbolic_ok:
            status = "conditional" if assumes else "proved"
        else:
            status = "checked"
        parts = []
        if lifted and self.symbolic_ok:
            parts.append(f"symbolic: {symbolic_scope}")
            parts.append(f"construction: the setup's, lifted to symbolic d from its values at d = "
                         f"{', '.join(map(str, LIFT_SIZES))}")
        elif not lifted:
            parts.append("symbolic part skipped: the construction has no block form [[aI+b11^T, u1],[v1^T, e]] at symbolic d")
        if finite_scope:
            parts.append(f"finite: {finite_scope}")
        detail = "; ".join(self.failures + self.notes)
        return Result(status, "; ".join(parts), witness, detail, tuple(assumes))


# ---------------------------------------------------------------- the paper's two models

#: the attention sets SPEC section 2 defines (0-based; tokens j >= n are queries)
PAPER_SETS = {
    "prefix": lambda j, n: range(n),
    "causal": lambda j, n: range(j + 1) if j < n else range(n),
}
#: sizes at which a mask's attention sets are compared with the claim
MASK_SIZES = tuple((n, m) for n in range(1, 7) for m in (1, 2))


def claimed_c(kind: str, sets, c=C) -> list:
    """The claim's normalizers: ``c`` (constant) or ``|A(j)|`` (count; 1 for an empty set)."""
    return [c if kind == "constant" else sp.Integer(max(len(s), 1)) for s in sets]


def premise(setup, spec: str, kind: str, ledger: Ledger, n: int = 3, m: int = 1, d: int = 2,
            check_sets: bool = True) -> bool:
    """The setup's model is the one the theorem talks about: its attention sets equal
    SPEC's for ``spec`` (n <= 6, m <= 2) and one full ``lsa_layer`` (setup's mask,
    normalizer, construction) on symbolic tokens at ``(n, m, d)`` moves the
    residuals exactly as the general lemma says with those sets and normalizers."""
    ok = True
    if check_sets:
        ok, why = sets_agree(setup, spec, PAPER_SETS[spec], MASK_SIZES)
        ledger.finite(f"{spec} attention sets = SPEC's (n <= 6, m <= 2)", ok, why)
    X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
    Xq = sp.Matrix(m, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
    Z, out, r, u, _ = layer_residual_map(setup, spec, kind, X, Xq, ETA, C)
    sets = [frozenset(PAPER_SETS[spec](j, n)) for j in range(n + m)]
    want = lemma_claim(Z, X, Xq, r, u, sets, claimed_c(kind, sets), ETA)
    good = same(out, want)
    ledger.finite(f"lsa_layer with the {spec} mask and {kind} normalizer (n = {n}, m = {m}, d = {d})", good)
    return ok and good


def forward_exact(setup, spec: str, kind: str, X, y, Xq, eta, c, layers: int):
    """Run ``layers`` layers of the setup's model exactly (SymPy rationals).

    Returns a list over ``l = 0..L`` of ``(residuals (n,), predictions (m,))``: the
    last coordinate of each example token, minus that of each query token (the
    readout of ``verify.prompt.split_tokens``, whose ``...`` indexing is numpy-only).
    """
    from verify.lsa import lsa_forward

    X, Xq = sp.Matrix(X), sp.Matrix(Xq)
    y = sp.Matrix(y).reshape(X.rows, 1)
    mask = setup.mask(spec, X.rows, Xq.rows)
    cvec = exact(setup.normalizer(kind, mask, c))
    con = setup.construction(eta, X.cols)
    states = lsa_forward(tokens(X, y, Xq), [con] * layers, mask, cvec)
    out = []
    for Z in states:
        Z = sp.Matrix(Z)
        out.append((list(Z[X.cols, : X.rows]), list(-Z[X.cols, X.rows:])))
    return out
