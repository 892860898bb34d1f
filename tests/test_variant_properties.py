"""Variant properties of issue 7 (SPEC sections 5 and 6) on random instances.

Sliding, block, hybrid and random custom masks; both normalizers; a non-zero
``w0``; per-layer step sizes; a preconditioner ``Gamma``; multi-output labels.
The literal LSA stack must equal the weight-space dynamics, the general
lemma's stationary point must be a fixed point that a stable stack reaches,
and the rate of ``verify.rates`` must be the spectral radius of the iteration
the LSA layer actually applies.  Bodies are ``prop_*`` functions so that
``test_mutations.py`` can run them with wrong implementations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, reject
from hypothesis import strategies as st
from test_properties import CONVERGED, assert_close, growth, identity, layers_to_converge, run_stack, stack_tol

from verify.algorithms import gradient_descent, online_dynamics
from verify.construction import paper
from verify.errors import PromptError
from verify.lemma import is_symmetric_iteration, iteration_matrix, residual_operator, stationary_weights
from verify.lsa import lsa_layer
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.rates import analyse
from verify.strategies import (
    ALL_ATTENTIONS,
    attentions,
    custom_masks,
    initial_weights,
    normalizers,
    preconditioners,
    prompts,
    stable_eta_max,
)
from verify.tolerances import agreement_tol, rank_tol


@dataclass(frozen=True)
class Variant:
    """A prompt with one choice of every section-5 knob."""

    prompt: object
    attention: str
    normalizer: str
    scale: float
    mask: np.ndarray
    c: np.ndarray
    W0: np.ndarray | None
    gamma: np.ndarray | None
    etas: list


@st.composite
def variants(draw, mode="drawn", max_param=None, fractions=st.floats(0.05, 1.5), layers=st.integers(0, 4)):
    """Variants whose step sizes are ``fraction * min_j c_j / ||X||_2^2`` per layer (bounded growth)."""
    d, n, m = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(0, 2))
    prompt = draw(prompts(d=d, n=n, m=m, k=st.sampled_from([None, 1, 2]), noise=st.sampled_from([0.0, 0.5]),
                          mode=mode))
    if draw(st.booleans()):
        attention = draw(attentions(n=max_param or n, kinds=ALL_ATTENTIONS))
        mask = attention_mask(attention, n, m)
    else:
        attention, mask = "custom", draw(custom_masks(n, m))
    kind, scale = draw(normalizers()), draw(st.sampled_from([1.0, float(n)]))
    c = normalizer(kind, mask, scale)
    W0 = draw(st.one_of(st.none(), initial_weights(d, prompt.k)))
    gamma = draw(st.one_of(st.none(), preconditioners(d)))
    unit = float(c.min()) / float(np.linalg.norm(prompt.X, 2)) ** 2  # rows have norm >= min_norm > 0
    etas = [f * unit for f in draw(layers.flatmap(lambda L: st.lists(fractions, min_size=L, max_size=L)))]
    return Variant(prompt, attention, kind, scale, mask, c, W0, gamma, etas)


def token_weights(W, X, Xq, Y):
    """``(residuals y_i - W_i x_i, predictions W_q x_q)`` from per-token weights ``(n + m, k, d)``."""
    n = X.shape[0]
    return Y - np.einsum("nkd,nd->nk", W[:n], X), np.einsum("mkd,md->mk", W[n:], Xq)


# ---------------------------------------------------------------- the stack equals the weight-space dynamics


def prop_variant_forward(v: Variant, construct=paper, mutate_mask=identity, mutate_c=identity, w0_in_tokens=True):
    """Every layer, the LSA stack (tokens ``[x; y - w0 x]``, ``[x; -w0 x]``, layer ``l`` with
    ``eta_l`` and ``Gamma``) equals ``online_dynamics`` for any mask and normalizer, and
    ``gradient_descent`` when every token reads every example with one normalizer."""
    p = v.prompt
    X, Y, Xq, n = p.X, p.Y, p.Xq, p.n
    stack = run_stack(X, Y, Xq, mutate_mask(v.mask, n), mutate_c(v.c), v.etas, v.W0 if w0_in_tokens else None,
                      v.gamma, construct)
    Ws = online_dynamics(X, Y, v.mask, v.c, v.etas, v.W0, v.gamma)
    expected = [token_weights(W, X, Xq, Y) for W in Ws]
    if v.mask[:n].all() and np.all(v.c == v.c[0]):
        for W_tokens, W_gd in zip(Ws, gradient_descent(X, Y, v.etas, float(v.c[0]), v.W0, v.gamma)):
            assert_close(W_tokens, np.broadcast_to(W_gd, W_tokens.shape), stack_tol(X, v.mask, v.c, v.etas,
                                                                                     [W_gd], v.gamma), "GD")
    tol = stack_tol(X, v.mask, v.c, v.etas, [e for pair in expected for e in pair] + [v.W0 if v.W0 is not None
                                                                                     else 0.0], v.gamma)
    for l, ((r, q), (r_ref, q_ref)) in enumerate(zip(stack, expected)):
        assert_close(r, r_ref, tol, f"{v.attention}: example residuals at layer {l}")
        assert_close(q, q_ref, tol, f"{v.attention}: query predictions at layer {l}")


@given(variants())
def test_variant_stack_equals_weight_space_dynamics(v):
    prop_variant_forward(v)


# ---------------------------------------------------------------- the lemma's stationary point


def stationary_or_reject(v: Variant, stationary=stationary_weights):
    """The lemma's stationary weights; a PromptError is only allowed for a singular iteration."""
    p = v.prompt
    try:
        return stationary(p.X, p.Y, v.mask, v.c, v.W0, v.gamma)
    except PromptError:
        N = residual_operator(p.X, v.mask, v.c, v.gamma)
        assert np.linalg.matrix_rank(N, tol=rank_tol(N)) < p.n, "no stationary point claimed for a regular N"
        reject()


