"""Property tests of finite-depth transient growth (SPEC P11, issue 8).

Every property is written as a small predicate and run twice: on the real
implementation (Hypothesis, must hold) and on a deliberately wrong one (a fixed
example, must be caught), so no property here can pass vacuously.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import run_json, save_prompt
from hypothesis import given
from hypothesis import strategies as st

import verify.profiles  # noqa: F401  (loads the profile named by HYPOTHESIS_PROFILE)
from verify.lemma import iteration_matrix, residual_operator
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.rates import analyse, transient
from verify.strategies import ALL_ATTENTIONS, attentions, cases, prompts
from verify.tolerances import EPS, FACTOR, agreement_tol, power_norm_rtol
from verify.transient import (
    causal_parts,
    causal_peak_bound,
    causal_peak_lower_bound,
    expansion_bound,
    geometric_sum,
    majorant_peak_bound,
    n2_entries,
    n2_norm,
    n2_offdiag,
    n2_offdiag_argmax,
    n2_offdiag_peak,
    n2_peak,
    prefix_norms,
)

LAYERS = 30
SHIFTED = st.sampled_from([0.0, 1.0, 2.0])


def shifted_example(n=40, d=16, mu_x=2.0, seed=1):
    """The issue's setting: ``x ~ U(-1, 1)^d + mu_x``."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, d)) + mu_x


def causal_iteration(X, eta, kind="constant"):
    mask = attention_mask("causal", X.shape[0], 0)
    c = normalizer(kind, mask, 1.0)
    return iteration_matrix(X, mask, c, eta), c[: X.shape[0]]


def causal_top(X, c):
    """``2 c_j / ||x_j||^2`` minimized: the causal stable bound (SPEC P5)."""
    return float(np.min(2 * c / np.einsum("nd,nd->n", X, X)))


def powers(B, layers):
    """``[B^0, ..., B^L]`` by ``numpy.linalg.matrix_power`` (repeated squaring: a
    different rounding path from ``verify.rates.transient``'s running product)."""
    return [np.linalg.matrix_power(B, l) for l in range(layers + 1)]


# ----------------------------------------------------------------------------- predicates


def prefix_peak_is_one(peak, B, layers) -> bool:
    """The prefix transient peak is 1 (the l = 0 term) up to rounding of the powers."""
    return 1.0 <= peak <= 1.0 + max(power_norm_rtol(B, l, 1.0) for l in range(layers + 1))


def closed_form_matches(B, l, offdiag, norm, pair) -> bool:
    """``n2_offdiag`` and ``n2_norm`` agree with the ``(j, j+1)`` block of ``B^l`` (numpy)."""
    j = pair
    block = np.linalg.matrix_power(B, l)[j:j + 2, j:j + 2]
    true_norm = float(np.linalg.norm(block, 2))
    tol = power_norm_rtol(B, l, max(true_norm, 1e-300)) * max(true_norm, 1e-300)
    return abs(float(offdiag) - block[1, 0]) <= tol and abs(float(norm) - true_norm) <= tol


def lower_bound_holds(peak, lower, B, layer) -> bool:
    return peak >= lower * (1 - power_norm_rtol(B, layer, lower))


def upper_bound_holds(B, layers, bound_of_layer) -> bool:
    """``||B^l||_2 <= b_l`` for every ``l <= L`` (the powers computed independently)."""
    for l, P in enumerate(powers(B, layers)):
        norm = float(np.linalg.norm(P, 2))
        if not norm <= bound_of_layer(l) * (1 + power_norm_rtol(B, l, max(norm, 1e-300))):
            return False
    return True


# ----------------------------------------------------------------------------- (a) prefix


@given(prompts(d=st.integers(1, 4), n=st.integers(1, 8), mu_x=SHIFTED),
       st.sampled_from(["constant", "count"]), st.floats(0.05, 1.0))
