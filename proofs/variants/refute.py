"""Exact counterexample search for V3 and V4 under the one meaning of stable (docs/SPEC.md section 7).

The prompts are small integer ones (``d = 1, 2``; entries in ``-2..3``), in a fixed order:
structured prompts first (all ones, ``(1, 2, 3, 1, 1, ...)``, ramps, alternating signs; repeated
examples make singular blocks), then every ``d = 1`` prompt with ``n <= EXHAUSTIVE_N``, then seeded
random prompts for ``n`` up to ``MAX_N`` -- until ``BUDGET_SECONDS`` run out.  The scope of a
``checked`` claim lists the counts per ``(d, n)`` and which were exhaustive.

Each prompt's ``N`` and query read-out ``R`` are built from the variant's mask (the attention's
one definition), its normalizer (:func:`verify.normalizers.normalizer`) and ``Gamma_0`` by the
general lemma's formula ``N_ji = [i in A(j)] x_i^T Gamma_0 x_j / c_j`` (fast); the stability test
(:mod:`.stability`) is exact.  A witness is then re-checked from its own numbers through the
package's layer (:func:`proofs.variants.exact.residual_operator` and ``query_increment``): the
operator the layer gives must equal the one the search used.
"""
from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from fractions import Fraction

import numpy as np

from . import exact as ex
from . import stability as st
from .scaling import nearby

ENTRIES = (-2, -1, 0, 1, 2, 3)
EXHAUSTIVE_N = 4
MAX_N = 8
RANDOM_PER_SIZE = 60
BUDGET_SECONDS = 6.0


class Searched:
    """What a search looked at: counts per ``(d, n)`` and the sizes it covered exhaustively."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.exhaustive: set = set()
        self.stopped = False
        self.rejected = 0  # proposals whose exact re-check through the layer failed (the search went on)

    def within(self, stream, budget: float):
        """The prompts of ``stream`` until ``budget`` seconds have passed, counted as they are handed out."""
        start = time.perf_counter()
        for X, exhausted in stream:
            if time.perf_counter() - start > budget:
                self.stopped = True
                return
            self.counts[(len(X[0]), len(X))] += 1
            if exhausted:
                self.exhaustive.add(exhausted)
            yield X

    def describe(self) -> str:
        parts = []
        for (d, n), k in sorted(self.counts.items()):
            tag = " (all of them)" if (d, n) in self.exhaustive else ""
            parts.append(f"d={d} n={n}: {k}{tag}")
        stop = f"; stopped by the time budget of {BUDGET_SECONDS:g} s" if self.stopped else ""
        if self.rejected:
            stop += f"; {self.rejected} proposals failed the exact re-check through the layer and were dropped"
        return (f"{sum(self.counts.values())} exact prompts with entries in {ENTRIES[0]}..{ENTRIES[-1]} "
                f"[{', '.join(parts)}]{stop}")


def prompts(dims=(1, 2), seed: int = 20231):
    """``(X, exhaustive_size)`` in the fixed search order (``X`` a list of rows of Fractions)."""
    F = Fraction
    for n in range(1, MAX_N + 1):
        for d in dims:
            for base in ([1] * n, [1, 2, 3] + [1] * (n - 3), list(range(1, n + 1)), [(-1) ** k for k in range(n)],
                         [3] + [1] * (n - 1), [1] * (n - 1) + [3], [0] + [1] * (n - 1)):
                base = base[:n]
                rows = [[F(a)] + [F((a + k) % 3 - 1) for k in range(1, d)] for a in base]
                yield rows, None
    for n in range(1, EXHAUSTIVE_N + 1 if 1 in dims else 1):
        total = len(ENTRIES) ** n
        for k, entries in enumerate(itertools.product(ENTRIES, repeat=n)):
            yield [[F(a)] for a in entries], ((1, n) if k == total - 1 else None)
    rng = random.Random(seed)
    for n in range(2, MAX_N + 1):
        for d in dims:
            if d == 1 and n <= EXHAUSTIVE_N:
                continue
            for _ in range(RANDOM_PER_SIZE):
                yield [[F(rng.choice(ENTRIES)) for _ in range(d)] for _ in range(n)], None


class Variant:
    """Builds exact operators of one variant (and of prefix attention with the same normalizer kind)."""

    def __init__(self, attention, prefix, kind: str, scale: Fraction, gammas: dict):
        """``gammas``: ``{d: Gamma_0}`` (SymPy) at the dimensions the construction is classified at."""
        self.attention, self.prefix, self.kind, self.scale = attention, prefix, kind, scale
        self.gammas = {d: [[ex.frac(a) for a in row] for row in G.tolist()] for d, G in gammas.items()}
        self._masks: dict = {}

    @property
    def dims(self) -> tuple:
        """The search dimensions: 1 and 2 where the construction is defined, else its smallest."""
        return tuple(d for d in (1, 2) if d in self.gammas) or (min(self.gammas),)

    def mask_c(self, attention, n: int):
        key = (attention.name, n)
        if key not in self._masks:
            from verify.normalizers import normalizer

            mask = np.asarray(attention.mask(n, 1), dtype=bool)
            # constant: exact c itself (a float of c may over- or underflow); count: |A(j)|, integers
            cs = ([self.scale] * (n + 1) if self.kind == "constant"
                  else [ex.frac(v) for v in normalizer(self.kind, mask)])
            self._masks[key] = (mask, cs)
        return self._masks[key]

    def operator(self, X, attention=None) -> st.Operator:
        """``N`` and ``R`` exactly from the general lemma's formula."""
        attention = attention or self.attention
        n = len(X)
        mask, c = self.mask_c(attention, n)
        d = len(X[0]) if n else 0
        if n == 0:
            return st.Operator([], [])
        Xm = st.fmat(X)
        XG = Xm * st.fmat(self.gammas[d])  # row i: x_i^T Gamma_0 (exact, python-flint)
        gram = st.to_fractions(XG * Xm.transpose())  # [i][j] = x_i^T Gamma_0 x_j
        xg = st.to_fractions(XG)
        zero = Fraction(0)
        N = [[gram[i][j] / c[j] if mask[i, j] else zero for i in range(n)] for j in range(n)]
        R = [[xg[i][b] if mask[i, n] else zero for i in range(n)] for b in range(d)]
        return st.Operator(N, R)

    def prefix_bound(self, X) -> tuple[st.Operator, float]:
        """Prefix's operator and ``2 / lambda_max`` (inf when ``X = 0``; the zero test is relative to ``N``'s
        entries, so it does not depend on the normalizer's scale)."""
        op = self.operator(X, self.prefix)
        Nf = ex.to_float(op.N) if X else np.zeros((0, 0))
        top = float(np.max(np.linalg.eigvalsh(Nf))) if X else 0.0
        return op, (2 / top if X and top > 1e-12 * float(np.max(np.abs(Nf))) else float("inf"))


