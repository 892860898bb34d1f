"""Named attentions in O(n d^2), one meaning of stable, the rate gap and the structured transient (issues 20, 21, 24).

Oracles are written here from SPEC and the README's attention table, not from the package:
``rule`` is each named attention's reading rule, ``oracle_stationary`` the forward recursion
of SPEC section 6 block by block (min-norm least squares inside a full block, the online
step inside a single one), ``oracle_stable`` the (a)-(c) characterisation of SPEC section 7
on a dense ``N``.  Each property takes the implementation under test as an argument, and
``test_mutant_is_caught`` shows that a deliberately wrong one fails it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from verify.lemma import stationary_weights
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.peak import krylov_peak
from verify.rates import analyse, transient
from verify.shapes import PROPERTIES, diagonal_blocks, kind_of, mask_facts, mask_property, named_shape
from verify.structured import Operator
from verify.tolerances import SEMISIMPLE_MIN

# ----------------------------------------------------------------------------- oracles (from SPEC / README)


def rule(spec: str, i: int, j: int, n: int) -> bool:
    """README table, 0-based: does token ``j`` read example ``i``? (queries are ``j >= n``)."""
    if i >= n:
        return False
    name, _, p = spec.partition(":")
    K = int(p) if p else 0
    if j >= n:
        return i >= n - K if name == "sliding" else True
    return {"prefix": True, "causal": i <= j, "sliding": j - K < i <= j, "block": i // max(K, 1) <= j // max(K, 1),
            "hybrid": i <= j or i < K}[name]


def oracle_blocks(spec: str, n: int) -> list:
    """The diagonal blocks: full groups that read each other (block:B, the first P of hybrid, prefix), else singles."""
    name, _, p = spec.partition(":")
    size = {"prefix": n, "block": int(p or 1), "hybrid": max(int(p or 0), 1)}.get(name, 1)
    if name == "hybrid":
        return [list(range(min(size, n)))] + [[j] for j in range(min(size, n), n)]
    return [list(range(a, min(a + size, n))) for a in range(0, n, size)]


def oracle_stationary(spec: str, X, y, c):
    """Query weight of SPEC section 6's fixed point: block by block, ``X_C g = c r_C - X_C a`` solved in least squares
    (``g`` in the row space of ``X_C``), ``a`` the sources each member reads before its block."""
    n, d = X.shape
    G = np.zeros((n, d))  # source of example i: s_i x_i (a block's sources are spread by its pseudo-inverse)
    for C in oracle_blocks(spec, n):
        if not C:
            continue
        before = np.array([sum((G[i] for i in range(C[0]) if rule(spec, i, j, n)), np.zeros(d)) for j in C])
        XC = X[C]
        rhs = c[C] * y[C] - np.einsum("jd,jd->j", XC, before)
        s = np.linalg.pinv(XC @ XC.T) @ rhs
        G[C] = s[:, None] * XC
    q = sum((G[i] for i in range(n) if rule(spec, i, n, n)), np.zeros(d))
    return q / c[n]


def oracle_N(mask, X, c) -> np.ndarray:
    n = X.shape[0]
    M = np.array([[X[i] @ X[j] if mask[i, j] else 0.0 for i in range(n)] for j in range(n)])
    return M / c[:n, None]


def oracle_stable(mask, X, c, eta) -> bool:
    """SPEC section 7: (a) nonzero eigenvalues inside the unit disc, (b) rank N^2 = rank N, (c) queries blind to
    null(N).

    The zero eigenvalues are the ``z = dim null(N)`` smallest once (b) holds, so (a) does not rely on a second,
    magnitude threshold: one at ``1e-7 ||N||`` called the genuine eigenvalue ``sigma_min(X)^2 = 1.35e-8 ||N||`` of
    two nearly parallel examples zero, then a Jordan chain (found by the thorough profile, see
    ``test_nearly_parallel_examples_are_stable``).
    """
    n = X.shape[0]
    N = oracle_N(mask, X, c)
    scale = max(np.linalg.norm(N, 2), 1e-300)
    tol = 1e-11 * scale * n  # rounding of N's null directions, far below any eigenvalue these prompts have
    U, sv, Vt = np.linalg.svd(N)
    rank = int(np.sum(sv > tol))
    null, left = Vt[rank:].T, U[:, rank:]  # (n, z) right and left null spaces
    # (b): a Jordan chain at 0 puts a null vector in range(N), orthogonal to the left null space, so L^T K is
    # singular; rounding leaves about eps * cond(N) there, a semisimple zero an angle of order 1
    if null.shape[1] and np.linalg.svd(left.T @ null, compute_uv=False).min() < SEMISIMPLE_MIN:
        return False
    lam = np.linalg.eigvals(N)
    nonzero = lam[np.argsort(np.abs(lam))[null.shape[1]:]]
    if np.any(eta * np.abs(nonzero) ** 2 >= 2 * nonzero.real):  # |1 - eta lambda| < 1, without rounding 1 - eta lambda
        return False
    for q in range(n, mask.shape[1]):
        seen = sum((np.outer(null[i], X[i]) for i in range(n) if mask[i, q]), np.zeros((null.shape[1], X.shape[1])))
        if np.abs(seen).max(initial=0.0) > 1e-6 * max(np.abs(X).max(), 1e-300):
            return False
    return True


# ----------------------------------------------------------------------------- strategies

SPECS = st.sampled_from(["prefix", "causal", "sliding:1", "sliding:3", "block:2", "block:3", "block:5",
                         "hybrid:0", "hybrid:3", "hybrid:6"])


@st.composite
def named_prompts(draw, max_n: int = 14):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n, d, m = draw(st.integers(1, max_n)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    X = rng.standard_normal((n, d)) * draw(st.sampled_from([1.0, 3.0, 0.25]))
    if draw(st.booleans()) and n > 1:
        X[draw(st.integers(0, n - 1))] = 0.0  # a zero example: a null direction nobody sees
    y = rng.standard_normal(n)
    return draw(SPECS), X, y, m, draw(st.sampled_from(["constant", "count"])), float(draw(st.sampled_from([1.0, 2.5])))


def _run(prop, strategy, mutation, max_examples):
    """``prop(instance, **mutation)`` on up to ``max_examples`` generated instances (no shrinking)."""
    quiet = settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                     phases=[Phase.generate], report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
    with np.errstate(all="ignore"):
        quiet(given(strategy)(lambda instance: prop(instance, **mutation)))()


# ----------------------------------------------------------------------------- properties


def package_stationary(spec, X, y, c, m):
    W = stationary_weights(X, y[:, None], None, c, attention=spec)
    return W[X.shape[0], 0]


def prop_structured_stationary(instance, stationary=package_stationary):
    """The named-attention stationary query weight equals the block-by-block oracle (SPEC section 6)."""
    spec, X, y, m, kind, scale = instance
    n = X.shape[0]
    c = normalizer(kind, attention_mask(spec, n, m), scale)
    got = stationary(spec, X, y, c, m)
    want = oracle_stationary(spec, X, y, c)
    cond = max(np.linalg.cond(X[C]) if len(C) > 1 and np.abs(X[C]).max() > 0 else 1.0 for C in oracle_blocks(spec, n))
    assert np.allclose(got, want, rtol=0, atol=1e-9 * min(cond, 1e6) ** 2 * max(np.abs(want).max(), 1.0)), (got, want)


def package_rate(spec, X, c, eta, m):
    return analyse(X, None, c, eta, attention=spec)


def prop_structured_rate(instance, rate=package_rate):
    """Structured rate, gap, stable bound and verdict equal SPEC section 7 on the dense N of the README's rule."""
    spec, X, y, m, kind, scale = instance
    n = X.shape[0]
    mask = np.array([[rule(spec, i, j, n) for j in range(n + m)] for i in range(n + m)])
    c = normalizer(kind, mask, scale)
    N = oracle_N(mask, X, c)
    # drop exactly dim null(N) eigenvalues, the smallest (a cut-off on |lambda| would also drop a genuine
    # eigenvalue of a nearly singular prompt, sigma_min(X)^2 ~ 1e-8 ||N||, as the thorough profile found elsewhere)
    lam = np.linalg.eigvals(N)
    lam = lam[np.argsort(np.abs(lam))][n - np.linalg.matrix_rank(N):]
    top = float(np.min(2 * lam.real / np.abs(lam) ** 2)) if lam.size else np.inf
    for fraction in (1e-12, 0.5, 0.99, 1.01):
        eta = fraction * top if np.isfinite(top) else fraction
        out = rate(spec, X, c, eta, m)
        assert out["stable"] == (oracle_stable(mask, X, c, eta) and fraction < 1)
        want = float(np.max(np.abs(1 - eta * lam))) if lam.size else 0.0
        assert abs(out["rate"] - want) <= 1e-9 * max(want, 1.0)
        if lam.size and fraction == 1e-12:  # 1 - rate is about eta * lambda_min, not 0 (no cancellation)
            small = eta * float(np.min(lam.real))
            assert out["rate_gap"] > 0 and abs(out["rate_gap"] - small) <= 1e-6 * small
    if np.isfinite(top):
        assert abs(analyse(X, None, c, 1.0, attention=spec)["stable_eta_max"] - top) <= 1e-9 * top


