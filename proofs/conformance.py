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
  Gamma`` with ``N s = r^(0)`` solved exactly; rates from the exact ``N`` by mpmath.

Agreement is relative to the size of the numbers: the reference loop also propagates
the majorant ``a_j <- a_j + (eta/c_j) sum_{i in A(j)} a_i |x_i|^T |Gamma| |x_j|`` (the
magnitude of every term a float sum adds), and an entry may differ by
``verify.tolerances.conformance_tol(a, terms)`` only.  The cases are the table
:data:`CASES` (entry point, attention, normalizer, sizes, prompt kind); add a case there.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

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
    Case(T, "causal", "constant", 9, 1, 3, scale=2.0, prompt="exact", seed=25),
    Case(T, "prefix", "constant", 8, 1, 3, prompt="exact", seed=26),
    Case(T, "prefix", "count", 3, 1, 4, gamma=True, prompt="exact", seed=27),
    Case(T, "hybrid:2", "count", 8, 1, 2, prompt="exact", seed=28),
    Case(T, "block:3", "count", 9, 1, 3, prompt="exact", seed=29),
)
#: dimensions at which the numeric construction must be the symbolic one instantiated (with and without Gamma)
CONSTRUCTION_DIMS = (1, 3, 6)


# ---------------------------------------------------------------- the symbolic objects, instantiated


def _symbols():
    from .symbolic import I_SRC, J_TGT, D, M, N

    return D, I_SRC, J_TGT, M, N


def evaluate(expr, values: dict):
    """A SymPy integer expression or Boolean at concrete integers: ``values`` maps symbols to numpy
    integer arrays (broadcast).  Written here, not lambdified: only the operations the attention
    rules and the count certificates use (And/Or/Not, relations, +, *, floor, Max, Min, Piecewise);
    anything else raises, so nothing is evaluated by guesswork."""
    import sympy as sp

    relations = {sp.StrictLessThan: np.less, sp.LessThan: np.less_equal, sp.StrictGreaterThan: np.greater,
                 sp.GreaterThan: np.greater_equal, sp.Equality: np.equal, sp.Unequality: np.not_equal}

    def _relation(e):
        # lhs - rhs scaled to integers (q > 0 keeps the relation), so no Fraction arrays are formed
        diff = e.lhs - e.rhs
        q = int(sp.ilcm(1, *[r.q for r in diff.atoms(sp.Rational)]))
        return relations[type(e)](ev(sp.expand(q * diff)), 0)

    def ev(e):
        if e in values:
            return values[e]
        if e is sp.true or e is sp.false:
            return bool(e)
        if e.is_Integer:
            return int(e)
        if e.is_Rational:
            return Fraction(int(e.p), int(e.q))
        if isinstance(e, sp.floor):  # floor(p x / q) of integers: scale to integers, then floor-divide exactly
            q = int(sp.ilcm(1, *[r.q for r in e.args[0].atoms(sp.Rational)]))
            return np.floor_divide(ev(sp.expand(q * e.args[0])), q)
        if isinstance(e, sp.core.relational.Relational):
            return _relation(e)
        args = [ev(a) for a in e.args]
        if isinstance(e, sp.And):
            return _fold(np.logical_and, args)
        if isinstance(e, sp.Or):
            return _fold(np.logical_or, args)
        if isinstance(e, sp.Not):
            return np.logical_not(args[0])
        if isinstance(e, sp.Add):
            return _fold(np.add, args)
        if isinstance(e, sp.Mul):
            return _fold(np.multiply, args)
        if isinstance(e, (sp.Max, sp.Min)):
            return _fold(np.maximum if isinstance(e, sp.Max) else np.minimum, args)
        if isinstance(e, sp.Piecewise):
            out = args[-1][0]
            for value, cond in reversed(args[:-1]):
                out = np.where(cond, value, out)
            return out
        if isinstance(e, sp.Tuple) or isinstance(e, sp.logic.boolalg.BooleanAtom):
            return args
        raise ValueError(f"cannot evaluate {type(e).__name__} in {expr}")

    return ev(expr)


def _fold(op, args):
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