def prefix_stable(NP: list, eta: Fraction) -> bool:
    """``eta`` stable for prefix attention (docs/SPEC.md section 7): ``N_P = X Gamma_0 X^T / c`` is symmetric
    PSD and prefix satisfies (b) and (c) always, so stable iff every nonzero eigenvalue is below ``2 / eta``,
    i.e. ``(2/eta) I - N_P`` is positive definite (Sylvester); a non-symmetric ``N_P`` (non-symmetric
    ``Gamma_0``) is decided by the exact test with queries reading every example."""
    if eta <= 0:
        return False
    if ex.is_symmetric(NP):
        return ex.positive_definite(ex.sub(ex.scale(ex.identity(len(NP)), 2 / eta), NP))
    return st.decide(st.Operator(NP, []), eta).stable and ex.det(NP) != 0


def _below(bound: float, fractions=(Fraction(1, 2), Fraction(99, 100), Fraction(999999, 1000000))):
    for f in fractions:
        yield nearby(Fraction(bound) * f, 10**7)


def numeric_bound(op: st.Operator) -> float:
    """Numeric ``min 2 Re l / |l|^2`` over the nonzero eigenvalues (0 when some ``Re l <= 0``): a proposal.

    The number ``z`` of zero eigenvalues is exact (the power of ``t`` in ``det(t I - N)``); the float
    eigenvalues of ``N`` (not the roots of a high-degree polynomial) give the others: the ``z`` smallest
    in modulus are dropped."""
    q = op.nonzero_poly
    if len(q) == 1:
        return float("inf")
    lam = np.linalg.eigvals(ex.to_float(op.N))
    lam = lam[np.argsort(np.abs(lam))][len(op.N) - (len(q) - 1):]
    if np.any(lam.real <= 1e-12 * float(np.max(np.abs(lam)))):  # relative: N / c has the same answer for every c
        return 0.0
    return float(np.min(2 * lam.real / np.abs(lam) ** 2))