def prop_stationary_is_fixed_point(v: Variant, stationary=stationary_weights):
    """``W* = stationary_weights(...)`` is a fixed point of the per-token dynamics,
    ``(1/c_j) sum_{i in A(j)} (y_i - W*_i x_i) x_i^T Gamma = 0`` for every token, and the LSA
    layer leaves the tokens ``[x_j; y_j - W*_j x_j]``, ``[x_q; -W*_q x_q]`` unchanged."""
    p = v.prompt
    X, Y, Xq, n, d = p.X, p.Y, p.Xq, p.n, p.d
    W = stationary_or_reject(v, stationary)
    R, P = token_weights(W, X, Xq, Y)
    XG = X if v.gamma is None else X @ v.gamma
    increment = np.einsum("ij,ik,id->jkd", v.mask[:n].astype(float), R, XG) / v.c[:, None, None]
    scale = (float(np.abs(W).max()) * float(np.abs(X).max()) * d + float(np.abs(Y).max()) + 1) * float(np.abs(XG).max())
    # a backward-stable solve leaves a residual of order eps * ||N|| * ||s||, whatever cond(N)
    tol = agreement_tol(scale * n, float(n), n)
    assert_close(increment, 0 * increment, tol, f"{v.attention}: fixed-point equation")
    # the fixed-point equation leaves W free off the examples' residuals; the dynamics only reach
    # W_j = W0 + (1/c_j) sum_{i in A(j)} s_i x_i^T Gamma for one accumulated residual s shared by all tokens
    readout = np.einsum("ij,id->jdi", v.mask[:n].astype(float), XG) / v.c[:, None, None]  # (tokens, d, n)
    start = 0.0 if v.W0 is None else v.W0
    target = np.transpose(W - start, (0, 2, 1))  # (tokens, d, k)
    A = readout.reshape(-1, n)
    s, *_ = np.linalg.lstsq(A, target.reshape(-1, p.k), rcond=None)
    assert_close(A @ s, target.reshape(-1, p.k), tol * max(1.0, float(np.abs(s).max(initial=0))),
                 f"{v.attention}: stationary weights outside the reachable set")
    Z = np.vstack([np.hstack([X.T, Xq.T]), np.hstack([R.T, -P.T])])
    eta = float(v.c.min()) / float(np.linalg.norm(X, 2)) ** 2
    assert_close(lsa_layer(Z, paper(eta, d, p.k, v.gamma), v.mask, v.c), Z, tol, f"{v.attention}: LSA fixed point")


@given(variants(mode="generic"))
def test_stationary_weights_are_a_fixed_point(v):
    prop_stationary_is_fixed_point(v)


@st.composite
def stable_variants(draw):
    """Generic variants with one stable step size (block and hybrid parameters at most 2,
    so their full-attention blocks are rarely singular)."""
    v = draw(variants(mode="generic", max_param=2))
    p = v.prompt
    top = stable_eta_max(p, v.mask, v.normalizer, v.scale, v.gamma)
    if not 0 < top < np.inf:
        reject()  # e.g. a custom mask in which an example reads nothing: no stable step size exists
    eta = draw(st.floats(0.2, 0.8)) * top
    return Variant(p, v.attention, v.normalizer, v.scale, v.mask, v.c, v.W0, v.gamma, [eta])