@st.composite
def custom_prompts(draw):
    """Real patterns with zero and repeated examples: sink + window, partial reads of blocks, band, strided."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n, d, m = draw(st.integers(2, 9)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    X = rng.integers(-2, 3, (n, d)).astype(float)
    if draw(st.booleans()):
        X[draw(st.integers(0, n - 1))] = 0.0
    if draw(st.booleans()) and n > 2:
        X[1] = X[0]
    pattern = draw(st.sampled_from(["sink", "partial", "band", "strided", "causal"]))

    def reads(q, kv):  # FlexAttention convention: q reads kv
        return {"sink": kv <= q and (q - kv < 2 or kv == 0), "partial": kv // 3 == q // 3 or (kv // 3 < q // 3
                and kv % 3 == 0), "band": abs(q - kv) <= 1, "strided": kv <= q and (q - kv) % 2 == 0,
                "causal": kv <= q}[pattern]

    mask = np.zeros((n + m, n + m), dtype=bool)
    for q in range(n + m):
        for kv in range(n):
            mask[kv, q] = q >= n or reads(q, kv)
    eta = draw(st.sampled_from([1e-3, 0.05, 0.2, 0.6]))
    return X, mask, eta


def package_stable(X, mask, c, eta):
    return analyse(X, mask, c, eta)["stable"]


def prop_stable_one_meaning(instance, stable=package_stable):
    """``rate``'s verdict is SPEC section 7's (a)-(c) on custom masks with zero and repeated examples."""
    X, mask, eta = instance
    c = np.ones(mask.shape[0])
    assert stable(X, mask, c, eta) == oracle_stable(mask, X, c, eta)


def package_krylov(spec, X, c, eta, layers):
    return krylov_peak(Operator(named_shape(spec, X.shape[0], 1), X, c), eta, layers)[0]


def prop_krylov_lower_bound(instance, peak=package_krylov):
    """The structured transient peak is a lower bound of the exact one (powers of the dense B), and at least 1."""
    spec, X, y, m, kind, scale = instance
    n = X.shape[0]
    mask = attention_mask(spec, n, 1)
    c = normalizer(kind, mask, scale)
    N = oracle_N(mask, X, c)
    lam = np.linalg.eigvals(N)
    eta = 1.6 / max(float(np.abs(lam).max()), 1e-12)
    exact, _, _ = transient(np.eye(n) - eta * N, 12)
    lower = peak(spec, X, c, eta, 12)
    assert 1.0 <= lower <= exact * (1 + 1e-9)


# ----------------------------------------------------------------------------- tests


@given(named_prompts())
def test_structured_stationary_equals_the_oracle(instance):
    prop_structured_stationary(instance)


@given(named_prompts())
def test_structured_rate_is_spec_section_7(instance):
    prop_structured_rate(instance)


@given(custom_prompts())
def test_stable_has_one_meaning(instance):
    prop_stable_one_meaning(instance)


@given(named_prompts(max_n=10))
def test_krylov_peak_is_a_lower_bound(instance):
    prop_krylov_lower_bound(instance)


def test_nearly_parallel_examples_are_stable():
    """Found by the thorough profile: two examples at an angle of 1e-4 and a zero one give ``N`` the genuine
    eigenvalue ``sigma_min(X)^2 = 6.3e-8`` (``1.35e-8 ||N||``); prefix is stable below ``2 / lambda_max``."""
    X = np.array([[0.0, 0.0], [-1.65634543, 0.65610488], [1.14345302, -0.452611]])
    y = np.array([0.43048575, 0.25093257, -0.39435206])
    assert np.linalg.svd(X, compute_uv=False).min() ** 2 > 1e-9 * np.linalg.norm(X, 2) ** 2
    mask = np.array([[rule("prefix", i, j, 3) for j in range(4)] for i in range(4)])
    top = 2 / np.linalg.norm(X, 2) ** 2
    assert all(oracle_stable(mask, X, np.ones(4), f * top) for f in (1e-12, 0.5, 0.99))
    assert not oracle_stable(mask, X, np.ones(4), 1.01 * top)
    prop_structured_rate(("prefix", X, y, 1, "constant", 1.0))


def test_a_jordan_chain_at_zero_is_unstable():
    """The oracle's (b): example 1 reads only example 0, which equals it, and example 0 reads nothing of itself --
    ``N = [[0, 0], [1, 0]]``, a Jordan chain at 0, unstable at every ``eta``; two zero examples are harmless."""
    X = np.array([[1.0], [1.0]])
    chain = np.array([[False, True, True], [False, False, True], [False, False, False]])
    assert np.allclose(oracle_N(chain, X, np.ones(3)), [[0, 0], [1, 0]])
    assert not oracle_stable(chain, X, np.ones(3), 0.1)
    assert oracle_stable(chain, np.zeros((2, 1)), np.ones(3), 0.1)


def sliding_one_wider(spec, X, y, c, m):
    name, _, p = spec.partition(":")
    return package_stationary(f"sliding:{int(p) + 1}" if name == "sliding" else spec.replace("block", "hybrid"),
                              X, y, c, m)


def gap_with_cancellation(spec, X, c, eta, m):
    out = dict(package_rate(spec, X, c, eta, m))
    out["rate_gap"] = 1 - out["rate"]
    out["stable"] = out["rate"] < 1
    return out


def zero_counts(X, mask, c, eta):
    """The old meaning: any zero eigenvalue of N makes the stack unstable."""
    N = oracle_N(mask, X, c)
    return package_stable(X, mask, c, eta) and np.linalg.matrix_rank(N) == N.shape[0]


MUTANTS = [
    ("stationary: sliding window one wider, block read as hybrid", prop_structured_stationary, named_prompts(),
     dict(stationary=sliding_one_wider)),
    ("stationary: prefix least squares for every attention", prop_structured_stationary, named_prompts(),
     dict(stationary=lambda spec, X, y, c, m: package_stationary("prefix", X, y, c, m))),
    ("rate: gap and verdict from a rounded rate", prop_structured_rate, named_prompts(),
     dict(rate=gap_with_cancellation)),
    ("rate: normalizer left out", prop_structured_rate, named_prompts(),
     dict(rate=lambda spec, X, c, eta, m: package_rate(spec, X, np.ones_like(c), eta, m))),
    ("stable: every zero eigenvalue counts", prop_stable_one_meaning, custom_prompts(), dict(stable=zero_counts)),
    ("stable: queries' reads ignored", prop_stable_one_meaning, custom_prompts(),
     dict(stable=lambda X, mask, c, eta: package_stable(X, np.where(np.arange(mask.shape[1]) >= X.shape[0],
                                                                     mask & False, mask), c, eta))),
    ("krylov: the upper bound reported as the peak", prop_krylov_lower_bound, named_prompts(max_n=10),
     dict(peak=lambda spec, X, c, eta, layers: 2 * package_krylov(spec, X, c, eta, layers) + 1e-3)),
]


@pytest.mark.parametrize("name, prop, strategy, mutation", MUTANTS, ids=[row[0] for row in MUTANTS])
def test_mutant_is_caught(name, prop, strategy, mutation):
    with pytest.raises(AssertionError):
        _run(prop, strategy, mutation, 200)


# ----------------------------------------------------------------------------- shapes (issue 21 item 7)


@pytest.mark.parametrize("spec", ["prefix", "causal", "sliding:1", "sliding:3", "block:1", "block:3", "block:20",
                                  "hybrid:0", "hybrid:1", "hybrid:4", "hybrid:30"])
def test_shape_is_the_mask(spec):
    """Intervals, blocks and readers of a named shape equal the README rule's dense mask at every small n."""
    for n in range(1, 12):
        m = 2
        shape = named_shape(spec, n, m)
        mask = np.array([[rule(spec, i, j, n) for j in range(n + m)] for i in range(n + m)])
        read = np.zeros_like(mask)
        for t in range(n + m):
            read[shape.lo[t]:shape.hi[t], t] = True
        assert np.array_equal(read, mask)
        rlo, rhi = shape.readers()
        for i in range(n):
            assert np.array_equal(np.flatnonzero(mask[i, :n]), np.arange(rlo[i], rhi[i]))
        assert [list(range(a, b)) for a, b in zip(shape.starts, shape.stops, strict=True)] == oracle_blocks(spec, n)
        for prop in PROPERTIES:
            assert isinstance(mask_property(mask, n, prop), bool)


