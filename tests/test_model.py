"""The one model (tokens, masks, normalizers, construction, layer) against the paper's algorithms."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from helpers import random_prompt

from verify.algorithms import (
    causal_stationary,
    count_causal_stationary,
    gradient_descent,
    least_squares,
    online_dynamics,
)
from verify.construction import paper
from verify.lemma import stationary_weights
from verify.lsa import lsa_forward
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.prompt import split_tokens, tokens
from verify.rates import analyse
from verify.tolerances import agreement_tol

SHAPES = [(1, 1), (3, 5), (5, 3), (12, 4), (2, 8), (30, 6)]


def _stack(X, y, Xq, attention, norm, eta, layers, scale=1.0, W0=None, gamma=None):
    Y = y.reshape(len(y), -1)
    mask = attention_mask(attention, len(X), len(Xq))
    c = normalizer(norm, mask, scale)
    Z = tokens(X, Y, Xq, W0)
    states = np.stack(lsa_forward(Z, [paper(eta, X.shape[1], Y.shape[1], gamma)] * layers, mask, c))
    residuals, predictions = split_tokens(states, len(X), X.shape[1])
    return mask, c, residuals, predictions


@pytest.mark.parametrize("n,d", SHAPES)
@pytest.mark.parametrize("norm", ["constant", "count"])
def test_prefix_stack_is_gradient_descent(n, d, norm):
    rng = np.random.default_rng(n * 31 + d)
    X, y, Xq, _ = random_prompt(rng, n, d, shift=0.5, noise=0.1, scales=np.linspace(0.5, 2, d))
    mask, c, res, pred = _stack(X, y, Xq, "prefix", norm, 0.05, 8, scale=2.0)
    W = gradient_descent(X, y[:, None], [0.05] * 8, c[0])
    for l, Wl in enumerate(W):
        tol = agreement_tol(np.abs(y).max(), layers=l)
        assert np.allclose(pred[l], Xq @ Wl.T, atol=tol, rtol=0)
        assert np.allclose(res[l], y[:, None] - X @ Wl.T, atol=tol, rtol=0)


@pytest.mark.parametrize("n,d", SHAPES)
@pytest.mark.parametrize("norm", ["constant", "count"])
@pytest.mark.parametrize("attention", ["causal", "sliding:2", "block:2", "hybrid:3", "prefix"])
def test_stack_is_per_position_dynamics(n, d, norm, attention):
    rng = np.random.default_rng(7 * n + d)
    X, y, Xq, _ = random_prompt(rng, n, d, noise=0.2)
    mask, c, res, pred = _stack(X, y, Xq, attention, norm, 0.1, 6)
    W = online_dynamics(X, y[:, None], mask, c, [0.1] * 6)
    for l in range(7):
        tol = agreement_tol(np.abs(y).max(), layers=l)
        assert np.allclose(pred[l, :, 0], np.einsum("md,md->m", Xq, W[l, n:, 0]), atol=tol, rtol=0)
        assert np.allclose(res[l, :, 0], y - np.einsum("nd,nd->n", X, W[l, :n, 0]), atol=tol, rtol=0)


def test_causal_query_weight_equals_last_position_when_normalizers_agree():
    rng = np.random.default_rng(3)
    X, y, Xq, _ = random_prompt(rng, 9, 3)
    for norm in ("constant", "count"):
        mask = attention_mask("causal", 9, 2)
        W = online_dynamics(X, y[:, None], mask, normalizer(norm, mask), [0.2] * 5)
        assert np.allclose(W[:, 9:], W[:, 8:9])


def test_variants_through_the_same_layer():
    """w0, per-layer eta, preconditioner and multi-output all go through tokens + lsa_forward."""
    rng = np.random.default_rng(11)
    n, d, k, m = 7, 3, 2, 4
    X, Y, Xq, _ = random_prompt(rng, n, d, m=m, k=k)
    W0 = rng.standard_normal((k, d))
    A = rng.standard_normal((d, d))
    gamma = A @ A.T / d + np.eye(d)
    etas = [0.05, 0.02, 0.08, 0.01]
    mask = attention_mask("causal", n, m)
    c = normalizer("count", mask)
    states = np.stack(lsa_forward(tokens(X, Y, Xq, W0), [paper(e, d, k, gamma) for e in etas], mask, c))
    _, pred = split_tokens(states, n, d)
    W = online_dynamics(X, Y, mask, c, etas, W0, gamma)
    assert np.allclose(pred, np.einsum("md,lmkd->lmk", Xq, W[:, n:]), atol=1e-12)


def test_symbolic_prompt_matches_algorithm_exactly():
    """The same layer on SymPy tokens equals the per-position dynamics with zero error."""
    n, d, L = 3, 2, 2
    X = sp.Matrix(n, d, sp.symbols(f"x0:{n * d}"))
    y = sp.Matrix(n, 1, sp.symbols(f"y0:{n}"))
    Xq = sp.Matrix(1, d, sp.symbols(f"q0:{d}"))
    eta, c = sp.symbols("eta c", positive=True)
    for attention in ("prefix", "causal"):
        mask = attention_mask(attention, n, 1)
        cs = normalizer("constant", mask, c)
        Z = lsa_forward(tokens(X, y, Xq), [paper(eta, d)] * L, mask, cs)[-1]
        # per-position weights by the recursion, in exact arithmetic
        W = [sp.zeros(1, d) for _ in range(n + 1)]
        for _ in range(L):
            r = [y[i] - (W[i] * X[i, :].T)[0] for i in range(n)]
            W = [W[j] + (eta / c) * sum((r[i] * X[i, :] for i in range(n) if mask[i, j]), sp.zeros(1, d))
                 for j in range(n + 1)]
        assert sp.expand(-Z[d, n] - (W[n] * Xq.T)[0]) == 0
        for j in range(n):
            assert sp.expand(Z[d, j] - (y[j] - (W[j] * X[j, :].T)[0])) == 0


def test_rational_prompt_exact():
    X = sp.Matrix([[1, 2], [sp.Rational(1, 3), -1], [2, sp.Rational(1, 2)]])
    y = sp.Matrix([1, 0, sp.Rational(-2, 5)])
    Xq = sp.Matrix([[1, 1]])
    mask = attention_mask("causal", 3, 1)
    Z = lsa_forward(tokens(X, y, Xq), [paper(sp.Rational(1, 10), 2)] * 3, mask, normalizer("count", mask))[-1]
    W = online_dynamics(np.array(X, dtype=float), np.array(y, dtype=float), mask, normalizer("count", mask), [0.1] * 3)
    assert abs(float(-Z[2, 3]) - float(W[-1, 3, 0] @ np.array([1.0, 1.0]))) < 1e-14
    assert all(isinstance(v, sp.Rational) for v in Z)  # exact arithmetic throughout


@pytest.mark.parametrize("n,d", [(3, 5), (12, 4), (30, 6), (4, 4)])
def test_stationary_points_match_closed_forms(n, d):
    rng = np.random.default_rng(n + 100 * d)
    X, y, Xq, _ = random_prompt(rng, n, d, shift=1.0, noise=0.3)
    Y = y[:, None]
    mask = attention_mask("prefix", n, 2)
    for norm in ("constant", "count"):
        W = stationary_weights(X, Y, mask, normalizer(norm, mask, 3.0))
        assert np.allclose(W, least_squares(X, Y)[None], atol=1e-8)
    mask = attention_mask("causal", n, 2)
    Wc = stationary_weights(X, Y, mask, normalizer("constant", mask, 3.0))
    assert np.allclose(Wc[:n], causal_stationary(X, Y), atol=1e-8)
    Wk = stationary_weights(X, Y, mask, normalizer("count", mask))
    assert np.allclose(Wk[:n], count_causal_stationary(X, Y), atol=1e-8)
    assert np.allclose(np.einsum("nd,nd->n", X, Wk[:n, 0]), y, atol=1e-8)  # w*_j x_j = y_j


def test_stationary_is_the_limit_of_the_stack():
    rng = np.random.default_rng(5)
    X, y, Xq, _ = random_prompt(rng, 6, 3)
    for attention in ("prefix", "causal", "block:2"):
        mask = attention_mask(attention, 6, 3)
        c = normalizer("constant", mask)
        eta = 0.5 * analyse(X, mask, c, 0.1, layers=1)["stable_eta_max"]
        W = online_dynamics(X, y[:, None], mask, c, [eta] * 3000)[-1]
        assert np.allclose(W, stationary_weights(X, y[:, None], mask, c), atol=1e-7)


@pytest.mark.parametrize("norm,scale", [("constant", 1.0), ("constant", 2.5), ("count", 1.0)])
def test_rates_match_spec_formulas(norm, scale):
    rng = np.random.default_rng(9)
    X, *_ = random_prompt(rng, 8, 3, shift=0.3)
    n = 8
    sq = np.einsum("nd,nd->n", X, X)
    lam = np.linalg.eigvalsh(X.T @ X)
    eta = 0.3
    c_prefix = scale if norm == "constant" else n
    c_causal = np.full(n, scale) if norm == "constant" else np.arange(1, n + 1)
    p = analyse(X, (m := attention_mask("prefix", n, 1)), normalizer(norm, m, scale), eta, layers=5)
    assert np.isclose(p["rate"], max(abs(1 - eta * lam.min() / c_prefix), abs(1 - eta * lam.max() / c_prefix)))
    assert np.isclose(p["stable_eta_max"], 2 * c_prefix / lam.max())
    q = analyse(X, (m := attention_mask("causal", n, 1)), normalizer(norm, m, scale), eta, layers=5)
    assert np.isclose(q["rate"], np.max(np.abs(1 - eta * sq / c_causal)))
    assert np.isclose(q["stable_eta_max"], np.min(2 * c_causal / sq))
    assert q["stable"] == (q["rate"] < 1)


def test_batched_layer_equals_unbatched():
    rng = np.random.default_rng(2)
    Zs = [tokens(*random_prompt(rng, 5, 3)[:1], rng.standard_normal((5, 1)), rng.standard_normal((2, 3)))
          for _ in range(3)]
    mask = attention_mask("causal", 5, 2)
    c = normalizer("count", mask)
    batched = lsa_forward(np.stack(Zs), [paper(0.1, 3)] * 2, mask, c)[-1]
    for Z, B in zip(Zs, batched):
        assert np.allclose(lsa_forward(Z, [paper(0.1, 3)] * 2, mask, c)[-1], B, atol=1e-14)


def test_masks_are_the_specified_attention_sets():
    n, m = 7, 2
    for spec, reads in {
        "prefix": lambda i, j: True,
        "causal": lambda i, j: i <= j,
        "sliding:3": lambda i, j: j - 3 < i <= j,
        "block:3": lambda i, j: i // 3 <= j // 3,
        "hybrid:4": lambda i, j: i <= max(j, 3),
    }.items():
        mask = attention_mask(spec, n, m)
        for i in range(n + m):
            for j in range(n + m):
                if i >= n:
                    want = False  # nobody reads a query
                elif j >= n:
                    want = (i >= n - 3) if spec == "sliding:3" else True
                else:
                    want = reads(i, j)
                assert mask[i, j] == want, (spec, i, j)


def test_invisible_null_space_does_not_stop_convergence():
    """block:B with B > d: each block's Gram matrix is singular, but its null space reaches no
    weight, so the rate ignores it and the stack converges to the lemma's stationary point."""
    X = np.array([[1.0], [0.5], [-1.0], [2.0]])
    y = np.array([[1.0], [2.0], [0.5], [1.0]])
    mask = attention_mask("block:2", 4, 1)
    c = normalizer("constant", mask)
    lam_blocks = np.concatenate([np.linalg.eigvalsh(X[:2] @ X[:2].T), np.linalg.eigvalsh(X[2:] @ X[2:].T)])
    visible = lam_blocks[lam_blocks > 1e-12]
    a = analyse(X, mask, c, 0.1, layers=5)
    assert np.isclose(a["rate"], np.max(np.abs(1 - 0.1 * visible)))
    assert np.isclose(a["stable_eta_max"], 2 / visible.max()) and a["stable"]
    W = online_dynamics(X, y, mask, c, [0.1] * 3000)[-1]
    assert np.allclose(W, stationary_weights(X, y, mask, c), atol=1e-9)