def test_prefix_peak_is_one(prompt, kind, fraction):
    mask = attention_mask("prefix", prompt.n, prompt.m)
    c = normalizer(kind, mask, 1.0)
    lam_max = float(np.linalg.eigvalsh(residual_operator(prompt.X, mask, c)).max())
    eta = fraction * 2 / lam_max  # fraction 1.0: the edge of the stable range is still no growth
    result = analyse(prompt.X, mask, c, eta, layers=LAYERS)
    B = iteration_matrix(prompt.X, mask, c, eta)
    assert prefix_peak_is_one(result["transient_peak"], B, LAYERS)
    assert result["peak_layer"] == 0 or abs(result["transient_peak"] - 1) <= power_norm_rtol(B, LAYERS, 1.0)
    # the closed form of the symmetric iteration: max_i |1 - eta lambda_i / c|^l <= 1
    assert np.all(prefix_norms(prompt.X, eta, c[0], LAYERS) <= 1 + agreement_tol(1.0, prompt.n))


def test_prefix_peak_catches_a_growing_iteration():
    X = shifted_example(12, 4)
    mask = attention_mask("prefix", 12, 0)
    c = normalizer("constant", mask, 1.0)
    eta = 1 / float(np.linalg.eigvalsh(X @ X.T).max())
    wrong = np.eye(12) + eta * residual_operator(X, mask, c)  # V with the wrong sign
    assert not prefix_peak_is_one(transient(wrong, LAYERS)[0], wrong, LAYERS)
    # and a causal iteration at a stable eta is not caught by "prefix" reasoning: it grows
    B, c = causal_iteration(X, 0.5 * causal_top(X, c[:12]))
    assert not prefix_peak_is_one(transient(B, LAYERS)[0], B, LAYERS)


# ----------------------------------------------------------------------------- (b) n = 2


@given(prompts(d=st.integers(1, 4), n=st.integers(2, 8), mu_x=SHIFTED),
       st.sampled_from(["constant", "count"]), st.floats(0.05, 0.99), st.integers(0, LAYERS), st.data())
def test_n2_closed_form_is_every_consecutive_block(prompt, kind, fraction, l, data):
    X = prompt.X
    B, c = causal_iteration(X, 1.0, kind)
    eta = fraction * causal_top(X, c)
    B, c = causal_iteration(X, eta, kind)
    j = data.draw(st.integers(0, prompt.n - 2), label="pair")
    p, q, s = n2_entries(X[j], X[j + 1], eta, c[j], c[j + 1])
    assert closed_form_matches(B, l, n2_offdiag(l, p, q, s), n2_norm(l, p, q, s), j)


def test_n2_closed_form_catches_wrong_formulas():
    X = shifted_example(6, 3, mu_x=1.0, seed=4)
    eta = 0.6 * causal_top(X, np.ones(6))
    B, _ = causal_iteration(X, eta)
    p, q, s = n2_entries(X[2], X[3], eta)
    l = 7
    good = (n2_offdiag(l, p, q, s), n2_norm(l, p, q, s))
    assert closed_form_matches(B, l, *good, 2)
    wrong_sum = s * (p ** l - q ** l) / (p + q)  # a sign slip in the geometric sum
    assert not closed_form_matches(B, l, wrong_sum, good[1], 2)
    assert not closed_form_matches(B, l, -good[0], good[1], 2)  # coupling with the wrong sign
    frobenius = math.sqrt(p ** (2 * l) + q ** (2 * l) + good[0] ** 2)  # not the 2-norm
    assert not closed_form_matches(B, l, good[0], frobenius, 2)
    assert not closed_form_matches(B, l, *good, 1)  # the closed form of another pair


@given(prompts(d=st.integers(1, 4), n=st.integers(2, 8), mu_x=SHIFTED),
       st.sampled_from(["constant", "count"]), st.floats(0.05, 0.99))
def test_causal_peak_is_at_least_every_consecutive_n2_peak(prompt, kind, fraction):
    X = prompt.X
    _, c = causal_iteration(X, 1.0, kind)
    eta = fraction * causal_top(X, c)
    B, c = causal_iteration(X, eta, kind)
    peak, _, _ = transient(B, LAYERS)
    lower, j = causal_peak_lower_bound(X, eta, c, LAYERS)
    p, q, s = n2_entries(X[j], X[j + 1], eta, c[j], c[j + 1])
    _, layer = n2_peak(p, q, s, LAYERS)
    assert lower_bound_holds(peak, lower, B, layer)


def test_lower_bound_catches_an_overestimate():
    X = shifted_example(10, 2, mu_x=2.0, seed=3)
    eta = 0.9 * causal_top(X, np.ones(10))
    B, _ = causal_iteration(X, eta)
    peak, layer, _ = transient(B, LAYERS)
    assert lower_bound_holds(peak, causal_peak_lower_bound(X, eta, 1.0, LAYERS)[0], B, layer)
    assert not lower_bound_holds(peak, peak * 1.01, B, layer)