def prop_variant_reaches_stationary(v: Variant, stationary=stationary_weights, construct=paper):
    """With a stable eta the LSA stack reaches the lemma's stationary point (predictions and
    example residuals), for every mask, normalizer, ``w0``, ``Gamma`` and number of outputs."""
    p = v.prompt
    X, Y, Xq, n = p.X, p.Y, p.Xq, p.n
    eta = v.etas[0]
    W = stationary_or_reject(v, stationary)
    N = residual_operator(X, v.mask, v.c, v.gamma)
    symmetric = is_symmetric_iteration(v.mask, v.c, n, v.gamma)
    L = layers_to_converge(iteration_matrix(X, v.mask, v.c, eta, v.gamma), N if symmetric else None)
    if L is None:
        reject()  # a rate so close to 1 that the run would be too long for a unit test
    stack = run_stack(X, Y, Xq, v.mask, v.c, [eta] * L, v.W0, v.gamma, construct)
    r, q = stack[-1]
    r_star, q_star = token_weights(W, X, Xq, Y)
    peak, _ = growth(X, v.mask, v.c, [eta] * L, v.gamma)
    g = 1.0 if v.gamma is None else float(np.linalg.norm(v.gamma, 2))
    size = float(np.abs(Y).max()) + float(np.abs(W).max()) * float(np.abs(X).max()) * p.d
    # what is left after L layers, CONVERGED * ||r^(0)|| read out through N^+ (c_j >= 1)
    r0 = Y if v.W0 is None else Y - X @ v.W0.T
    xq = float(np.linalg.norm(Xq, axis=1).max(initial=0.0))
    left = CONVERGED * float(np.linalg.norm(r0)) * (1 + np.linalg.norm(np.linalg.pinv(N), 2) * g
                                                   * np.linalg.norm(X, 2) * xq)
    tol = left + agreement_tol(size, peak * np.linalg.norm(N, 2) * np.linalg.norm(np.linalg.pinv(N), 2), L)
    assert_close(r, r_star, tol, f"{v.attention}: example residuals at convergence")
    assert_close(q, q_star, tol, f"{v.attention}: predictions at convergence")


@given(stable_variants())
def test_stable_variant_reaches_the_stationary_point(v):
    prop_variant_reaches_stationary(v)


# ---------------------------------------------------------------- rate = spectral radius of the LSA iteration


def lsa_iteration_matrix(v: Variant, eta, construct=paper, mutate_mask=identity, mutate_c=identity):
    """``B`` as the LSA layer applies it: residuals after one layer with probe labels ``Y = I_n``."""
    X, n = v.prompt.X, v.prompt.n
    mask = mutate_mask(v.mask[:n, :n], n)
    return run_stack(X, np.eye(n), np.zeros((0, X.shape[1])), mask, mutate_c(v.c[:n]), [eta], None, v.gamma,
                     construct)[1][0]


def prop_rate_is_spectral_radius(v: Variant, rate=None, **mutations):
    """The layer's residual map equals the lemma's ``I - eta D^{-1} M`` and ``verify.rates``'
    rate is its spectral radius (for a symmetric iteration: over the eigenvalues that move
    the weights, i.e. those other than 1)."""
    X, n = v.prompt.X, v.prompt.n
    eta = v.etas[0]
    B = lsa_iteration_matrix(v, eta, **mutations)
    B_lemma = iteration_matrix(X, v.mask, v.c, eta, v.gamma)
    assert_close(B, B_lemma, agreement_tol(float(np.abs(B_lemma).max()) + 1), "LSA iteration vs the lemma's")
    reported = analyse(X, v.mask, v.c, eta, v.gamma, layers=0)["rate"] if rate is None else rate(v, eta)
    mu, V = np.linalg.eig(B)
    # Bauer-Fike: eigenvalues of a perturbed B move by at most cond(V) * ||perturbation||
    tol = agreement_tol(1 + float(np.abs(mu).max()), float(np.linalg.cond(V)))
    # as verify.rates: drop lambda = (1 - mu) / eta = 0 when its eigenvectors move no token's weight
    # sum_{i in A(j)} v_i x_i (Gamma) -- the Gram null space of prefix, or of a full block larger than d
    at_one = np.abs(1 - mu) <= eta * rank_tol(residual_operator(X, v.mask, v.c, v.gamma)) + tol
    if at_one.any():
        A = B - np.eye(n)  # a Jordan block at mu = 1 makes the accumulated residual grow: keep it
        tol_a = rank_tol(B)  # B - I carries B's rounding, eps ||B||, however small A is
        tol_a2 = tol_a * max(float(np.linalg.norm(A, 2)), tol_a)
        semisimple = np.linalg.matrix_rank(A, tol=tol_a) == np.linalg.matrix_rank(A @ A, tol=tol_a2)
        # an orthonormal basis of the numerical null space (eigenvectors of a multiple eigenvalue of a
        # non-normal B are ill-determined; singular vectors are not)
        _, S, Vt = np.linalg.svd(A)
        null = Vt[S <= tol_a].T
        moved = np.einsum("ij,ik,id->jkd", v.mask[:n, :].astype(float), null, X)
        # a numerically null unit vector (v^T N v <= tau) shows in sum_i v_i x_i by at most ~sqrt(c tau)
        g = 1.0 if v.gamma is None else float(np.linalg.norm(v.gamma, 2) + 1 / np.linalg.norm(v.gamma, 2))
        unseen = 100 * np.sqrt(float(np.max(v.c)) * tol_a / eta) * max(g, 1.0)
        if semisimple and np.abs(moved).max(initial=0.0) <= unseen + agreement_tol(float(np.abs(X).max()), 1.0, n):
            mu = mu[~at_one]
    radius = float(np.abs(mu).max(initial=0.0))
    assert abs(reported - radius) <= tol, f"{v.attention}: rate {reported:.9g} vs spectral radius {radius:.9g}"


@given(variants(mode="generic", layers=st.just(1)))
def test_rate_is_the_spectral_radius_of_the_lsa_iteration(v):
    prop_rate_is_spectral_radius(v)