def reference_sets(setup, spec: str, n: int, m: int) -> list[np.ndarray]:
    """``A(j)`` for every token: the SymPy Boolean ``setup.reads(spec, i, j, n)`` at symbols, evaluated on integers."""
    _, i, j, _, size = _symbols()
    sources, targets = np.indices((n + m, n + m))
    rule = setup.reads(spec, i, j, size)
    grid = np.broadcast_to(np.asarray(evaluate(rule, {i: sources, j: targets, size: n}), dtype=bool), sources.shape)
    return [np.flatnonzero(grid[:, t]) for t in range(n + m)]


def reference_normalizers(setup, spec: str, kind: str, scale, n: int, m: int, cache: dict | None = None) -> list:
    """``c_j`` from the symbolic normalizer (for ``count`` the certificate's ``Lambda``, derived from ``reads`` and
    checked by z3) at ``j = 0..n+m-1`` and the concrete ``n``, ``m``; exact (Fractions)."""
    import sympy as sp

    _, _, j, queries, size = _symbols()
    key = (spec, kind, scale)
    if cache is None or key not in cache:
        c = setup.normalizer(kind, setup.mask(spec, size, queries), sp.Rational(Fraction(scale)))
        if cache is not None:
            cache[key] = c
    else:
        c = cache[key]
    tokens = np.arange(n + m)
    values = np.broadcast_to(np.asarray(evaluate(c(j), {j: tokens, size: n, queries: m}), dtype=object), (n + m,))
    return [Fraction(v) for v in values]


def construction_check(setup, d: int, k: int, eta: float, gamma) -> str:
    """'' when the numeric ``paper(eta, d, k, gamma)`` has the ``K^T Q`` and ``P V`` of the symbolic
    ``setup.construction(ETA, D, k, Gamma)`` instantiated: each of ``K, Q, V, P`` with ``D := d``,
    ``ETA := eta``, ``Gamma := gamma`` and ``.as_explicit()``, the products in exact rationals.
    Only the products are compared: the layer reads nothing else (an entry of ``P`` that ``V``'s
    zero rows remove, or ``Q^T K`` for ``K^T Q`` when they are equal, changes no number)."""
    import sympy as sp

    from verify.construction import Construction

    from .symbolic import ETA

    D = _symbols()[0]
    g = None if gamma is None else sp.MatrixSymbol("Gamma", D, D)
    symbolic = setup.construction(ETA, D, k, g)
    values = {ETA: sp.Rational(eta)}
    if gamma is not None:
        values[sp.MatrixSymbol("Gamma", d, d)] = sp.ImmutableMatrix(_exact(gamma))

    def explicit(block):
        out = sp.Matrix(block.subs(D, d).subs(values).as_explicit())
        return np.array([[Fraction(int(v.p), int(v.q)) for v in row] for row in out.tolist()], dtype=object)

    instance = Construction(*(explicit(getattr(symbolic, name)) for name in "KQVP"))
    numeric = _model("verify.construction").paper(eta, d, k, gamma)
    for name in ("kq", "pv"):
        want = getattr(instance, name)
        got = np.array(_exact(np.asarray(getattr(numeric, name), dtype=float)), dtype=object)
        if want.shape != got.shape or not (want == got).all():
            return f"numeric paper(eta, {d}, {k}).{name} is not the symbolic construction at d = {d}"
    return ""


def _exact(a) -> list:
    return [[Fraction(float(v)) for v in row] for row in np.atleast_2d(a)]


def _model(name: str):
    """A module of the package, imported at call time (its attributes are what the commands use now)."""
    return importlib.import_module(name)


# ---------------------------------------------------------------- the lemma's stack, with its own loop


