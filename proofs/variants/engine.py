"""The prover may not disagree with the package's numeric engine silently (issue 20, item 3).

Before a V3/V4 claim is reported ``proved`` or ``conditional``, :func:`confirm` runs the functions the
``rate`` and ``stationary`` commands call -- :func:`verify.rates.analyse` and
:func:`verify.lemma.stationary_weights`, looked up at call time -- on adversarial integer prompts
(small integers, a zero example, repeated examples, rank one, one dominant example, shifted data;
``n`` up to 64) and compares their answers with the claim's:

- V3: the engine's ``stable`` at ``eta = eta_max / 2`` (True) and ``3 eta_max / 2`` (False), where
  ``eta_max`` is the claim's formula on the prompt; and where ``eta_max > 0`` (some step size is
  stable) the engine finds the stationary point;
- V4: at ``eta = 1/2`` and ``99/100`` of prefix's bound, prefix and the variant are both stable.

A disagreement is arbitrated in exact arithmetic (:mod:`.stability`): when the exact test sides with
the engine, the claim is ``refuted`` with the exact witness; when it sides with the claim, the claim
is ``failed`` with both answers (the engine is wrong there, a defect either way).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from verify.errors import PromptError

from . import exact as ex
from . import refute
from . import stability as st
from .scaling import nearby

SIZES = (3, 8, 16, 64)


def adversarial(d: int):
    """``(name, X)`` integer prompts (lists of rows of ints), deterministic."""
    rng = np.random.default_rng(2026)
    for n in SIZES:
        small = rng.integers(-2, 4, size=(n, d))
        small[np.all(small == 0, axis=1), 0] = 1
        zero = small.copy()
        zero[min(1, n - 1)] = 0
        repeated = np.tile(np.arange(1, d + 1), (n, 1))
        rank_one = np.outer(rng.integers(1, 4, size=n), np.arange(1, d + 1))
        dominant = small.copy()
        dominant[n // 2] *= 20
        dominant[n // 2, 0] += 20
        yield from ((f"{name}, n = {n}", X) for name, X in (
            ("small integers", small), ("a zero example", zero), ("repeated examples", repeated),
            ("rank one", rank_one), ("one dominant example", dominant), ("shifted data", small + 3)))


def _formula_bound(claim_id: str, op: st.Operator, blocks: list | None) -> float:
    """The claim's ``eta_max`` on one prompt (numeric, from the exact operator): V3's formula."""
    if blocks is not None:  # block formula: the diagonal blocks' largest eigenvalues
        tops = [float(np.max(np.abs(np.linalg.eigvals(ex.to_float([[op.N[a][b] for b in beta] for a in beta])))))
                for beta in blocks]
        tops = [t for t in tops if t > 1e-12 * max(tops)]  # relative: the same blocks count at every scale c
        return 2 / max(tops) if tops else float("inf")
    if not op.structural.stable:
        return 0.0
    return refute.numeric_bound(op)


def _engine(X, mask, c, eta: float, gamma) -> bool | str:
    """``rate``'s answer at ``eta`` (:func:`verify.rates.analyse`), or the text of the exception it raised."""
    from verify import rates

    try:
        return bool(rates.analyse(np.asarray(X, dtype=float), mask, c, eta, gamma)["stable"])
    except Exception as exc:  # noqa: BLE001 - a crash of the engine is reported, never propagated
        return f"{type(exc).__name__}: {exc}"


def _engine_stationary(X, mask, c, gamma) -> bool | str:
    """True when ``stationary`` finds the stationary point, False when it refuses (one line), else the
    text of the exception it raised (an engine defect the claim must not stand on)."""
    from verify import lemma

    n = len(X)
    try:
        lemma.stationary_weights(np.asarray(X, dtype=float), np.ones((n, 1)), mask, c, gamma=gamma)
    except PromptError:
        return False
    except Exception as exc:  # noqa: BLE001 - any crash of the engine is reported, never propagated
        return f"{type(exc).__name__}: {exc}"
    return True