def test_shape_properties_agree_with_the_prover():
    """The prover's brute-force cross-check and the engines read one decision (verify.shapes.mask_property),
    and the kinds and blocks the prover derives from z3's answers are the engines' too."""
    from proofs.variants.structure import _brute, blocks, decide, named

    for spec in ("prefix", "causal", "sliding:2", "block:3", "hybrid:2"):
        attention = named(spec)
        for n in range(1, 8):
            mask = attention.mask(n, 1)
            for prop in PROPERTIES:
                assert mask_property(mask, n, prop) == _brute(attention, prop, n), (spec, n, prop)
            assert diagonal_blocks(mask, n) == blocks(mask, n)
            if n == 7:
                assert kind_of(decide(attention).holds) == decide(attention).kind
                assert kind_of(mask_facts(mask, n).get) == named_shape(spec, n, 1).kind


# ----------------------------------------------------------------------------- step sizes within rounding of 1


def test_tiny_eta_is_stable_everywhere(capsys, tmp_path):
    """Issue 24: eta = 1e-16 on a stable prompt says stable in rate, --certify and simulate's engine."""
    from helpers import random_prompt, run_json, save_prompt

    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(3), 8, 3))
    for attention in ("causal", "prefix", "sliding:3"):
        out = run_json(capsys, "rate", path, "--attention", attention, "--eta", "1e-16", "--certify")
        assert out["stable"] is True and out["certified_stable"] is True and 0 < out["rate_gap"] < 1e-14
        lo, hi = out["rate_gap_interval"]
        assert 0 < lo <= out["rate_gap"] * (1 + 1e-12) and hi >= out["rate_gap"] * (1 - 1e-12)