def lemma_stack(X, Y, Xq, W0, gamma, sets, c, etas, exact: bool):
    """The general lemma applied layer by layer, one token at a time.

    Token ``t`` carries ``x_t`` (unchanged) and ``u_t``: ``y_t - W0 x_t`` for examples,
    ``-W0 x_t`` for queries; ``u_t <- u_t - (eta/c_t) sum_{i in A(t)} u_i (x_i^T Gamma x_t)``.
    Returns ``(states, majorants)``, each a list over layers of ``(n + m, k)`` arrays (object
    arrays of Fractions when ``exact``); the majorant runs the same loop on absolute values.
    """
    n, d = X.shape
    allx = np.vstack([X, Xq])
    G = np.eye(d) if gamma is None else np.asarray(gamma, dtype=float)
    W = np.zeros((Y.shape[1], d)) if W0 is None else np.asarray(W0, dtype=float)
    if exact:
        allx, G, W, Y = (np.array(_exact(a), dtype=object) for a in (allx, G, W, Y))
        c = np.array(c, dtype=object)
    else:
        c = np.array([float(v) for v in c])
    labels = np.vstack([Y, np.zeros((Xq.shape[0], Y.shape[1]), dtype=Y.dtype)])
    u = labels - allx @ W.T
    a = np.abs(labels) + np.abs(allx) @ np.abs(W).T
    # row t: x_i^T Gamma x_t over sources i (and its majorant |x_i|^T |Gamma| |x_t|)
    scores, bounds = (allx @ G @ allx.T).T.copy(), (np.abs(allx) @ np.abs(G) @ np.abs(allx).T).T.copy()
    states, majorants = [u], [a]
    for eta in etas:
        eta = Fraction(eta) if exact else float(eta)
        new_u, new_a = u.copy(), a.copy()
        for t, sources in enumerate(sets):
            if sources.size:
                step = eta / c[t]
                new_u[t] = u[t] - step * (scores[t, sources] @ u[sources])
                new_a[t] = a[t] + step * (bounds[t, sources] @ a[sources])
        u, a = new_u, new_a
        states.append(u)
        majorants.append(a)
    return states, majorants


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
    return _model("verify.tolerances").conformance_tol(majorant, terms)


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
    worst.append(float(np.max(err / size, initial=0.0)))
    bad = err > tol
    if bad.any():
        where = np.unravel_index(int(np.argmax(np.where(bad, err / size, -1.0))), err.shape)
        failures.append(f"{name}: differs at {tuple(int(w) for w in where)} by {float(err[where]):.3g} "
                        f"= {float(err[where] / size[where]):.3g} x the size of its terms "
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
    prompt = _model("verify.prompt").make_prompt(X, Y, Xq)
    model = _model("verify.commands.common").model_of(prompt, case.attention, case.normalization, case.scale,
                                                      W0, gamma)
    out = _model("verify.commands.simulate").simulate(model, etas)
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


def residual_operator_exact(X, gamma, sets, c, n: int):
    """``N = D^{-1} M`` over examples, exact: ``N_{ji} = [i in A(j)] x_i^T Gamma x_j / c_j``."""
    import sympy as sp

    G = sp.eye(X.shape[1]) if gamma is None else sp.Matrix(_exact(gamma))
    Xs = sp.Matrix(_exact(X))
    S = Xs * G * Xs.T
    return sp.Matrix(n, n, lambda j, i: S[i, j] / sp.Rational(c[j]) if i in set(sets[j].tolist()) else 0)


def run_stationary(setup, case: Case, failures: list, worst: list, cache: dict | None = None) -> None:
    """The stationary weights: ``N s = r^(0)`` solved exactly (``N^+`` for the symmetric prefix
    iteration), ``W_t = W_0 + (1/c_t) sum_{i in A(t)} s_i x_i^T Gamma`` (the lemma's read-out)."""
    import sympy as sp

    X, Y, Xq, W0, gamma = make_case_prompt(case)
    sets, c = _reference(setup, case, cache)
    n, d, k = case.n, case.d, case.k
    N = residual_operator_exact(X, gamma, sets, c, n)
    W0s = sp.zeros(k, d) if W0 is None else sp.Matrix(_exact(W0))
    Xs, Ys = sp.Matrix(_exact(X)), sp.Matrix(_exact(Y))
    r0 = Ys - Xs * W0s.T
    s = N.LUsolve(r0) if N.det() != 0 else N.pinv() * r0
    G = sp.eye(d) if gamma is None else sp.Matrix(_exact(gamma))
    allx = sp.Matrix(_exact(np.vstack([X, Xq])))
    want, size = [], []
    for t, sources in enumerate(sets):
        total = sp.zeros(k, d)
        bound = np.zeros((k, d))
        for i in sources.tolist():
            if i < n:
                total += s[i, :].T * (allx[i, :] * G) / sp.Rational(c[t])
                bound += np.abs(np.outer(np.asarray(s[i, :], dtype=float), np.asarray(allx[i, :] * G, dtype=float)))
        want.append(np.array(W0s + total, dtype=float))
        size.append(bound / float(c[t]) + np.abs(np.array(W0s, dtype=float)))
    prompt = _model("verify.prompt").make_prompt(X, Y, Xq)
    model = _model("verify.commands.common").model_of(prompt, case.attention, case.normalization, case.scale,
                                                      W0, gamma)
    out = _model("verify.commands.stationary").stationary(model, case.normalization, case.scale)
    got = np.concatenate([np.asarray(out["example_weights"]), np.asarray(out["query_weights"])])
    Nf = np.array(N, dtype=float)
    sv = np.linalg.svd(Nf, compute_uv=False)
    cond = float(sv[0] / sv[sv > sv[0] * 1e-12].min())
    _compare(f"{case.label}: stationary weights", got.reshape(len(want), k, d), np.array(want), np.array(size) * cond,
             n + d, failures, worst)


def run_rate(setup, case: Case, failures: list, worst: list, cache: dict | None = None) -> None:
    """``rate = max |1 - eta lambda|`` and ``stable_eta_max = min 2 Re(lambda) / |lambda|^2`` over the
    eigenvalues of the exact ``N`` (50 digits, mpmath), zero eigenvalues of the symmetric prefix
    iteration dropped (P4's ``lambda_min^+``)."""
    import mpmath

    X, Y, Xq, W0, gamma = make_case_prompt(case)
    sets, c = _reference(setup, case, cache)
    n = case.n
    N = residual_operator_exact(X, gamma, sets, c, n)
    with mpmath.workdps(50):
        exact_N = mpmath.matrix([[mpmath.mpf(v.p) / v.q for v in row] for row in N.tolist()])
        lam = mpmath.eig(exact_N, left=False, right=False)
        top = max(abs(v) for v in lam)
        lam = [v for v in lam if abs(v) > top * mpmath.mpf(10) ** -30] if N.is_symmetric() else list(lam)
        eta = 0.9 * float(min(2 * mpmath.re(v) / abs(v) ** 2 for v in lam))
        rate = max(abs(1 - eta * v) for v in lam)
        stable = min(2 * mpmath.re(v) / abs(v) ** 2 for v in lam)
        want = (float(rate), float(stable))
        # eigenvalues computed in floats err by about n eps ||N||: relative to the smallest one, that is the spread
        spread = float(mpmath.mnorm(exact_N, 1) / min(abs(v) for v in lam))
    mask = _model("verify.masks").attention_mask(case.attention, n, case.m)
    cvec = _model("verify.normalizers").normalizer(case.normalization, mask, case.scale)
    out = _model("verify.rates").analyse(X, mask, cvec, eta, gamma)
    # the size of the terms: |1 - eta lambda| <= 1 + eta |lambda|, and 2 Re(lambda) / |lambda|^2, both times the spread
    size = np.array([1.0 + eta * float(top), want[1]]) * max(spread, 1.0)
    _compare(f"{case.label}: rate, stable_eta_max", [out["rate"], out["stable_eta_max"]], want, size, n, failures,
             worst)


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
            f"{_model('verify.commands.simulate').FORWARD_CHUNK}), n up to {max(c.n for c in sim)}, "
            f"d up to {max(c.d for c in cases)}, m up to {max(c.m for c in cases)}, L up to "
            f"{max(c.layers for c in sim)}, k up to {max(c.k for c in cases)}; Gamma and w0; random float64 and "
            f"exact adversarial prompts; construction K^T Q, P V exact at d in {list(CONSTRUCTION_DIMS)}")


def prove(setup) -> Result:
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