def _exists_exactly(op: st.Operator) -> bool:
    """Some ``eta`` is stable: (b), (c), and every nonzero eigenvalue has ``Re l > 0`` (Routh-Hurwitz on
    ``q(-s)``)."""
    q = op.nonzero_poly
    k = len(q) - 1
    return op.structural.stable and (k == 0 or ex.routh_hurwitz([a * (-1) ** (k - i) for i, a in enumerate(q)]))


def _engine_converges(ctx, X, mask, c, eta: float, d: int) -> bool | None:
    """The stack itself (:func:`verify.lsa.lsa_forward`, what ``simulate`` runs) at ``eta``: do the query
    predictions settle?  Depth from the engine's rate (``rate^L <= 1e-10``, plus ``2n + 20`` layers for
    non-normal transients); None when that rate gives no usable depth."""
    from verify import lsa, rates
    from verify.construction import Construction
    from verify.prompt import split_tokens, tokens

    rate = rates.analyse(np.asarray(X, dtype=float), mask, c, eta, _gamma(ctx, d))["rate"]
    if not rate < 0.9:  # a few hundred layers at most: the stack runs layer by layer
        return None
    # rate^L <= 1e-10, plus 2n + 20 layers: a non-normal B (a Jordan block of I - eta N) decays only after
    # its chain length, which the asymptotic rate does not show
    layers = int(np.ceil(np.log(1e-10) / np.log(max(rate, 1e-300)))) + 2 * len(X) + 20
    kq, pv = (np.array(M.tolist(), dtype=float) for M in ctx.con.at_unit_step(d))
    con = Construction(K=np.eye(d + 1), Q=kq, V=eta * pv, P=np.eye(d + 1))
    Xf = np.asarray(X, dtype=float)
    y = np.linspace(-1.0, 2.0, len(X))[:, None]
    Z = tokens(Xf, y, np.ones((1, d)))
    states = lsa.lsa_forward(Z, [con] * (2 * layers), mask, c)
    first, second = (split_tokens(states[k], len(X), d)[1] for k in (layers, 2 * layers))
    scale = 1.0 + float(np.max(np.abs(first)))
    return bool(np.max(np.abs(second - first)) <= 1e-6 * scale)


def _gamma(ctx, d: int) -> np.ndarray:
    return np.array(ctx.classes[d].gamma0.tolist(), dtype=float)