def test_sink_window_with_a_zero_example():
    """Issue 20: an attention sink with a window of 2, the sink itself a zero example: its null direction is
    read by everyone but shows in no read-out (x_0 = 0), so the stack is stable below the bound of (a)."""
    n, m = 6, 1
    X = np.array([[0.0], [1.0], [2.0], [-1.0], [1.5], [0.5]])
    mask = np.zeros((n + m, n + m), dtype=bool)
    for q in range(n + m):
        for kv in range(n):
            mask[kv, q] = q >= n or (kv <= q and (q - kv < 2 or kv == 0))
    c = np.ones(n + m)
    out = analyse(X, mask, c, 0.1)
    assert out["stable"] is True and oracle_stable(mask, X, c, 0.1)
    assert abs(out["stable_eta_max"] - 2 / 4.0) <= 1e-12  # the largest nonzero eigenvalue is x_2^2 = 4
    assert analyse(X, mask, c, 0.6)["stable"] is False and not oracle_stable(mask, X, c, 0.6)


def test_simulate_verdict_is_the_criterion():
    """A schedule's verdict (simulate's keys) is stable at 1e-17 and says why a partial-read mask never is."""
    from verify.rates import schedule_verdict

    X = np.random.default_rng(5).standard_normal((6, 2))
    out = schedule_verdict(X, None, np.ones(7), [1e-17, 0.05], attention="causal")
    assert out["stable"] is True and out["rate"] <= 1.0 and 0 < out["rate_gap"] < 1e-15
    X = np.array([[1.0], [2.0], [3.0], [1.0], [1.0]])
    mask = np.zeros((6, 6), dtype=bool)
    for j in range(6):
        for i in range(5):
            mask[i, j] = j >= 5 or i // 4 == j // 4 or (i // 4 < j // 4 and i % 4 == 0)
    out = schedule_verdict(X, mask, np.ones(6), [0.01])
    assert out["stable"] is False and out["rate"] >= 1 and "null vector" in out["unstable_because"]