@given(st.floats(-0.999, 0.999), st.floats(-0.999, 0.999), st.floats(-2, 2), st.integers(0, 200))
def test_offdiag_peak_matches_a_scan(p, q, s, layers):
    """``n2_offdiag_peak`` (floor/ceil of l*) equals the maximum over every layer."""
    value, layer = n2_offdiag_peak(p, q, s, layers)
    scan = np.abs([s * math.fsum(p ** k * q ** (l - 1 - k) for k in range(l)) for l in range(layers + 1)])
    assert abs(value - scan.max()) <= FACTOR * EPS * (layers + 1) * max(scan.max(), 1e-300)
    assert abs(scan[layer] - scan.max()) <= FACTOR * EPS * (layers + 1) * max(scan.max(), 1e-300)


def test_argmax_catches_a_wrong_formula():
    p, q = 0.97, 0.9
    u, v = math.log(p), math.log(q)
    scan = [(p ** l - q ** l) / (p - q) for l in range(400)]
    best = int(np.argmax(scan))
    star = n2_offdiag_argmax(p, q)
    assert best in (math.floor(star), math.ceil(star))
    wrong = math.log(u / v) / (u - v)  # the ratio inverted
    assert best not in (math.floor(wrong), math.ceil(wrong))


def test_geometric_sum_near_equal_is_continuous():
    """Both branches of ``geometric_sum`` (closed form, direct sum) and ``l p^(l-1)`` agree."""
    p = 0.8
    for gap in (0.0, 1e-12, 1e-5, 0.009, 0.011):
        exact = math.fsum(p ** k * (p - gap) ** (40 - 1 - k) for k in range(40))
        assert abs(float(geometric_sum(40, p, p - gap)) - exact) <= FACTOR * EPS * 40 * exact


# ----------------------------------------------------------------------------- (c) bound


@given(prompts(d=st.integers(1, 4), n=st.integers(1, 8), mu_x=SHIFTED),
       st.sampled_from(["constant", "count"]), st.floats(0.05, 1.0))
def test_causal_peak_bound_holds(prompt, kind, fraction):
    X = prompt.X
    _, c = causal_iteration(X, 1.0, kind)
    eta = fraction * causal_top(X, c)
    B, c = causal_iteration(X, eta, kind)
    rho, eps = causal_parts(X, eta, c)
    terms = expansion_bound(LAYERS, prompt.n, rho, eps)
    assert upper_bound_holds(B, LAYERS, lambda l: terms[l])
    peak, layer, _ = transient(B, LAYERS)
    majorant = majorant_peak_bound(B, LAYERS)
    assert peak <= majorant * (1 + power_norm_rtol(B, layer, peak))
    assert majorant <= causal_peak_bound(X, eta, c, LAYERS) * (1 + power_norm_rtol(np.abs(B), LAYERS, majorant))


def test_bound_catches_wrong_bounds():
    X = shifted_example(12, 4, mu_x=2.0, seed=5)
    eta = 0.5 * causal_top(X, np.ones(12))
    B, _ = causal_iteration(X, eta)
    rho, eps = causal_parts(X, eta, 1.0)
    assert upper_bound_holds(B, LAYERS, lambda l: expansion_bound(LAYERS, 12, rho, eps)[l])
    assert not upper_bound_holds(B, LAYERS, lambda l: rho ** l)  # the asymptotic rate alone (SPEC P5)
    assert not upper_bound_holds(B, LAYERS, lambda l: expansion_bound(LAYERS, 2, rho, eps)[l])  # truncated at k <= 1
    signed = float(np.linalg.norm(np.tril(X @ X.T, -1) * eta, 2))  # ||E|| instead of || |E| ||: still valid
    assert upper_bound_holds(B, LAYERS, lambda l: expansion_bound(LAYERS, 12, rho, max(signed, eps))[l])
    assert not upper_bound_holds(B, LAYERS, lambda l: expansion_bound(LAYERS, 12, rho, eps / 4)[l])
    A = np.abs(B)
    assert upper_bound_holds(B, LAYERS, lambda l: np.linalg.norm(np.linalg.matrix_power(A, l), 2))
    assert not upper_bound_holds(B, LAYERS, lambda l: np.linalg.norm(np.linalg.matrix_power(np.diag(np.diag(A)), l), 2))


