"""E0, engine conformance: the numbers the commands print are the proved model's, at finite sizes.

The proofs (L6, P1-P11) are about the *symbolic* model: ``paper(eta, d)`` at a SymPy
``d``, ``reads(spec, i, j, n)`` at SymPy indices, the count normalizer derived from its
z3-checked certificate, and the general lemma (SPEC section 6) they establish::

    r_j  <-  r_j - (eta / c_j) sum_{i in A(j)} r_i (x_i^T Gamma x_j),   x_j unchanged.

The commands run *numeric* code: ``paper`` at an int ``d``, ``attention_mask`` (numpy
grids, rows in blocks), ``normalizer``'s ``mask.sum`` count, ``lsa_forward`` /
``lsa_layer`` (chunked above ``simulate.FORWARD_CHUNK`` tokens) / ``attend``, the
weight-space algorithm, ``stationary_weights`` and ``analyse``.  E0 runs the commands'
own entry points (``verify.commands.simulate.simulate``, ``verify.commands.stationary
.stationary``, ``verify.rates.analyse``, on a model built by
``verify.commands.common.model_of``: every model name looked up at call time, so a
replaced or later-optimised function is what is checked) and compares them with a
reference built only from the symbolic objects, instantiated:

- attention sets ``A(j)``: the SymPy Boolean ``setup.reads(spec, i, j, n)`` lambdified
  onto integer grids;
- normalizers ``c_j``: ``setup.normalizer(kind, setup.mask(spec, n, m))`` at symbolic
  ``n, m`` (the certificate's ``Lambda``) evaluated at each ``j`` and the concrete ``n``;
- the construction: ``setup.construction(eta, d)`` at symbolic ``d`` (and a symbolic
  ``Gamma``), ``.subs`` of the sizes and values, ``.as_explicit()``; its ``K^T Q`` and
  ``P V`` must equal the numeric ones exactly (rationals);
- the stack: the lemma's per-token update above in an independent loop (float64 for
  large sizes, exact ``Fraction`` arithmetic for the adversarial small prompts), query
  predictions ``-u_q``; stationary weights ``W_j = W_0 + (1/c_j) sum_{i in A(j)} s_i x_i^T
  Gamma`` with ``N s = r^(0)`` (exactly for exact prompts; a dense float64 solve otherwise, never
  the engine's structured one); rates from the eigenvalues of the reference ``N`` (mpmath at 50
  digits for exact prompts, dense LAPACK otherwise).

Agreement is relative to the size of the numbers: the reference loop also propagates
the majorant ``a_j <- a_j + (eta/c_j) sum_{i in A(j)} a_i |x_i|^T |Gamma| |x_j|`` (the
magnitude of every term a float sum adds), and an entry may differ by
``verify.tolerances.conformance_tol(a, terms)`` only.  The cases are the table
:data:`CASES` (entry point, attention, normalizer, sizes, prompt kind); add a case there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instantiate import (
    construction_check,
    eigenvalues_reference,
    lemma_stack,
    package_module,
    reference_normalizers,
    reference_sets,
    residual_operator_float,
    stationary_reference,
)
from .registry import Result, Theorem

STATEMENT = (
    "Engine conformance: at the finite sizes of its scope, the numbers simulate (query predictions, example "
    "residuals, the weight-space algorithm), stationary (token weights) and rate (rate, stable_eta_max) compute "
    "with the package's numeric entry points equal, to a tolerance relative to the size of the numbers, the "
    "symbolic model the proofs are about instantiated at those sizes: paper(eta, d) at symbolic d with d := k, "
    "reads(spec, i, j, n) at symbolic indices evaluated on integers, the count normalizer from its certificate, "
    "and the general lemma's per-token update r_j <- r_j - (eta/c_j) sum_{i in A(j)} r_i x_i^T Gamma x_j."
)
LATEX = (
    r"\mathrm{engine}(\mathrm{prompt})\approx\mathrm{lemma}\big(\mathrm{paper}(\eta,d)|_{d=k},\ "
    r"\mathrm{reads}|_{i,j,n\in\mathbb{Z}},\ c|_{j,n\in\mathbb{Z}}\big)\ \text{at every case of the scope},\quad "
    r"|{\rm engine}-{\rm reference}|\le\tau\,a"
)


@dataclass(frozen=True)
class Case:
    """One conformance case: an entry point on one prompt.

    entry : ``"simulate"`` (the LSA stack and the algorithm), ``"stationary"`` or ``"rate"``.
    prompt : ``"random"`` (float64 Gaussian data) or ``"exact"`` (adversarial small integers:
        a zero example, repeated examples, mixed magnitudes; the reference in exact rationals).
    """

    entry: str
    attention: str
    normalization: str
    n: int
    m: int
    d: int
    layers: int = 1
    k: int = 1
    scale: float = 1.0
    gamma: bool = False
    w0: bool = False
    prompt: str = "random"
    seed: int = 0

    @property
    def label(self) -> str:
        extra = "".join([", Gamma" if self.gamma else "", ", w0" if self.w0 else "",
                         f", k = {self.k}" if self.k > 1 else "",
                         f" c = {self.scale:g}" if self.normalization == "constant" else ""])
        return (f"{self.entry} {self.attention} {self.normalization}{extra}: n = {self.n}, m = {self.m}, "
                f"d = {self.d}, L = {self.layers}, {self.prompt}")


S, R, T = "simulate", "stationary", "rate"
#: the cases E0 runs: every named attention and both normalizers; n + m beyond the chunk threshold (1024),
#: d up to 24, m up to 8, L up to 32, n >= 150, Gamma and w0, random and exact prompts.  Add cases here.
CASES = (
    # beyond simulate.FORWARD_CHUNK: the chunked branch of lsa_layer, every named attention
    Case(S, "causal", "count", 1100, 8, 3, layers=2, seed=1),
    Case(S, "sliding:37", "constant", 1020, 6, 24, layers=2, scale=2.5, gamma=True, w0=True, seed=3),
    Case(S, "block:64", "constant", 1030, 2, 2, layers=2, scale=1.25, seed=4),
    # deep and wide: d up to 24, L up to 32, m up to 8, n >= 150
    Case(S, "causal", "constant", 150, 8, 24, layers=32, k=2, scale=1.5, gamma=True, w0=True, seed=6),
    Case(S, "prefix", "count", 150, 8, 20, layers=32, seed=7),
    Case(S, "prefix", "constant", 200, 8, 3, layers=9, scale=3.0, seed=2),
    Case(S, "hybrid:100", "constant", 180, 4, 4, layers=9, scale=0.5, seed=5),
    Case(S, "sliding:5", "count", 160, 8, 8, layers=10, seed=8),
    Case(S, "block:7", "constant", 150, 3, 5, layers=12, scale=2.0, seed=9),
    Case(S, "hybrid:20", "constant", 150, 7, 6, layers=9, seed=10),
    Case(S, "causal", "count", 120, 7, 21, layers=30, seed=11),
    Case(S, "sliding:1", "constant", 60, 5, 4, layers=8, scale=0.75, seed=12),
    Case(S, "hybrid:0", "constant", 45, 3, 3, layers=9, scale=1.25, seed=13),
    Case(S, "hybrid:2", "count", 45, 3, 3, layers=9, seed=31),
    # adversarial exact prompts (reference in rationals)
    Case(S, "causal", "count", 12, 3, 3, layers=9, prompt="exact", seed=14),
    Case(S, "prefix", "constant", 9, 2, 2, layers=7, scale=3.0, prompt="exact", seed=15),
    Case(S, "block:3", "count", 10, 2, 2, layers=5, w0=True, prompt="exact", seed=16),
    Case(S, "sliding:2", "constant", 8, 2, 3, layers=5, scale=0.5, gamma=True, prompt="exact", seed=17),
    Case(S, "hybrid:4", "constant", 9, 2, 2, layers=6, prompt="exact", seed=18),
    Case(S, "hybrid:2", "count", 9, 2, 2, layers=6, prompt="exact", seed=32),
    # the stationary point and the rate against exact references
    Case(R, "causal", "constant", 8, 3, 3, scale=2.0, prompt="exact", seed=19),
    Case(R, "causal", "count", 7, 2, 2, w0=True, prompt="exact", seed=20),
    Case(R, "prefix", "constant", 3, 2, 4, gamma=True, prompt="exact", seed=21),
    Case(R, "prefix", "count", 8, 2, 3, prompt="exact", seed=22),
    Case(R, "sliding:5", "count", 8, 2, 2, prompt="exact", seed=23),
    Case(R, "block:2", "constant", 6, 2, 3, scale=1.5, prompt="exact", seed=24),
    Case(R, "causal", "count", 150, 5, 4, seed=33),
    Case(R, "prefix", "constant", 160, 8, 6, scale=2.0, gamma=True, w0=True, seed=34),
    Case(R, "sliding:9", "constant", 150, 3, 3, scale=1.5, seed=35),
    Case(R, "block:4", "constant", 150, 2, 5, seed=36),
    Case(R, "hybrid:3", "constant", 150, 2, 4, scale=0.5, k=2, seed=37),
    Case(T, "causal", "constant", 9, 1, 3, scale=2.0, prompt="exact", seed=25),
    Case(T, "causal", "count", 150, 1, 4, seed=38),
    Case(T, "causal", "count", 12, 1, 2, layers=12, seed=42),
    Case(T, "prefix", "count", 200, 1, 5, gamma=True, seed=39),
    Case(T, "sliding:5", "constant", 150, 1, 3, scale=1.5, seed=40),
    Case(T, "block:4", "constant", 160, 1, 5, seed=41),
    Case(T, "block:4", "constant", 12, 1, 5, layers=16, seed=43),
    Case(T, "prefix", "constant", 8, 1, 3, layers=10, prompt="exact", seed=26),
    Case(T, "prefix", "count", 3, 1, 4, gamma=True, prompt="exact", seed=27),
    Case(T, "hybrid:2", "count", 8, 1, 2, prompt="exact", seed=28),
    Case(T, "block:3", "count", 9, 1, 3, prompt="exact", seed=29),
)
#: dimensions at which the numeric construction must be the symbolic one instantiated (with and without Gamma)
CONSTRUCTION_DIMS = (1, 3, 6)


# ---------------------------------------------------------------- the symbolic objects, instantiated


# ---------------------------------------------------------------- prompts


def make_case_prompt(case: Case):
    """``(X, Y, Xq, W0, gamma)`` for a case: Gaussian data, or adversarial small integers."""
    rng = np.random.default_rng(case.seed)
    n, m, d, k = case.n, case.m, case.d, case.k
    if case.prompt == "exact":
        X = rng.integers(-3, 4, size=(n, d)).astype(float)
        X[1 % n] = 0.0  # a zero example (P6 divides by ||x_j||^2 only at the stationary point; the stack is fine)
        if n > 3:
            X[n - 1] = X[0]  # a repeated example
            X[2] *= 8.0  # mixed magnitudes (exact: a power of two)
        if case.entry != "simulate":  # the stationary point and the rate need every example non-zero
            X[1 % n] = 1.0
        Y = rng.integers(-4, 5, size=(n, k)).astype(float)
        Xq = rng.integers(-2, 3, size=(m, d)).astype(float)
        W0 = rng.integers(-1, 2, size=(k, d)).astype(float) if case.w0 else None
        gamma = None
        if case.gamma:
            B = rng.integers(-1, 2, size=(d, d)).astype(float)
            gamma = B @ B.T / 4 + np.eye(d)  # symmetric positive definite, exact (quarters)
    else:
        X = rng.standard_normal((n, d))
        Y = X @ rng.standard_normal((d, k)) + 0.1 * rng.standard_normal((n, k))
        Xq = rng.standard_normal((m, d))
        W0 = 0.1 * rng.standard_normal((k, d)) if case.w0 else None
        gamma = None
        if case.gamma:
            B = rng.standard_normal((d, d)) / np.sqrt(d)
            gamma = B @ B.T + 0.5 * np.eye(d)  # a symmetric positive definite preconditioner
    return X, Y, Xq, W0, gamma


def step_size(X, Xq, gamma, sets, c, exact: bool) -> float:
    """``eta = 1 / ||D^{-1} M||_inf`` over all tokens (a power of two below it for exact prompts): every
    layer moves the residuals by a sizeable fraction, and no layer more than doubles them."""
    allx = np.vstack([X, Xq])
    G = np.eye(X.shape[1]) if gamma is None else gamma
    S = np.abs(allx @ G @ allx.T)
    norm = max((S[src, t].sum() / float(c[t]) for t, src in enumerate(sets) if src.size), default=1.0)
    eta = 1.0 / max(norm, 1e-300)
    return float(2.0 ** np.floor(np.log2(eta))) if exact else eta


# ---------------------------------------------------------------- the checks


def conformance_tol(majorant, terms: int):
    """What two float evaluations of sums whose terms are bounded by ``majorant`` may differ by."""
    return package_module("verify.tolerances").conformance_tol(majorant, terms)


def _compare(name: str, got, want, majorant, terms: int, failures: list, worst: list) -> None:
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    majorant = np.asarray(majorant, dtype=float)
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, want {want.shape}")
        return
    err = np.abs(got - want)
    err[~np.isfinite(got)] = np.inf
    tol = conformance_tol(majorant, terms)
    size = np.maximum(majorant, np.finfo(float).tiny)
    with np.errstate(over="ignore"):  # an error beyond the float range relative to a tiny term is inf x: said so
        ratio = err / size
    worst.append(float(np.max(ratio, initial=0.0)))
    bad = err > tol
    if bad.any():
        where = np.unravel_index(int(np.argmax(np.where(bad, ratio, -1.0))), err.shape)
        failures.append(f"{name}: differs at {tuple(int(w) for w in where)} by {float(err[where]):.3g} "
                        f"= {float(ratio[where]):.3g} x the size of its terms "
                        f"(tolerance {float(tol[where] / size[where]):.3g})")


def _reference(setup, case: Case, cache: dict | None = None):
    sets = reference_sets(setup, case.attention, case.n, case.m)
    c = reference_normalizers(setup, case.attention, case.normalization, case.scale, case.n, case.m, cache)
    return sets, c


def run_simulate(setup, case: Case, failures: list, worst: list, cache: dict | None = None) -> None:
    X, Y, Xq, W0, gamma = make_case_prompt(case)
    sets, c = _reference(setup, case, cache)
    exact = case.prompt == "exact"
    eta = step_size(X, Xq, gamma, sets, c, exact)
    etas = [eta * (1.0 if l % 3 else 0.5) for l in range(case.layers)]  # a schedule, not one step size
    prompt = package_module("verify.prompt").make_prompt(X, Y, Xq)
    model = package_module("verify.commands.common").model_of(prompt, case.attention, case.normalization, case.scale,
                                                      W0, gamma)
    out = package_module("verify.commands.simulate").simulate(model, etas)
    states, majorants = lemma_stack(X, Y, Xq, W0, gamma, sets, c, etas, exact)
    n = case.n
    want_r = np.array([s[:n] for s in states], dtype=float)
    want_q = -np.array([s[n:] for s in states], dtype=float)
    a_r = np.array([a[:n] for a in majorants], dtype=float)
    a_q = np.array([a[n:] for a in majorants], dtype=float)
    terms = (case.n + case.m + case.d + 2) * (case.layers + 1)
    label = case.label
    _compare(f"{label}: example residuals", out["example_residuals"], want_r, a_r, terms, failures, worst)
    _compare(f"{label}: query predictions", out["query_predictions"], want_q, a_q, terms, failures, worst)
    _compare(f"{label}: weight-space algorithm", out["algorithm_query_predictions"], want_q, a_q, terms, failures,
             worst)
    forward_check(case, model, X, Y, Xq, W0, gamma, etas, (want_r, want_q, a_r, a_q, terms), failures, worst)


def forward_check(case: Case, model, X, Y, Xq, W0, gamma, etas, want, failures: list, worst: list) -> None:
    """The public stack ``verify.lsa.lsa_forward`` (Python users call it; ``simulate`` runs its layer): on the
    model's own mask (a named attention's rule: the associative form) and on the same mask as a dense boolean
    matrix in chunks of ``simulate.FORWARD_CHUNK`` targets (the path of ``--attention-mask``), each against the
    lemma's loop."""
    want_r, want_q, a_r, a_q, terms = want
    lsa = package_module("verify.lsa")
    paper = package_module("verify.construction").paper
    split = package_module("verify.prompt").split_tokens
    Z0 = package_module("verify.prompt").tokens(X, Y, Xq, W0)
    constructions = [paper(eta, case.d, case.k, gamma) for eta in etas]
    chunk = package_module("verify.commands.simulate").FORWARD_CHUNK
    for mask, how in ((model.mask, "rule"), (np.asarray(model.mask), "dense mask")):
        with np.errstate(all="ignore"):
            states = lsa.lsa_forward(Z0, constructions, mask, model.c, chunk)
        parts = [split(np.asarray(state, dtype=float), case.n, case.d) for state in states]
        got_r = np.array([r for r, _ in parts])
        got_q = np.array([q for _, q in parts])
        if case.k == 1:
            got_r, got_q = got_r[..., 0], got_q[..., 0]
        _compare(f"{case.label}: lsa_forward on the {how}, example residuals", got_r.reshape(want_r.shape), want_r,
                 a_r, terms, failures, worst)
        _compare(f"{case.label}: lsa_forward on the {how}, query predictions", got_q.reshape(want_q.shape), want_q,
                 a_q, terms, failures, worst)