def test_visible_null_space_is_unstable():
    """A query that reads only part of a singular full block: its weight drifts, rate 1."""
    X = np.random.default_rng(1).standard_normal((5, 2))
    mask = attention_mask("prefix", 5, 1)
    mask[:3, 5] = False
    a = analyse(X, mask, normalizer("constant", mask), 0.05, layers=5)
    assert a["rate"] == pytest.approx(1.0) and not a["stable"]


def test_batched_transient_equals_one_matrix_at_a_time():
    from verify.rates import transient

    rng = np.random.default_rng(12)
    X = rng.uniform(-1, 1, (12, 3)) + 2
    mask = attention_mask("causal", 12, 0)
    c = normalizer("constant", mask)
    top = analyse(X, mask, c, 0.1, layers=1)["stable_eta_max"]
    stack = np.stack([np.eye(12) - f * top * (np.tril(X @ X.T)) for f in (0.1, 0.5, 0.9, 1.5)])
    peaks, layers, _ = transient(stack, 40)
    for B, peak, layer in zip(stack, peaks, layers):
        one = transient(B, 40)
        assert one[0] == pytest.approx(peak, rel=1e-12) and one[1] == layer
        norms = [np.linalg.norm(np.linalg.matrix_power(B, l), 2) for l in range(41)]  # no early stop
        assert peak == pytest.approx(max(norms), rel=1e-9) and layer == int(np.argmax(norms))


def test_numerically_rank_deficient_prefix_is_still_stable():
    """Regression (thorough profile): a Gram eigenvalue below the rank tolerance is a numerical
    null direction that never reaches the weights; it must not make every eta unstable."""
    X = np.array([[1.0, 1e-9], [0.5, 1e-9]])
    mask = attention_mask("prefix", 2, 0)
    a = analyse(X, mask, normalizer("constant", mask), 0.5, layers=3)
    assert a["stable"] and a["stable_eta_max"] == pytest.approx(2 / 1.25)