def confirm(ctx, claim: dict, variant: refute.Variant) -> dict:
    """``claim`` unchanged when the engine agrees on every adversarial prompt; otherwise refuted or failed."""
    from proofs.registry import STATUSES
    from verify.normalizers import normalizer

    from .structure import blocks as blocks_of

    if STATUSES.index(claim["status"]) > 1:  # only proved and conditional claims lean on the argument
        return claim
    d = 2 if 2 in variant.gammas else min(variant.gammas)
    gamma = np.array([[float(a) for a in row] for row in variant.gammas[d]], dtype=float)
    blockwise = ctx.structure.kind in ("triangular", "block", "all") and ctx.structure.holds("whole")
    tried = 0
    for name, Xi in adversarial(d):
        X = [[Fraction(int(a)) for a in row] for row in Xi]
        n = len(X)
        mask = np.asarray(ctx.attention.mask(n, 1), dtype=bool)
        c = normalizer(ctx.kind, mask, float(ctx.scale))
        op = variant.operator(X)
        tried += 1
        if claim["id"] == "V3":
            bound = _formula_bound("V3", op, blocks_of(mask, n) if blockwise else None)
            etas = [(bound / 2, True), (1.5 * bound, False)] if 0 < bound < np.inf else \
                ([(1.0, True)] if bound == np.inf else [(1.0, False)])
            got = _engine_stationary(Xi, mask, c, gamma)
            if isinstance(got, str):
                return _failed(claim, name, "the prompt is valid", f"verify.lemma.stationary_weights raised {got}")
            if bound > 0 and not got:  # a stable step size exists, so the stationary prediction does
                exact = _exists_exactly(op)
                if exact:
                    return _failed(claim, name, "a stationary point exists (exact)",
                                   "verify.lemma.stationary_weights finds none")
                etas = [(bound / 2 if 0 < bound < np.inf else 1.0, True)]  # the formula is wrong: find the witness
        else:
            NP, pbound = variant.prefix_bound(X)
            if not np.isfinite(pbound):
                continue
            etas = [(pbound / 2, True), (0.99 * pbound, True)]
        if claim["id"] == "V3" and n <= 8 and etas[0][1] and 0 < etas[0][0] < np.inf:
            moving = _engine_converges(ctx, Xi, mask, c, etas[0][0], d)  # the stack itself, where it is small
            if moving is False:
                verdict = _arbitrate(ctx, claim, variant, name, X, op, etas[0][0], True, False,
                                     who="verify.lsa.lsa_forward (the stack's query predictions do not settle)")
                if verdict is not None:
                    return verdict
        for eta, want in etas:
            got = _engine(Xi, mask, c, eta, gamma)
            if isinstance(got, str):
                return _failed(claim, name, f"stable = {want} at eta = {eta:.6g}", f"verify.rates.analyse raised {got}")
            if got == want:
                continue
            verdict = _arbitrate(ctx, claim, variant, name, X, op, eta, want, got)
            if verdict is not None:
                return verdict
    return {**claim, "scope": f"{claim['scope']}; the engine (verify.rates.analyse, verify.lemma.stationary_weights, "
                              "verify.lsa.lsa_forward)"
                              f" agrees on {tried} adversarial prompts (d = {d}, n = {', '.join(map(str, SIZES))})"}


def _arbitrate(ctx, claim: dict, variant: refute.Variant, name: str, X, op: st.Operator, eta: float, want: bool,
               got: bool, who: str = "verify.rates.analyse") -> dict | None:
    """The exact test at ``eta`` decides between the claim (``want``) and the engine (``got``)."""
    exact_eta = nearby(eta, 10**9)
    decision = st.decide(op, exact_eta)
    if decision.stable == want:
        return _failed(claim, name, f"{'stable' if want else 'not stable'} at eta = {eta:.6g} (exact)",
                       f"{who} says {'stable' if got else 'not stable'}")
    if not decision.stable:
        NP = variant.operator(X, ctx.prefix)
        witness = refute.make_witness(X, exact_eta, decision, op, NP if refute.prefix_stable(NP.N, exact_eta)
                                      else None)
        if refute.check_witness(variant, ctx.mod_for, witness, need_prefix=claim["id"] == "V4"):
            from .claims import verdict

            return {**claim, "status": verdict(counterexample=("exact witness", True)), "assumes": [],
                    "witness": witness,
                    "scope": f"the engine ({who}) and the exact test agree against the claim on {name}: "
                             f"not stable at eta = {ex.text(exact_eta)} ({decision.kind})"}
    return _failed(claim, name, f"{'stable' if want else 'not stable'} at eta = {eta:.6g}",
                   f"{who} says {'stable' if got else 'not stable'}, and no exact witness")


#: the normalizers the float engine is run at, ``2^-ENGINE_RANGE <= c <= 2^ENGINE_RANGE``: ``N``'s entries
#: (about ``||x||^2 / c``) and their products keep some ``2^100`` of headroom below the double range
ENGINE_RANGE = 900


def in_range(c: Fraction) -> bool:
    """Whether the engine can be run at the constant normalizer ``c`` (see :data:`ENGINE_RANGE`)."""
    return Fraction(1, 2**ENGINE_RANGE) <= c <= 2**ENGINE_RANGE


def _failed(claim: dict, prompt: str, ours: str, theirs: str) -> dict:
    from .claims import verdict

    return {**claim, "status": verdict(finite=[("the numeric engine agrees", False)]), "assumes": [],
            "scope": f"the claim and the package's numeric engine disagree on {prompt}: the claim says {ours}, "
                     f"{theirs}"}