def run_stationary(setup, case: Case, failures: list, worst: list, cache: dict | None = None) -> None:
    """``verify.commands.stationary.stationary`` against :func:`stationary_reference`."""
    X, Y, Xq, W0, gamma = make_case_prompt(case)
    sets, c = _reference(setup, case, cache)
    want, size = stationary_reference(case, X, Y, Xq, W0, gamma, sets, c)
    prompt = package_module("verify.prompt").make_prompt(X, Y, Xq)
    model = package_module("verify.commands.common").model_of(prompt, case.attention, case.normalization, case.scale,
                                                      W0, gamma)
    out = package_module("verify.commands.stationary").stationary(model, case.normalization, case.scale)
    got = np.concatenate([np.asarray(out["example_weights"]), np.asarray(out["query_weights"])])
    _compare(f"{case.label}: stationary weights", got.reshape(want.shape), want, size, case.n + case.d, failures,
             worst)


def run_rate(setup, case: Case, failures: list, worst: list, cache: dict | None = None) -> None:
    """``verify.rates.analyse``: ``rate = max |1 - eta lambda|`` and ``stable_eta_max = min 2 Re(lambda) /
    |lambda|^2`` over :func:`eigenvalues_reference`, at ``eta`` = 0.9 of the reference's stable bound."""
    X, Y, Xq, W0, gamma = make_case_prompt(case)
    sets, c = _reference(setup, case, cache)
    lam, spread = eigenvalues_reference(case, X, gamma, sets, c)
    stable = min(2 * v.real / abs(v) ** 2 for v in lam)
    eta = 0.9 * stable
    want = (max(abs(1 - eta * v) for v in lam), stable)
    mask = package_module("verify.masks").attention_mask(case.attention, case.n, case.m)
    cvec = package_module("verify.normalizers").normalizer(case.normalization, mask, case.scale)
    # the size of the terms: |1 - eta lambda| <= 1 + eta |lambda|, and 2 Re(lambda) / |lambda|^2, both times the spread
    size = np.array([1.0 + eta * max(abs(v) for v in lam), stable]) * max(spread, 1.0)
    # both engines the rate command can take: the structured one of a named attention (`rate --attention`)
    # and the general one of a mask (`rate --attention-mask`)
    for attention, engine in ((case.attention, "structured"), (None, "general")):
        out = package_module("verify.rates").analyse(X, mask, cvec, eta, gamma, attention=attention)
        _compare(f"{case.label}: rate, stable_eta_max ({engine})", [out["rate"], out["stable_eta_max"]], want, size,
                 case.n, failures, worst)
    if case.layers > 1:
        transient_check(case, X, gamma, mask, cvec, eta, sets, c, failures, worst)


