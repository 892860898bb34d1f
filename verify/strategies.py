"""Hypothesis strategies for in-context learning with linear self-attention: a public API.

Researchers reuse these in their own test suites after ``pip install icl-verify``
(Hypothesis is a runtime dependency, nothing here imports pytest).  Every
argument accepts either a strategy or a plain value, every default is
sensible, and every draw is valid by construction rather than filtered::

    from hypothesis import given, strategies as st
    from verify.strategies import attentions, cases, prompts

    @given(prompts(d=3, n=st.integers(3, 8), noise=0.1))
    def test_my_claim(prompt):
        assert prompt.X.shape == (prompt.n, 3)

    @given(cases(attention=attentions(kinds=("causal",)), eta="stable"))
    def test_causal_is_stable(case):
        ...

Three ways to draw the numbers of a prompt (``mode``):

- ``"drawn"`` (default): Hypothesis draws every float, so failures shrink to
  small readable counterexamples and edge cases (zeros, ties, axis-aligned
  rows) are explored.
- ``"generic"``: Hypothesis draws a seed and numpy draws the floats, so the data
  are generic with probability one (no ties, no orthogonal coincidences).  Use
  it for claims that hold only for generic data, e.g. "an unstable step size
  makes the stack diverge" needs labels with a component on the unstable mode.
- ``"exact"``: small rationals ``a/b`` with ``|a| <= b <= 4``.  The draw is an
  :class:`ExactPrompt`: a :class:`~verify.prompt.Prompt` whose float arrays are
  the images of SymPy ``Rational`` matrices kept in ``prompt.exact`` for exact
  identities through the same ``verify.lsa`` layer.

Every example row has ``||x_j|| >= min_norm``: one coordinate per row (its
place drawn) gets magnitude in ``[min_norm, 1]`` with the sign of the input
shift, so the causal quantities that divide by ``||x_j||^2`` always exist.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from . import construction as _construction  # the model, looked up at call time
from . import masks as _masks
from . import normalizers as _normalizers
from .masks import parse_attention
from .normalizers import KINDS
from .prompt import Prompt, make_prompt
from .rates import spectrum, stable_eta_max_of

__all__ = [
    "ExactPrompt", "RationalArrays", "Case", "MODES", "PAPER_ATTENTIONS", "ALL_ATTENTIONS",
    "prompts", "multi_output_prompts", "attentions", "normalizers", "custom_masks",
    "stable_eta_max", "stable_etas", "unstable_etas", "preconditioners", "constructions",
    "initial_weights", "eta_schedules", "cases",
]

MODES = ("drawn", "generic", "exact")
PAPER_ATTENTIONS = ("prefix", "causal")
ALL_ATTENTIONS = ("prefix", "causal", "sliding", "block", "hybrid")
#: largest denominator of an exact entry: small enough for fast SymPy arithmetic
EXACT_DENOMINATOR = 4


@dataclass(frozen=True)
class RationalArrays:
    """The exact entries of an :class:`ExactPrompt`, as immutable SymPy matrices.

    Attributes
    ----------
    X : (n, d), Y : (n, k), Xq : (m, d), Yq : (m, k) -- ``Rational`` entries.
    ``Y`` is 2-D even for a single output (``k = 1``).
    """

    X: Any
    Y: Any
    Xq: Any
    Yq: Any


@dataclass(frozen=True)
class ExactPrompt(Prompt):
    """A :class:`~verify.prompt.Prompt` drawn in exact mode.

    ``X, y, Xq, yq`` are float arrays (every numeric routine accepts it as a
    Prompt); ``exact`` holds the same numbers as SymPy ``Rational`` matrices::

        Z = tokens(prompt.exact.X, prompt.exact.Y, prompt.exact.Xq)  # exact tokens
    """

    exact: RationalArrays | None = None


@dataclass(frozen=True)
class Case:
    """One LSA instance: a prompt, who attends to whom, what divides, and a step size.

    ``mask`` is the ``(n + m, n + m)`` boolean mask of ``attention`` and ``c``
    the normalizer vector (``verify.masks`` / ``verify.normalizers``).
    """

    prompt: Prompt
    attention: str
    normalizer: str
    scale: float
    mask: np.ndarray
    c: np.ndarray
    eta: float


def _strategy(value) -> st.SearchStrategy:
    """A strategy as given, or ``st.just`` of a plain value."""
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


# ---------------------------------------------------------------- numbers


def _floats(low: float, high: float) -> st.SearchStrategy:
    # no subnormals: their squares underflow to 0 and would fake a zero example
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _fractions() -> st.SearchStrategy:
    """Small rationals ``a/b`` with ``|a| <= b <= EXACT_DENOMINATOR``."""
    return st.integers(1, EXACT_DENOMINATOR).flatmap(lambda b: st.integers(-b, b).map(lambda a: Fraction(a, b)))


def _block(draw, mode: str, shape: tuple, rng, gaussian: bool = False) -> np.ndarray:
    """Entries in ``[-1, 1]`` (or standard normal in generic mode when ``gaussian``)."""
    if mode == "generic":
        return rng.standard_normal(shape) if gaussian else rng.uniform(-1, 1, shape)
    if mode == "exact":
        flat = draw(st.lists(_fractions(), min_size=math.prod(shape), max_size=math.prod(shape)))
        return np.array(flat, dtype=object).reshape(shape)
    return draw(hnp.arrays(np.float64, shape, elements=_floats(-1, 1)))


def _pivots(draw, mode: str, n: int, d: int, min_norm, sign_of_shift: int, rng):
    """Per example row: a coordinate and a value of magnitude in ``[min_norm, 1]``."""
    if mode == "generic":
        places = rng.integers(0, d, n)
        sizes = rng.uniform(float(min_norm), max(float(min_norm), 1.0), n)
        signs = np.full(n, sign_of_shift) if sign_of_shift else rng.choice([-1, 1], n)
        return list(zip(places, sizes * signs))
    if mode == "exact":
        low = Fraction(min_norm)
        # a/b >= low with b <= EXACT_DENOMINATOR, built directly (no filter)
        size = st.integers(1, EXACT_DENOMINATOR).flatmap(
            lambda b: st.integers(math.ceil(low * b), b).map(lambda a: Fraction(a, b))) if low <= 1 else st.just(low)
    else:
        size = _floats(float(min_norm), max(float(min_norm), 1.0))
    sign = st.just(sign_of_shift) if sign_of_shift else st.sampled_from([1, -1])
    return draw(st.lists(st.tuples(st.integers(0, d - 1), st.tuples(size, sign).map(lambda t: t[0] * t[1])),
                         min_size=n, max_size=n))


def _cap_condition(X: np.ndarray, max_cond: float) -> np.ndarray:
    """Lift the singular values of ``X`` to at least ``s_max / max_cond``.

    Lifting never shrinks a row (``||x_j||^2 = sum_r U_jr^2 s_r^2``), so the
    ``min_norm`` guarantee survives; ``X`` gets full rank ``min(n, d)``.
    """
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return X
    return (U * np.maximum(s, s[0] / max_cond)) @ Vt


@st.composite
def prompts(draw, d=st.integers(1, 4), n=st.integers(1, 8), m=st.integers(1, 3), k=None,
            noise=0.0, mu_x=0.0, max_cond=None, min_norm=0.25, mode="drawn"):
    """Random in-context prompts ``y = X w + noise * e`` with rows ``x_j = u_j + mu_x``.

    Parameters (each a plain value or a strategy)
    ----------
    d, n, m : input dimension, number of examples, number of queries.
    k : None for single-output labels ``y`` of shape ``(n,)``; an integer for
        multi-output labels of shape ``(n, k)`` (2-D even when ``k = 1``).
    noise : label noise level (``e`` uniform in ``[-1, 1]``, standard normal in
        generic mode); queries' ``yq = Xq w`` are noiseless.
    mu_x : input shift added to every coordinate (the paper's ``mu_x``).
    max_cond : None, or a cap on the condition number of ``X`` (its
        ``min(n, d)`` singular values), imposed by construction (not in exact mode).
    min_norm : lower bound on every example's ``||x_j||``.
    mode : ``"drawn"``, ``"generic"`` or ``"exact"`` (module docstring).

    Returns
    -------
    :class:`~verify.prompt.Prompt` (an :class:`ExactPrompt` in exact mode).

    Example::

        @given(prompts(d=1, noise=st.floats(0.1, 1.0), mode="generic"))
        def test_noisy_1d(prompt):
            assert prompt.X.shape[1] == 1
    """
    mode = draw(_strategy(mode))
    if mode not in MODES:
        raise InvalidArgument(f"mode={mode!r}; use one of {MODES}")
    d, n, m = draw(_strategy(d)), draw(_strategy(n)), draw(_strategy(m))
    k = draw(_strategy(k))
    noise, mu_x = draw(_strategy(noise)), draw(_strategy(mu_x))
    max_cond, min_norm = draw(_strategy(max_cond)), draw(_strategy(min_norm))
    if d < 1 or n < 1 or m < 0 or (k is not None and k < 1):
        raise InvalidArgument(f"prompts needs d >= 1, n >= 1, m >= 0, k >= 1; got d={d}, n={n}, m={m}, k={k}")
    if not min_norm > 0:
        raise InvalidArgument(f"min_norm={min_norm!r} must be > 0 so that every ||x_j|| > 0")
    if mode == "exact" and max_cond is not None:
        raise InvalidArgument("max_cond is not available in exact mode (lifting singular values is not rational)")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1))) if mode == "generic" else None
    if mode == "exact":
        noise, mu_x, min_norm = Fraction(noise), Fraction(mu_x), Fraction(min_norm)
    outputs = 1 if k is None else k
    sign_of_shift = int(np.sign(float(mu_x)))

    U = _block(draw, mode, (n, d), rng)
    for j, (place, value) in enumerate(_pivots(draw, mode, n, d, min_norm, sign_of_shift, rng)):
        U[j, place] = value
    X = U + mu_x
    Xq = _block(draw, mode, (m, d), rng) + mu_x
    w = _block(draw, mode, (d, outputs), rng, gaussian=True)
    e = _block(draw, mode, (n, outputs), rng, gaussian=True)
    if max_cond is not None:
        if not max_cond >= 1:
            raise InvalidArgument(f"max_cond={max_cond!r} must be >= 1")
        X = _cap_condition(X, float(max_cond))
    Y = X @ w + noise * e if noise else X @ w
    Yq = Xq @ w
    shape = (lambda A: A[:, 0]) if k is None else (lambda A: A)
    if mode != "exact":
        return make_prompt(X, shape(Y), Xq, shape(Yq))
    import sympy as sp

    def rational(A):
        return sp.ImmutableMatrix(A.shape[0], A.shape[1],
                                  [sp.Rational(f.numerator, f.denominator) for f in A.ravel()])

    def real(A):
        return np.array([float(f) for f in A.ravel()], dtype=float).reshape(A.shape)

    base = make_prompt(real(X), shape(real(Y)), real(Xq), shape(real(Yq)))
    exact = RationalArrays(rational(X), rational(Y), rational(Xq), rational(Yq))
    return ExactPrompt(base.X, base.y, base.Xq, base.yq, exact=exact)


def multi_output_prompts(k=st.integers(2, 3), **kwargs):
    """Prompts with labels of shape ``(n, k)``: ``prompts(k=k, **kwargs)``.  Example::

        @given(multi_output_prompts(d=2))
        def test_k(prompt):
            assert prompt.y.ndim == 2
    """
    return prompts(k=k, **kwargs)


# ---------------------------------------------------------------- attention and normalizer


@st.composite
def attentions(draw, n=None, kinds=PAPER_ATTENTIONS):
    """Attention specs for ``verify.masks.attention_mask``: ``'prefix'``, ``'sliding:3'``, ...

    ``kinds`` picks among ``ALL_ATTENTIONS``; the parameter of ``sliding:K``
    and ``block:B`` is drawn in ``1..n`` and that of ``hybrid:P`` in ``0..n``
    (``n`` defaults to 6).  Example::

        @given(attentions(n=5, kinds=ALL_ATTENTIONS))
        def test_spec(spec):
            _masks.attention_mask(spec, 5, 2)
    """
    kind = draw(st.sampled_from(tuple(kinds)))
    if kind in PAPER_ATTENTIONS:
        return kind
    top = max(int(draw(_strategy(n)) if n is not None else 6), 1)
    param = draw(st.integers(0 if kind == "hybrid" else 1, top))
    spec = f"{kind}:{param}"
    parse_attention(spec)  # a kind outside ALL_ATTENTIONS fails here, loudly
    return spec


def normalizers(kinds=KINDS):
    """Normalizer kinds for ``verify.normalizers.normalizer``.  Example::

        @given(normalizers())
        def test_kind(kind):
            assert kind in ("constant", "count")
    """
    return st.sampled_from(tuple(kinds))


@st.composite
def custom_masks(draw, n, m=0, self_reads=True):
    """Boolean ``(n + m, n + m)`` masks that pass ``verify.masks.check_mask``.

    Examples read any examples (themselves too when ``self_reads``); queries read
    at least one example (its place drawn) and nobody reads a query.  Example::

        @given(custom_masks(n=4, m=2))
        def test_mask(mask):
            check_mask(mask, 4, 2)
    """
    n, m = draw(_strategy(n)), draw(_strategy(m))
    mask = np.zeros((n + m, n + m), dtype=bool)
    mask[:n, :n] = draw(hnp.arrays(bool, (n, n)))
    if draw(_strategy(self_reads)):
        mask[np.arange(n), np.arange(n)] = True
    if m:
        mask[:n, n:] = draw(hnp.arrays(bool, (n, m)))
        mask[draw(hnp.arrays(np.int64, m, elements=st.integers(0, n - 1))), n + np.arange(m)] = True
    return mask


def _mask_and_c(prompt: Prompt, attention, normalizer: str, scale):
    if isinstance(attention, str):
        mask = _masks.attention_mask(attention, prompt.n, prompt.m)
    else:
        mask = np.asarray(attention, dtype=bool)
    return mask, _normalizers.normalizer(normalizer, mask, scale)


# ---------------------------------------------------------------- step sizes


def stable_eta_max(prompt: Prompt, attention="prefix", normalizer="constant", scale=1.0, gamma=None) -> float:
    """``stable_eta_max`` of ``verify.rates`` for this prompt, attention (spec or mask) and normalizer.

    A plain function, not a strategy: ``sup {eta : rate(eta) < 1}``.  Example::

        top = stable_eta_max(prompt, "causal", "count")   # 2 / max_j (||x_j||^2 / j)
    """
    mask, c = _mask_and_c(prompt, attention, normalizer, scale)
    return stable_eta_max_of(spectrum(prompt.X, mask, c, gamma))


def stable_etas(prompt: Prompt, attention="prefix", normalizer="constant", scale=1.0, gamma=None,
                fraction=_floats(0.05, 0.95)):
    """Step sizes ``eta = fraction * stable_eta_max`` (stable when ``0 < fraction < 1``).

    Draws nothing (Hypothesis discards the example) when no step size is
    stable.  Use with ``st.data()`` or inside a composite, since it depends on
    the prompt.  Example::

        @given(prompts(), st.data())
        def test_stable(prompt, data):
            eta = data.draw(stable_etas(prompt, "causal"))
    """
    top = stable_eta_max(prompt, attention, normalizer, scale, gamma)
    if not (0 < top < math.inf):
        return st.nothing()
    return _strategy(fraction).map(lambda f: float(f) * top)


def unstable_etas(prompt: Prompt, attention="prefix", normalizer="constant", scale=1.0, gamma=None,
                  factor=_floats(1.25, 2.5)):
    """Step sizes ``eta = factor * stable_eta_max`` with ``factor > 1``: the iteration's
    rate exceeds 1.  Draws nothing when ``stable_eta_max`` is 0 or infinite.  Example::

        @given(prompts(mode="generic"), st.data())
        def test_unstable(prompt, data):
            eta = data.draw(unstable_etas(prompt, "prefix"))
    """
    top = stable_eta_max(prompt, attention, normalizer, scale, gamma)
    if not (0 < top < math.inf):
        return st.nothing()
    return _strategy(factor).map(lambda f: float(f) * top)


def eta_schedules(layers=st.integers(0, 5), eta=_floats(0.01, 1.0)):
    """Per-layer step sizes ``[eta_1, ..., eta_L]``; ``eta`` may be ``stable_etas(...)``.  Example::

        @given(eta_schedules(layers=3))
        def test_schedule(etas):
            assert len(etas) == 3
    """
    eta = _strategy(eta)
    return _strategy(layers).flatmap(lambda L: st.lists(eta, min_size=L, max_size=L))


# ---------------------------------------------------------------- constructions


@st.composite
def preconditioners(draw, d, max_cond=4.0):
    """Symmetric positive definite ``Gamma = Q diag(s) Q^T`` with ``s`` in ``[1/max_cond, 1]``.

    ``Q`` is the orthogonal factor of a drawn matrix, so the condition number is
    at most ``max_cond`` by construction.  Example::

        @given(preconditioners(d=3))
        def test_spd(gamma):
            assert np.all(np.linalg.eigvalsh(gamma) > 0)
    """
    d, max_cond = draw(_strategy(d)), float(draw(_strategy(max_cond)))
    Q, _ = np.linalg.qr(draw(hnp.arrays(np.float64, (d, d), elements=_floats(-1, 1))))
    s = np.array(draw(st.lists(_floats(1 / max_cond, 1.0), min_size=d, max_size=d)))
    gamma = (Q * s) @ Q.T
    return (gamma + gamma.T) / 2  # exactly symmetric, so rates treat prefix as symmetric


@st.composite
def constructions(draw, d, k=1, eta=_floats(0.01, 1.0), gamma=st.none()):
    """The paper's construction ``paper(eta, d, k, gamma)``.

    ``gamma=preconditioners(d)`` draws a preconditioned one (read it back as
    ``construction.kq[:d, :d]``); ``st.one_of(st.none(), preconditioners(d))``
    draws both kinds.  Example::

        @given(constructions(d=2, gamma=st.one_of(st.none(), preconditioners(2))))
        def test_layer(construction):
            assert construction.pv.shape == (3, 3)
    """
    d, k = draw(_strategy(d)), draw(_strategy(k))
    return _construction.paper(draw(_strategy(eta)), d, k, draw(_strategy(gamma)))


def initial_weights(d, k=1, scale=1.0):
    """Initial weights ``W0`` of shape ``(k, d)`` with entries in ``[-scale, scale]``.  Example::

        @given(initial_weights(d=3))
        def test_w0(W0):
            assert W0.shape == (1, 3)
    """
    return st.tuples(_strategy(d), _strategy(k)).flatmap(
        lambda dk: hnp.arrays(np.float64, (dk[1], dk[0]), elements=_floats(-float(scale), float(scale))))


# ---------------------------------------------------------------- whole instances


@st.composite
def cases(draw, prompt=prompts(), attention=attentions(), normalizer=normalizers(),
          scale=st.sampled_from((1.0, "n")), eta="stable", fraction=None):
    """A :class:`Case`: prompt, attention, normalizer and a step size relative to them.

    ``scale`` is the constant normalizer's ``c`` (``"n"``: the number of
    examples, the paper's text; ``1.0``: its code).  ``eta`` is ``"stable"``
    (``fraction`` of ``stable_eta_max``, default in ``[0.05, 0.95]``),
    ``"unstable"`` (default factor in ``[1.25, 2.5]``), ``"any"`` (``[0.05, 1.5]``)
    or a strategy/value for an absolute step size.  Example::

        @given(cases(attention=attentions(kinds=("causal",)), eta="stable"))
        def test_case(case):
            assert case.mask.shape == (case.prompt.n + case.prompt.m,) * 2
    """
    prompt = draw(_strategy(prompt))
    attention, kind = draw(_strategy(attention)), draw(_strategy(normalizer))
    scale = draw(_strategy(scale))
    scale = float(prompt.n) if scale == "n" else float(scale)
    mask, c = _mask_and_c(prompt, attention, kind, scale)
    relative = {"stable": (stable_etas, _floats(0.05, 0.95)), "unstable": (unstable_etas, _floats(1.25, 2.5)),
                "any": (stable_etas, _floats(0.05, 1.5))}
    if isinstance(eta, str):
        if eta not in relative:
            raise InvalidArgument(f"eta={eta!r}; use 'stable', 'unstable', 'any' or a step size")
        make, default = relative[eta]
        eta = draw(make(prompt, mask, kind, scale, None, fraction if fraction is not None else default))
    else:
        eta = float(draw(_strategy(eta)))
    name = attention if isinstance(attention, str) else "custom"
    return Case(prompt, name, kind, scale, mask, c, eta)