def test_transient_work_follows_the_method(monkeypatch):
    """The up-front estimate names the method that will run: dense powers, the structured operator, or a refusal."""
    from verify import rates
    from verify.errors import PromptError

    assert rates.transient_method(100, 20, 100, named=False)[0] == "dense"
    assert rates.transient_method(10_000, 20, 9, named=True)[0] == "krylov"  # issue 24: not 3e12 of dense work
    for n, layers, named in ((10_000, 9, False), (100_000, 100, True), (10**6, 10, True)):
        with pytest.raises(PromptError, match="layers"):
            rates.transient_method(n, 20, layers, named)
    # the structured path's keys say what they are, and its lower bound never exceeds the exact peak
    X = np.random.default_rng(2).uniform(-1, 1, (60, 3)) + 1
    c = np.ones(61)
    exact = analyse(X, None, c, 0.05, layers=15, attention="causal")
    monkeypatch.setattr(rates, "MAX_DENSE_WORK", 0.0)
    lower = analyse(X, None, c, 0.05, layers=15, attention="causal")
    assert exact["transient_peak_kind"] == "exact" and lower["transient_peak_kind"] == "lower_bound"
    assert lower["depth_safe_eta_kind"] == "estimate" and exact["depth_safe_eta_kind"] == "certified"
    assert 1 <= lower["transient_peak"] <= exact["transient_peak"] * (1 + 1e-9)
    assert lower["depth_safe_eta"] >= exact["depth_safe_eta"] * (1 - 2e-2)  # an estimate from above