#: ``rate --max-growth`` used by the transient cases
MAX_GROWTH = 10.0


def reference_peak(N: np.ndarray, eta: float, layers: int) -> tuple[float, float]:
    """``(max_{l <= L} ||(I - eta N)^l||_2, size)`` by dense powers; ``size`` bounds the rounding of the powers
    (``l || |B|^l ||_2``, as ``verify.tolerances.power_norm_rtol``)."""
    B = np.eye(N.shape[0]) - eta * N
    power, absolute = np.eye(N.shape[0]), np.eye(N.shape[0])
    peak, size = 0.0, 0.0
    for layer in range(layers + 1):
        norm = float(np.linalg.norm(power, 2))
        peak = max(peak, norm)
        size = max(size, max(layer, 1) * max(float(np.linalg.norm(absolute, 2)), norm))
        power, absolute = power @ B, absolute @ np.abs(B)
    return peak, size


def transient_check(case: Case, X, gamma, mask, cvec, eta, sets, c, failures: list, worst: list) -> None:
    """``analyse(..., layers=L)``: ``transient_peak`` equals the reference's dense powers, and the returned
    ``depth_safe_eta`` keeps the reference's peak within ``MAX_GROWTH``."""
    N = residual_operator_float(X, gamma, sets, c, case.n)
    out = package_module("verify.rates").analyse(X, mask, cvec, eta, gamma, case.layers, MAX_GROWTH,
                                              attention=case.attention)
    peak, size = reference_peak(N, eta, case.layers)
    _compare(f"{case.label}: transient_peak", [out["transient_peak"]], [peak], [size], case.n, failures, worst)
    safe = float(out["depth_safe_eta"])
    safe_peak, safe_size = reference_peak(N, safe, case.layers)
    if not np.isfinite(safe) or safe_peak > MAX_GROWTH + conformance_tol(safe_size, case.n):
        failures.append(f"{case.label}: depth_safe_eta {safe:.6g} gives a transient peak of {safe_peak:.6g} > "
                        f"{MAX_GROWTH:g} over {case.layers} layers")