def test_expansion_bound_is_the_binomial_sum():
    """Independent of the log-space evaluation: exact integers via ``math.comb``."""
    for n, rho, eps, layers in ((3, 0.5, 2.0, 9), (1, 0.9, 0.0, 5), (5, 0.0, 1.5, 7), (40, 0.45, 17.0, 60)):
        got = expansion_bound(layers, n, rho, eps)
        for l in range(layers + 1):
            want = math.fsum(math.comb(l, k) * rho ** (l - k) * eps ** k for k in range(min(l, n - 1) + 1))
            assert abs(got[l] - want) <= FACTOR * EPS * (l + 1) * max(want, 1.0)


# ----------------------------------------------------------------------------- depth_safe_eta


@given(cases(prompt=prompts(d=st.integers(1, 4), n=st.integers(1, 7), mu_x=SHIFTED),
             attention=attentions(n=7, kinds=ALL_ATTENTIONS), eta="stable"),
       st.floats(1.5, 100.0))
def test_depth_safe_eta_is_stable_and_within_the_growth_limit(case, max_growth):
    X = case.prompt.X
    result = analyse(X, case.mask, case.c, case.eta, layers=LAYERS, max_growth=max_growth)
    safe = result["depth_safe_eta"]
    assert 0 <= safe <= result["stable_eta_max"]
    if 0 < safe < math.inf:
        B = iteration_matrix(X, case.mask, case.c, safe)
        norms = [float(np.linalg.norm(P, 2)) for P in powers(B, LAYERS)]
        layer = int(np.argmax(norms))
        assert norms[layer] <= max_growth * (1 + power_norm_rtol(B, layer, norms[layer]))


def test_depth_safe_eta_catches_the_stable_bound():
    """Reporting ``stable_eta_max`` as depth-safe breaks the growth limit on shifted inputs."""
    X = shifted_example(40, 16)
    mask = attention_mask("causal", 40, 0)
    c = normalizer("constant", mask, 1.0)
    result = analyse(X, mask, c, 0.01, layers=50, max_growth=10.0)
    def peak_at(eta):
        return transient(iteration_matrix(X, mask, c, eta), 50)[0]

    assert peak_at(result["depth_safe_eta"]) <= 10.0
    assert peak_at(result["stable_eta_max"]) > 10.0
    assert peak_at(0.5 * result["stable_eta_max"]) > 10.0


# ----------------------------------------------------------------------------- independent implementation