def find_v4(variant: Variant, confirm, budget: float = BUDGET_SECONDS):
    """A prompt and ``eta`` stable for prefix but not for the variant; ``(witness or None, Searched)``."""
    searched = Searched()
    for X in searched.within(prompts(variant.dims), budget):
        NP, pbound = variant.prefix_bound(X)
        if not np.isfinite(pbound):
            continue
        op = variant.operator(X)
        structural = op.structural
        if structural.stable:
            vbound = numeric_bound(op)
            if vbound >= pbound * (1 - 1e-9):
                continue
            candidates = [nearby(Fraction(pbound) * f, 10**7) for f in (Fraction(999, 1000), Fraction(999999, 1000000))]
            if vbound > 0:
                candidates.insert(0, nearby(Fraction(vbound + pbound) / 2, 10**7))
        else:
            candidates = list(_below(pbound))
        for eta in candidates:
            if not prefix_stable(NP.N, eta):
                continue
            decision = st.decide(op, eta)
            if not decision.stable:
                witness = make_witness(X, eta, decision, op, NP)
                if confirm(witness):
                    return witness, searched
                searched.rejected += 1
                break
    return None, searched


def make_witness(X, eta: Fraction, decision: st.Decision, op: st.Operator, NP: st.Operator | None) -> dict:
    out = {"X": ex.texts(X), "eta": ex.text(eta), "reason": decision.kind, **st.witness_fields(decision),
           "operator": ex.texts(op.N)}
    if NP is not None:
        out["prefix_operator"] = ex.texts(NP.N)
        out["prefix_stable"] = True
    return out


def check_witness(variant: Variant, model_for, w: dict, need_prefix: bool = True) -> bool:
    """Exact re-check from the witness's own numbers: the layer's operator equals the search's, ``eta`` is
    stable for prefix (when claimed), the variant is not stable at ``eta`` for the stated reason, and for a
    visible null vector the queries of the layer (:func:`exact.query_increment`) do read it."""
    X = [[ex.parse(a) for a in r] for r in w["X"]]
    eta = ex.parse(w["eta"])
    d = len(X[0])
    mod_for, prefix_for = model_for(variant.attention, d), model_for(variant.prefix, d)
    op = variant.operator(X)
    if ex.residual_operator(mod_for(len(X), 1), X) != op.N or ex.texts(op.N) != w["operator"]:
        return False
    if need_prefix or "prefix_operator" in w:
        NP = ex.residual_operator(prefix_for(len(X), 1), X)
        if ex.texts(NP) != w.get("prefix_operator") or not prefix_stable(NP, eta):
            return False
    if not st.check(op, eta, w):
        return False
    if "null_vector" in w:
        E = [[Fraction(int(a == b)) for b in range(d)] for a in range(d)]
        v = [ex.parse(a) for a in w["null_vector"]["vector"]]
        moved = ex.query_increment(mod_for(len(X), d), X, v, E)
        return any(a != 0 for a in moved)
    return True


def block_formula_holds(op: st.Operator, blocks: list, eta: Fraction) -> bool:
    """``eta`` inside V3's block formula: every nonzero eigenvalue of every diagonal block ``N_bb`` has
    ``|1 - eta l| < 1`` (exact), i.e. ``eta < min_b 2 / lambda_max(N_bb)``."""
    for beta in blocks:
        sub = st.Operator([[op.N[a][b] for b in beta] for a in beta], [])
        if not st.eigen_stable(sub.nonzero_poly, eta):
            return False
    return True


def find_v3(variant: Variant, blocks_at, confirm, budget: float = BUDGET_SECONDS):
    """A prompt and ``eta`` inside the block formula's range (and stable for prefix) at which the
    variant is not stable; ``blocks_at(n)`` gives the diagonal blocks at size ``n``."""
    searched = Searched()
    for X in searched.within(prompts(variant.dims), budget):
        op = variant.operator(X)
        if op.structural.stable:
            continue  # then (a) is the block formula itself (block triangular N): no counterexample here
        NP, pbound = variant.prefix_bound(X)
        blocks = blocks_at(len(X))
        tops = [float(np.max(np.abs(np.linalg.eigvals(ex.to_float([[op.N[a][b] for b in beta] for a in beta])))))
                for beta in blocks]
        fbound = min([2 / t for t in tops if t > 1e-12 * max(tops)] + [pbound])
        if not np.isfinite(fbound):
            fbound = 1.0
        for eta in _below(fbound):
            if block_formula_holds(op, blocks, eta) and (not np.isfinite(pbound) or prefix_stable(NP.N, eta)):
                decision = st.decide(op, eta)
                if not decision.stable:
                    w = make_witness(X, eta, decision, op, NP if np.isfinite(pbound) else None)
                    w["blocks"] = [list(b) for b in blocks]
                    if confirm(w):
                        return w, searched
                    searched.rejected += 1
                    break
    return None, searched