RUNNERS = {S: run_simulate, R: run_stationary, T: run_rate}


def scope(cases=CASES) -> str:
    """The finite sizes E0 covers, computed from the case table."""
    sim = [c for c in cases if c.entry == S]
    attentions = sorted({c.attention for c in cases})
    return (f"{len(cases)} cases ({sum(c.entry == S for c in cases)} simulate, {sum(c.entry == R for c in cases)} "
            f"stationary, {sum(c.entry == T for c in cases)} rate); attentions {', '.join(attentions)}; "
            f"normalizers {', '.join(sorted({c.normalization for c in cases}))} (constant c in "
            f"{{{', '.join(f'{s:g}' for s in sorted({c.scale for c in cases if c.normalization == 'constant'}))}}}); "
            f"n + m up to {max(c.n + c.m for c in sim)} (chunk threshold "
            f"{package_module('verify.commands.simulate').FORWARD_CHUNK}), n up to {max(c.n for c in sim)}, "
            f"d up to {max(c.d for c in cases)}, m up to {max(c.m for c in cases)}, L up to "
            f"{max(c.layers for c in sim)} (rate's transient keys up to L = "
            f"{max(c.layers for c in cases if c.entry == T)}), k up to {max(c.k for c in cases)}; Gamma and w0; "
            "random float64 and "
            f"exact adversarial prompts; construction K^T Q, P V exact at d in {list(CONSTRUCTION_DIMS)}")