def reads(spec: str, n: int) -> np.ndarray:
    """``R[j, i]``: example ``j`` reads example ``i`` -- from SPEC sections 2 and 5, not verify.masks."""
    name, _, param = spec.partition(":")
    size = int(param) if param else 0
    R = np.zeros((n, n), dtype=bool)
    for j in range(n):
        if name == "prefix":
            R[j, :] = True
        elif name == "causal":
            R[j, : j + 1] = True
        elif name == "sliding":
            R[j, max(0, j - size + 1): j + 1] = True
        elif name == "block":
            R[j, : min(n, (j // size + 1) * size)] = True
        elif name == "hybrid":
            R[j, : max(j + 1, size)] = True
    return R


def reference(X, spec, kind, scale, eta, layers):
    """Plain-numpy ``stable_eta_max``, ``transient_peak``, ``peak_layer`` and the norms."""
    n = X.shape[0]
    R = reads(spec, n)
    c = R.sum(axis=1).astype(float) if kind == "count" else np.full(n, scale)
    N = R * (X @ X.T) / c[:, None]
    # every named mask is block lower triangular with symmetric diagonal blocks (the sets
    # of examples that read each other), so the eigenvalues are the blocks' eigenvalues
    lam, start = [], 0
    while start < n:
        stop = start + 1
        while stop < n and R[start, stop] and R[stop, start]:
            stop += 1
        lam.extend(np.linalg.eigvalsh(N[start:stop, start:stop]))
        start = stop
    lam = np.array(lam)
    if np.array_equal(R, R.T) and np.all(c == c[0]):  # symmetric: the Gram null space never moves the weights
        lam = lam[lam > n * EPS * 10 * lam.max()]
        top = 2 / lam.max()
    else:
        top = 0.0 if lam.min() <= n * EPS * 10 * lam.max() else 2 / lam.max()
    B = np.eye(n) - eta * N
    norms = np.array([math.sqrt(max(np.linalg.eigvalsh(P.T @ P).max(), 0.0)) for P in powers(B, layers)])
    return top, norms, B


def compare_with_cli(capsys, tmp_path, X, spec, kind, fraction, layers, scale=1.0):
    rng = np.random.default_rng(0)
    name = f"{spec.replace(':', '_')}_{kind}_{fraction}.npz"
    path = save_prompt(tmp_path / name, X, X @ rng.standard_normal(X.shape[1]), X[:3] + 0.5)
    top, _, _ = reference(X, spec, kind, scale, 1.0, 0)
    eta = fraction * top
    scale_option = ["--scale", scale] if kind == "constant" else []  # the CLI refuses --scale with count
    out = run_json(capsys, "rate", path, "--attention", spec, "--normalization", kind, *scale_option,
                   "--eta", repr(float(eta)), "--layers", layers)
    _, norms, B = reference(X, spec, kind, scale, eta, layers)
    peak, layer = float(norms.max()), int(np.argmax(norms))
    assert abs(out["stable_eta_max"] - top) <= agreement_tol(top, X.shape[0])
    rtol = power_norm_rtol(B, layer, peak) + 10 * X.shape[0] * EPS  # + the eigvalsh route to the norm
    assert abs(out["transient_peak"] - peak) <= rtol * peak
    # a different layer is only acceptable as a tie within rounding
    assert out["peak_layer"] == layer or norms[out["peak_layer"]] >= peak * (1 - rtol)
    return out


@pytest.mark.parametrize("spec", ["prefix", "causal", "sliding:3", "block:2", "hybrid:3"])
@pytest.mark.parametrize("kind", ["constant", "count"])
@pytest.mark.parametrize("mu_x", [0.0, 2.0])
def test_rate_agrees_with_an_independent_implementation(capsys, tmp_path, spec, kind, mu_x):
    X = np.random.default_rng(100 + int(mu_x)).uniform(-1, 1, (10, 4)) + mu_x
    for fraction in (0.3, 0.7):
        compare_with_cli(capsys, tmp_path, X, spec, kind, fraction, 60)


@pytest.mark.parametrize("seed", [7, 8])
def test_issue_scenario_grows_a_million_fold(capsys, tmp_path, seed):
    """Issue 8: x ~ U(-1,1)^16 + 2, n = 40, eta at half the causal bound: ~10^6 around layer 12;
    prefix at half of its own bound never grows."""
    X = shifted_example(40, 16, 2.0, seed)
    causal = compare_with_cli(capsys, tmp_path, X, "causal", "constant", 0.5, 100)
    assert 1e5 < causal["transient_peak"] < 1e8 and 9 <= causal["peak_layer"] <= 15
    assert causal["stable"] and causal["rate"] < 0.5
    prefix = compare_with_cli(capsys, tmp_path, X, "prefix", "constant", 0.5, 100)
    assert prefix["peak_layer"] == 0 and prefix["transient_peak"] <= 1 + 1e-12


def test_independent_reference_catches_a_wrong_peak(capsys, tmp_path):
    """The comparison is tight enough to see a one-layer shift or a 1e-6 relative error."""
    X = shifted_example(12, 4, 2.0, 9)
    top, _, _ = reference(X, "causal", "constant", 1.0, 1.0, 0)
    _, norms, B = reference(X, "causal", "constant", 1.0, 0.5 * top, 40)
    layer = int(np.argmax(norms))
    rtol = power_norm_rtol(B, layer, norms[layer]) + 10 * 12 * EPS
    assert rtol < 1e-6
    assert norms[layer - 1] < norms[layer] * (1 - rtol) and norms[layer + 1] < norms[layer] * (1 - rtol)
    got = reference(X, "sliding:12", "constant", 1.0, 0.5 * top, 40)[1]  # sliding:n is causal
    assert np.allclose(got, norms, rtol=rtol)
    assert reference(X, "causal", "count", 1.0, 1.0, 0)[0] != top  # the normalizer matters


# ----------------------------------------------------------------------------- the batched scan (verify.peak)


def stack_of(kind: str, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` matrices of one kind: causal iterations (lower triangular, non-normal), dense random ones,
    symmetric ones, and orthogonal ones scaled near 1 (every singular value clustered: bounds cannot close)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        if kind == "causal":
            X = rng.uniform(-1, 1, (n, 3)) + rng.choice([0.0, 1.0, 2.0])
            N = np.tril(X @ X.T)
            out.append(np.eye(n) - rng.uniform(0.1, 1.2) * 2 / np.max(np.diag(N)) * N)
        elif kind == "dense":
            out.append(rng.standard_normal((n, n)) * rng.uniform(0.2, 0.6))
        elif kind == "symmetric":
            A = rng.standard_normal((n, n))
            out.append((A + A.T) * rng.uniform(0.1, 0.4))
        else:
            Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
            out.append(Q * (1 + rng.uniform(-1e-3, 1e-3, n))[None, :])
    return np.stack(out)


def brute_peaks(B, layers):
    """Peak and first layer attaining it from an SVD of every power (``numpy.linalg.matrix_power``), scanning to
    the first power of norm <= 1 as ``verify.rates.transient`` does (later powers are bounded by earlier ones)."""
    norms = [1.0]
    for l in range(1, layers + 1):
        norms.append(float(np.linalg.norm(np.linalg.matrix_power(B, l), 2)))
        if norms[-1] <= 1:
            break
    return norms


def stack_peaks_agree(stack, layers, stack_peaks) -> bool:
    peaks, first, _ = stack_peaks(stack, layers)
    for B, peak, layer in zip(stack, peaks, first):
        norms = brute_peaks(B, layers)
        top = max(norms)
        tol = max(power_norm_rtol(B, l, max(v, 1e-300)) for l, v in enumerate(norms))
        if not abs(peak - top) <= tol * top:
            return False
        if not (layer < len(norms) and norms[layer] >= top * (1 - tol)):
            return False
    return True


@given(st.sampled_from(["causal", "dense", "symmetric", "clustered"]), st.integers(1, 9), st.integers(1, 5),
       st.integers(1, 40), st.integers(0, 2**16))
def test_batched_scan_equals_an_svd_of_every_power(kind, n, count, layers, seed):
    """``verify.peak.stack_peaks`` (bounds from warm-started blocks, SVD only where they leave a layer
    undecided) gives the peak and its first layer of an SVD of every power, on stacks mixing kinds."""
    from verify.peak import stack_peaks

    stack = np.concatenate([stack_of(kind, n, count, seed), stack_of("causal", n, 1, seed + 1)])
    assert stack_peaks_agree(stack, layers, stack_peaks)


def test_batched_scan_check_catches_unsound_bounds(monkeypatch):
    """Mutation: bounds that call a layer decided when they have not closed (upper = lower after one
    power step) underestimate the peak of clustered or non-normal powers, and the check above fails."""
    import verify.peak as peak

    def unsound(P, v, fro2, cheap):
        lo, _, v = original(P, v, fro2, cheap)
        return lo, lo.copy(), v

    original = peak._vector_bounds
    stacks = [stack_of(kind, 8, 4, seed) for kind in ("causal", "clustered", "dense") for seed in range(3)]
    assert all(stack_peaks_agree(s, 30, peak.stack_peaks) for s in stacks)
    monkeypatch.setattr(peak, "_vector_bounds", unsound)
    assert not all(stack_peaks_agree(s, 30, peak.stack_peaks) for s in stacks)


def test_a_stack_larger_than_one_batch_is_scanned_in_chunks_with_the_same_answer(monkeypatch):
    """``verify.rates.transient`` splits a stack above ``STACK_FLOATS`` numbers into chunks: same peaks and layers
    as one batch (each matrix's scan is independent of the others in its batch)."""
    import verify.rates as rates_module

    stack = np.concatenate([stack_of(kind, 7, 3, 5) for kind in ("causal", "dense", "symmetric", "clustered")])
    whole = transient(stack, 25)
    monkeypatch.setattr(rates_module, "STACK_FLOATS", 2 * 49)  # two matrices a chunk
    chunked = transient(stack, 25)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])
    assert stack_peaks_agree(stack, 25, lambda s, layers: transient(s, layers))