def test_example_weights_that_drift_are_omitted_while_queries_converge(capsys, tmp_path):
    """A later example reads part of a singular block (only its first member, orthogonal to itself): its
    weight drifts along a null vector of N, the queries' do not, so stationary answers for the queries only,
    and that answer is where the literal stack (simulate) goes."""
    from helpers import run_json, save_prompt

    X = np.array([[1.0, 0], [0, 1], [1, 1], [1, -1], [0, 1]])
    path = save_prompt(tmp_path / "p.npz", X, [1.0, 2, 3, 4, 5], [[1.0, 2]])
    mask = np.zeros((6, 6), dtype=bool)
    for j in range(6):
        for i in range(5):
            mask[i, j] = j >= 5 or i // 4 == j // 4 or (i // 4 < j // 4 and i % 4 == 0)
    mask_path = tmp_path / "mask.npy"
    np.save(mask_path, mask)
    out = run_json(capsys, "stationary", path, "--attention-mask", mask_path)
    assert out["example_weights"] is None and "drifts" in out["note"]
    sim = run_json(capsys, "simulate", path, "--attention-mask", mask_path, "--eta", 0.1, "--layers", 400)
    assert sim["stable"] is True
    assert abs(sim["query_predictions"][-1][0] - out["query_predictions"][0]) <= 1e-9 * abs(out["query_predictions"][0])


def test_example_weights_left_out_on_long_prompts(capsys, tmp_path, monkeypatch):
    """Issue 21 item 6: n-length example weights only when asked for above the size limit."""
    from helpers import random_prompt, run_json, save_prompt

    from verify.commands import stationary

    monkeypatch.setattr(stationary, "EXAMPLE_WEIGHTS_MAX", 5)
    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(4), 8, 2))
    short = run_json(capsys, "stationary", path, "--attention", "causal")
    assert short["example_weights"] is None and "--example-weights" in short["note"]
    full = run_json(capsys, "stationary", path, "--attention", "causal", "--example-weights")
    assert np.asarray(full["example_weights"]).shape == (8, 2) and full["query_weight"] == short["query_weight"]