def prove(setup, formal=None) -> Result:
    """Run every case; ``checked`` at the sizes of :func:`scope`, ``failed`` with the disagreements."""
    failures: list[str] = []
    worst: list[float] = []
    rng = np.random.default_rng(0)
    for d in CONSTRUCTION_DIMS:
        for gamma in (None, np.round(rng.standard_normal((d, d)) * 8) / 8 + d * np.eye(d)):
            gamma = None if gamma is None else (gamma + gamma.T) / 2
            why = _guarded(construction_check, setup, d, 1 + d % 2, 0.3, gamma)
            if why:
                failures.append(f"construction: {why}")
    cache: dict = {}  # one symbolic normalizer (one z3 certificate) per attention within this run
    # small dense problems: one BLAS thread is faster than a pool on a busy machine (verify.threads)
    with package_module("verify.threads").blas_threads(1):
        for case in CASES:
            why = _guarded(RUNNERS[case.entry], setup, case, failures, worst, cache)
            if why:
                failures.append(f"{case.label}: {why}")
    detail = "; ".join(failures[:6] + ([f"... {len(failures) - 6} more"] if len(failures) > 6 else []))
    if not failures:
        detail = f"largest disagreement {max(worst, default=0.0):.2g} x the size of the terms"
    return Result("failed" if failures else "checked", f"finite: {scope()}", None, detail)


def _guarded(check, *args) -> str:
    """Run a check; an exception of a (replaced) model is a failed case, not a crash."""
    try:
        return check(*args) or ""
    except Exception as exc:  # noqa: BLE001 - anything a wrong engine raises is a disagreement
        return f"{type(exc).__name__}: {exc}"


THEOREM = Theorem(
    id="E0",
    title="engine conformance: the numeric commands compute the proved model at finite sizes",
    statement=STATEMENT,
    latex=LATEX,
    depends_on=(),
    prove=prove,
)
