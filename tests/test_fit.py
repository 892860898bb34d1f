"""``derive --fit``: the nearest preconditioned-GD member of learned layers (verify.fit, issue 15).

The projection is checked against an independent one computed here differently
(least squares over the member's coordinates, from basis matrices), and that
check is shown to catch projections onto the wrong subspace.  Exact members give
their Gamma exactly; members perturbed off the family by a relative ``eps`` give
distance ``eps / sqrt(1 + eps^2)`` exactly; constructions outside the family are far.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from hypothesis import given
from hypothesis import strategies as st

from verify.construction import paper
from verify.fit import Setting, fit_layer, fit_stack, load_weights, members, project, stack_gap
from verify.lsa import lsa_forward
from verify.masks import attention_mask
from verify.prompt import split_tokens, tokens
from verify.regression import TaskDistribution
from verify.tolerances import EPS, FACTOR

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 5)
scales = st.sampled_from([1e-3, 1.0, 1e3])


# ----------------------------------------------------------------------------- an independent projection

def member_basis(d: int, k: int, member: str):
    """Basis matrices of the member's coordinates: (list for K^T Q, list for P V), built from the block layout."""
    size = d + k

    def unit(i, j):
        e = np.zeros((size, size))
        e[i, j] = 1.0
        return e

    if member == "S1":
        kq = [unit(i, j) for i in range(d) for j in range(d)]
        pv = [unit(d, d)] if k == 1 else [np.pad(np.eye(k), ((d, 0), (d, 0)))]
    else:
        kq = [unit(d, j) for j in range(d)]
        pv = [unit(d, j) for j in range(d)]
    return kq, pv


def lstsq_projection(a: np.ndarray, basis: list):
    """Nearest point of span(basis) to ``a`` by least squares; returns (point, coefficients)."""
    B = np.stack([b.ravel() for b in basis], axis=1)
    coef = np.linalg.lstsq(B, a.ravel(), rcond=None)[0]
    return (B @ coef).reshape(a.shape), coef


def independent_fit(kq, pv, k: int = 1):
    """(member, distance, Gamma) from least-squares projections; Gamma from the coefficients."""
    d = kq.shape[0] - k
    best = None
    for member in members(k):
        bkq, bpv = member_basis(d, k, member)
        kq_star, a = lstsq_projection(kq, bkq)
        pv_star, b = lstsq_projection(pv, bpv)
        dist = max(np.linalg.norm(kq - kq_star) / np.linalg.norm(kq), np.linalg.norm(pv - pv_star) / np.linalg.norm(pv))
        # S1: a = vec(A) row-major, b = [sigma]; S4: a = c, b = h
        gamma = -b[0] * a.reshape(d, d) if member == "S1" else -np.outer(b, a)
        if best is None or dist < best[1]:
            best = (member, dist, gamma)
    return best


def agrees_with_lstsq(fit_fn, kq, pv, k=1, tol=1e-6) -> bool:
    """The property: ``fit_fn`` (a fit_layer) matches the independent projection in member, distance and Gamma."""
    got = fit_fn(kq, pv, k)
    member, dist, gamma = independent_fit(kq, pv, k)
    scale = max(np.linalg.norm(gamma), 1e-300)
    return (got.member == member and abs(got.relative_distance - dist) <= tol
            and np.linalg.norm(got.gamma - gamma) <= tol * scale)


def random_layer(seed, d, k=1, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((d + k, d + k)), rng.standard_normal((d + k, d + k)) / scale


def s1_member(rng, d, k=1, scale=1.0):
    kq, pv = np.zeros((d + k, d + k)), np.zeros((d + k, d + k))
    kq[:d, :d] = scale * rng.standard_normal((d, d))
    sigma = rng.standard_normal() / scale
    pv[d:, d:] = sigma * np.eye(k)
    return kq, pv, -sigma * kq[:d, :d]


def s4_member(rng, d, scale=1.0):
    kq, pv = np.zeros((d + 1, d + 1)), np.zeros((d + 1, d + 1))
    c, h = scale * rng.standard_normal(d), rng.standard_normal(d) / scale
    kq[d, :d], pv[d, :d] = c, h
    return kq, pv, -np.outer(h, c)


# ----------------------------------------------------------------------------- exact members

@given(seeds, dims, st.integers(1, 3), scales)
def test_s1_members_give_gamma_exactly(seed, d, k, scale):
    kq, pv, gamma = s1_member(np.random.default_rng(seed), d, k, scale)
    fit = fit_layer(kq, pv, k)
    assert fit.member == "S1" and fit.relative_distance == 0.0
    assert np.array_equal(fit.kq, kq) and np.array_equal(fit.pv, pv)
    # -sigma A: sigma = tr(sigma I_k) / k rounds at most once
    assert np.allclose(fit.gamma, gamma, rtol=FACTOR * EPS, atol=0)


def is_its_own_projection(fit_fn, kq, pv, k) -> bool:
    """An exact S1 member is its own nearest point: distance 0 and the same matrices."""
    fit = fit_fn(kq, pv, k)
    return (fit.member == "S1" and fit.relative_distance == 0.0
            and np.array_equal(fit.kq, kq) and np.array_equal(fit.pv, pv))


def _trace_over_k(kq, pv, k=1):
    """Mutant (the defect the thorough profile found): ``sigma = tr(s) / k``, which rounds for equal entries."""
    d = kq.shape[0] - k
    fit = fit_layer(kq, pv, k)
    pv_star = np.zeros_like(pv)
    pv_star[d:, d:] = np.trace(pv[d:, d:]) / k * np.eye(k)
    dist = float(np.linalg.norm(pv - pv_star) / np.linalg.norm(pv))
    return type(fit)("S1", max(fit.kq_distance, dist), fit.kq_distance, dist, fit.gamma, fit.kq, pv_star)


def _thorough_example():
    """``test_s1_members_give_gamma_exactly(seed=1, d=5, k=3, scale=1.0)``, found by the thorough profile."""
    return s1_member(np.random.default_rng(1), 5, 3, 1.0)[:2]


def _tenth():
    """``s = 0.1 I_3``: ``(0.1 + 0.1 + 0.1) / 3 != 0.1`` in floating point."""
    kq, pv = np.zeros((5, 5)), np.zeros((5, 5))
    kq[:2, :2] = np.eye(2)
    pv[2:, 2:] = 0.1 * np.eye(3)
    return kq, pv


@pytest.mark.parametrize("example", [_thorough_example, _tenth])
def test_multi_output_s1_member_is_its_own_projection(example):
    kq, pv = example()
    assert is_its_own_projection(fit_layer, kq, pv, 3)
    assert np.array_equal(fit_layer(kq, pv, 3).gamma, -pv[-1, -1] * kq[:-3, :-3])
    assert not is_its_own_projection(_trace_over_k, kq, pv, 3)  # mutation check


@given(seeds, dims, scales)
def test_s4_members_give_gamma_exactly(seed, d, scale):
    kq, pv, gamma = s4_member(np.random.default_rng(seed), d, scale)
    fit = fit_layer(kq, pv)
    assert fit.member == "S4" and fit.relative_distance == 0.0
    assert np.array_equal(fit.gamma, gamma)


def test_the_papers_construction_is_s1_with_gamma_eta_I():
    eta, d = 0.3, 3
    layer = paper(eta, d)
    fit = fit_layer(layer.kq, layer.pv)
    assert fit.member == "S1" and fit.relative_distance == 0.0
    assert np.array_equal(fit.gamma, eta * np.eye(d))


@given(seeds, dims, st.floats(0.1, 10.0))
def test_rescaling_kq_and_pv_changes_nothing(seed, d, alpha):
    """(alpha K^T Q, P V / alpha) is the same layer: same member, distance and Gamma."""
    kq, pv = random_layer(seed, d)
    a, b = fit_layer(kq, pv), fit_layer(alpha * kq, pv / alpha)
    assert a.member == b.member
    assert abs(a.relative_distance - b.relative_distance) <= FACTOR * EPS
    assert np.allclose(a.gamma, b.gamma, rtol=FACTOR * EPS, atol=FACTOR * EPS * np.abs(a.gamma).max())


# ----------------------------------------------------------------------------- perturbed members and non-members

@given(seeds, dims, st.sampled_from(["S1", "S4"]), st.sampled_from([1e-8, 1e-4, 1e-2, 0.1]))
def test_members_perturbed_off_the_family_by_eps(seed, d, member, eps):
    """Adding ``E`` outside the member's coordinates with ``||E||_F = eps ||KQ||_F`` gives distance
    ``||E|| / ||KQ + E|| = eps / sqrt(1 + eps^2)`` (Pythagoras), and the member's Gamma unchanged."""
    rng = np.random.default_rng(seed)
    kq, pv, gamma = s1_member(rng, d) if member == "S1" else s4_member(rng, d)
    outside = (project(np.ones_like(kq), np.ones_like(pv), d, member)[0] == 0)
    E = rng.standard_normal(kq.shape) * outside
    E *= eps * np.linalg.norm(kq) / np.linalg.norm(E)
    fit = fit_layer(kq + E, pv)
    assert fit.member == member
    assert abs(fit.relative_distance - eps / np.sqrt(1 + eps**2)) <= 1e3 * EPS
    assert np.allclose(fit.gamma, gamma, rtol=FACTOR * EPS, atol=0)


@given(seeds, dims)
def test_random_noise_of_size_eps_gives_distance_of_order_eps(seed, d):
    rng = np.random.default_rng(seed)
    kq, pv, _ = s1_member(rng, d)
    eps = 1e-3
    noisy_kq = kq + eps * np.linalg.norm(kq) * rng.standard_normal(kq.shape) / (d + 1)
    noisy_pv = pv + eps * np.linalg.norm(pv) * rng.standard_normal(pv.shape) / (d + 1)
    dist = fit_layer(noisy_kq, noisy_pv).relative_distance
    assert 1e-2 * eps < dist < 10 * eps


@pytest.mark.parametrize("d", [1, 2, 4])
def test_constructions_outside_the_family_are_far(d):
    """P V = eta I (the whole token moves, F = I) and K^T Q with a b block are not members."""
    eta = 0.5
    full = paper(eta, d)
    moves_x = fit_layer(full.kq, eta * np.eye(d + 1))  # V = I instead of [[0, 0], [0, -1]]
    assert moves_x.relative_distance >= np.sqrt(d / (d + 1)) - 1e-12
    assert not moves_x.as_dict(0.05)["implements_preconditioned_gd"]
    kq = full.kq.copy()
    kq[:d, d] = 3.0  # b != 0: the scores read the labels of the target
    assert fit_layer(kq, full.pv).relative_distance > 0.5
    dense = fit_layer(*random_layer(0, d))
    assert dense.relative_distance > 0.3


def test_identity_layer_is_the_trivial_member():
    kq = np.zeros((3, 3))
    fit = fit_layer(kq, np.ones((3, 3)))
    assert fit.relative_distance == 0.0 and not fit.gamma.any()


# ------------------------------------------------------------------ agreement with an independent projection

@given(seeds, dims, st.integers(1, 3), st.sampled_from(["dense", "S1 + noise", "S4 + noise"]), scales)
def test_fit_agrees_with_least_squares_projection(seed, d, k, kind, scale):
    rng = np.random.default_rng(seed)
    if kind == "dense":
        kq, pv = random_layer(seed, d, k, scale)
    else:
        kq, pv, _ = s1_member(rng, d, k, scale) if kind == "S1 + noise" or k > 1 else s4_member(rng, d, scale)
        kq = kq + 0.05 * scale * rng.standard_normal(kq.shape)
        pv = pv + 0.05 / scale * rng.standard_normal(pv.shape)
    assert agrees_with_lstsq(fit_layer, kq, pv, k, tol=1e-9)


def _wrong_corner(kq, pv, k=1):
    """Mutant: S1 keeps the top-left entry of P V instead of s."""
    fit = fit_layer(kq, pv, k)
    d = kq.shape[0] - k
    return type(fit)("S1", fit.relative_distance, 0, 0, -pv[0, 0] * kq[:d, :d], fit.kq, fit.pv)


def _off_by_one(kq, pv, k=1):
    """Mutant: A read one row too low (K^T Q[1:d+1, :d])."""
    d = kq.shape[0] - k
    kq_star = np.zeros_like(kq)
    kq_star[1:d + 1, :d] = kq[1:d + 1, :d]
    fit = fit_layer(kq, pv, k)
    dist = max(np.linalg.norm(kq - kq_star) / np.linalg.norm(kq), fit.pv_distance)
    return type(fit)("S1", dist, 0, 0, -pv[d, d] * kq[1:d + 1, :d], kq_star, fit.pv)


def _full_s_block(kq, pv, k=1):
    """Mutant (k > 1): S1 keeps the whole k x k block s rather than its multiple of I_k."""
    d = kq.shape[0] - k
    pv_star = np.zeros_like(pv)
    pv_star[d:, d:] = pv[d:, d:]
    kq_star = np.zeros_like(kq)
    kq_star[:d, :d] = kq[:d, :d]
    dist = max(np.linalg.norm(kq - kq_star) / np.linalg.norm(kq), np.linalg.norm(pv - pv_star) / np.linalg.norm(pv))
    return type(fit_layer(kq, pv, k))("S1", dist, 0, 0, -np.trace(pv[d:, d:]) / k * kq[:d, :d], kq_star, pv_star)


def _largest(kq, pv, k=1):
    """Mutant: picks the farther member."""
    d = kq.shape[0] - k
    fits = []
    for member in members(k):
        kq_star, pv_star = project(kq, pv, d, member)
        fits.append((max(np.linalg.norm(kq - kq_star) / np.linalg.norm(kq),
                         np.linalg.norm(pv - pv_star) / np.linalg.norm(pv)), member))
    dist, member = max(fits)
    got = fit_layer(kq, pv, k)
    return type(got)(member, dist, 0, 0, got.gamma, got.kq, got.pv)


@pytest.mark.parametrize("mutant, k", [(_wrong_corner, 1), (_off_by_one, 1), (_full_s_block, 2), (_largest, 1)])
def test_mutation_projection_onto_the_wrong_subspace_is_caught(mutant, k):
    caught = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        d = 3
        kq, pv = random_layer(seed, d, k)
        if seed % 2:  # near an S1 member too
            kq, pv, _ = s1_member(rng, d, k)
            kq, pv = kq + 0.1 * rng.standard_normal(kq.shape), pv + 0.1 * rng.standard_normal(pv.shape)
        assert agrees_with_lstsq(fit_layer, kq, pv, k)
        caught += not agrees_with_lstsq(mutant, kq, pv, k)
    assert caught >= 5


# ----------------------------------------------------------------------------- multi-output: why S1 needs s = sigma I

@pytest.mark.parametrize("scalar_s", [True, False])
def test_multi_output_s1_is_gd_exactly_when_s_is_a_multiple_of_identity(scalar_s):
    """One layer on a k = 2 prompt moves query predictions by (1/c) sum_i r_i x_i^T Gamma with
    Gamma = -sigma A when s = sigma I; a non-scalar s gives a different update (so it is not a member)."""
    rng = np.random.default_rng(7)
    d, k, n, m = 3, 2, 6, 4
    kq, pv, _ = s1_member(rng, d, k)
    if not scalar_s:
        pv[d:, d:] = np.array([[0.5, 0.2], [0.0, -1.0]])
    X, W, Xq = rng.standard_normal((n, d)), rng.standard_normal((d, k)), rng.standard_normal((m, d))
    Y = X @ W
    Z = tokens(X, Y, Xq)
    eye = np.eye(d + k)
    from verify.construction import Construction

    final = lsa_forward(Z, [Construction(eye, kq, pv, eye)], attention_mask("prefix", n, m), 1.0)[-1]
    predictions = split_tokens(final, n, d)[1]  # (m, k); w^(0) = 0, so r_i = y_i
    fit = fit_layer(kq, pv, k)
    gd = (Y.T @ X @ fit.gamma @ Xq.T).T  # W' x_q with W' = sum_i r_i x_i^T Gamma, W' (k, d)
    assert np.allclose(predictions, gd, atol=1e-12) == scalar_s
    assert (fit.relative_distance == 0) == scalar_s


def test_multi_output_s4_shapes_are_not_candidates():
    d, k = 2, 2
    kq, pv = np.zeros((d + k, d + k)), np.zeros((d + k, d + k))
    kq[d:, :d], pv[d:, :d] = 1.0, 1.0
    fit = fit_layer(kq, pv, k)
    assert fit.member == "S1" and fit.relative_distance == 1.0


# ----------------------------------------------------------------------------- stack gap

def test_stack_gap_is_zero_for_members_and_positive_off_the_family():
    rng = np.random.default_rng(3)
    d = 3
    layers = [s1_member(rng, d)[:2] for _ in range(2)]
    KQ, PV = np.stack([a for a, _ in layers]), 0.2 * np.stack([b for _, b in layers])
    setting = Setting(TaskDistribution(d=d, n=10, m=4), "causal")
    assert stack_gap(KQ, PV, fit_stack(KQ, PV), setting, prompts=8) == 0.0
    KQ2 = KQ + 0.05 * rng.standard_normal(KQ.shape)
    gap = stack_gap(KQ2, PV, fit_stack(KQ2, PV), setting, prompts=8)
    assert 0 < gap < 1


# ----------------------------------------------------------------------------- the CLI

def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_cli_fit_on_a_member_and_on_k_q_v_p(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = 3
    kq, pv, gamma = s1_member(rng, d)
    kq2, pv2, gamma2 = s4_member(rng, d)
    path = _save(tmp_path / "w.npz", KQ=np.stack([kq, kq2]), PV=np.stack([pv, pv2]))
    code, out, err = run_cli(capsys, "derive", "--fit", path, "--json", "-")
    assert code == 0, err
    result = json.loads(out)
    assert [layer["member"] for layer in result["layers"]] == ["S1", "S4"]
    assert all(layer["implements_preconditioned_gd"] and layer["relative_distance"] == 0 for layer in result["layers"])
    assert np.allclose(result["layers"][0]["preconditioner"], gamma, rtol=1e-15, atol=0)
    assert np.allclose(result["layers"][1]["preconditioner"], gamma2, rtol=1e-15, atol=0)
    assert result["stack_gap"] == 0.0 and result["d"] == d
    eta = 0.25
    c = paper(eta, d)
    path = _save(tmp_path / "kqvp.npz", K=c.K[None], Q=c.Q[None], V=c.V[None], P=c.P[None])
    result = json.loads(run_cli(capsys, "derive", "--fit", path, "--json", "-")[1])
    assert result["layers"][0]["member"] == "S1"
    assert np.array_equal(result["layers"][0]["preconditioner"], eta * np.eye(d))


def test_cli_fit_tolerance_and_summary(tmp_path, capsys):
    rng = np.random.default_rng(1)
    kq, pv, _ = s1_member(rng, 2)
    kq[2, 2] = 0.1 * np.linalg.norm(kq)  # e != 0: distance 0.1 / sqrt(1.01)
    path = _save(tmp_path / "w.npz", KQ=kq[None], PV=pv[None])
    for tol, verdict in ((0.05, False), (0.2, True)):
        code, out, err = run_cli(capsys, "derive", "--fit", path, "--tol", tol, "--json", "-")
        layer = json.loads(out)["layers"][0]
        assert abs(layer["relative_distance"] - 0.1 / np.sqrt(1.01)) < 1e-12
        assert layer["implements_preconditioned_gd"] is verdict
    code, out, err = run_cli(capsys, "derive", "--fit", path)
    assert code == 0 and "nearest S1" in out and "stack_gap" in out


def test_cli_kq_pv_path_is_unchanged(capsys):
    code, out, err = run_cli(capsys, "derive", "--kq", "[[1,0],[0,0]]", "--pv", '[[0,0],[0,"-eta"]]', "--json", "-")
    result = json.loads(out)
    assert code == 0 and result["attention"] == "prefix" and result["preconditioner"] == [["eta"]]


def _bad_files(tmp_path):
    good = np.zeros((1, 3, 3))
    nan = good.copy()
    nan[0, 0, 0] = np.nan
    np.save(tmp_path / "single.npy", good)
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "objects.npz", KQ=np.array([good[0], None], dtype=object), PV=good)
    return {
        "missing file": (str(tmp_path / "nope.npz"), "not found"),
        "not npz": (str(tmp_path / "text.npz"), "readable"),
        "npy": (str(tmp_path / "single.npy"), "single array"),
        "objects": (str(tmp_path / "objects.npz"), "object"),
        "missing PV": (_save(tmp_path / "a.npz", KQ=good), "PV"),
        "missing P": (_save(tmp_path / "b.npz", K=good, Q=good, V=good), "P"),
        "both forms": (_save(tmp_path / "c.npz", KQ=good, PV=good, K=good, Q=good, V=good, P=good), "both"),
        "nan": (_save(tmp_path / "d.npz", KQ=nan, PV=good), "NaN"),
        "2-D": (_save(tmp_path / "e.npz", KQ=good[0], PV=good[0]), "(L, d+k, d+k)"),
        "mismatch": (_save(tmp_path / "f.npz", KQ=good, PV=np.zeros((1, 4, 4))), "(L, d+k, d+k)"),
        "not square": (_save(tmp_path / "g.npz", KQ=np.zeros((1, 3, 4)), PV=np.zeros((1, 3, 4))), "(L, d+k, d+k)"),
        "no layers": (_save(tmp_path / "h.npz", KQ=np.zeros((0, 3, 3)), PV=np.zeros((0, 3, 3))), "L = 0"),
        "complex": (_save(tmp_path / "i.npz", KQ=good.astype(complex), PV=good), "dtype"),
        "bad KQVP": (_save(tmp_path / "j.npz", K=good, Q=np.zeros((1, 3, 4)), V=good, P=good), "do not fit"),
        "bad metadata": (_save(tmp_path / "k.npz", KQ=good, PV=good, n=np.array([1, 2])), "metadata n"),
        "bad x_dist": (_save(tmp_path / "l.npz", KQ=good, PV=good, x_dist=np.array("cauchy")), "x_dist"),
    }


@pytest.mark.parametrize("case", ["missing file", "not npz", "npy", "objects", "missing PV", "missing P", "both forms",
                                  "nan", "2-D", "mismatch", "not square", "no layers", "complex", "bad KQVP",
                                  "bad metadata", "bad x_dist"])
def test_cli_fit_bad_files_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    path, needle = _bad_files(tmp_path)[case]
    target = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "derive", "--fit", path, "--json", target)
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err and not target.exists()


@pytest.mark.parametrize("args, field", [(("--k", "3"), "k:"), (("--k", "0"), "k:"), (("--tol", "-1"), "tol"),
                                         (("--tol", "nan"), "tol"), (("--prompts", "0"), "prompts"),
                                         (("--n", "0"), "n:"), (("--attention", "diagonal"), "attention"),
                                         (("--kq", "[[1,0],[0,0]]"), "either")])
def test_cli_fit_bad_options(tmp_path, capsys, args, field):
    path = _save(tmp_path / "w.npz", KQ=np.eye(3)[None], PV=np.eye(3)[None])
    code, out, err = run_cli(capsys, "derive", "--fit", path, *args)
    assert code == 2 and err.count("\n") == 1 and field in err, err


def test_load_weights_reads_metadata_and_k(tmp_path):
    path = _save(tmp_path / "w.npz", KQ=np.zeros((2, 4, 4)), PV=np.zeros((2, 4, 4)), attention=np.array("causal"),
                 n=np.array(7), mu_x=np.array(1.5))
    KQ, PV, meta = load_weights(path, k=2)
    assert KQ.shape == (2, 4, 4) and meta["attention"] == "causal" and meta["n"] == 7 and meta["k"] == 2
    assert meta["mu_x"] == 1.5 and meta["x_dist"] == "normal"


def test_long_prompts_run_in_chunks_with_the_same_predictions(monkeypatch):
    """stack_predictions splits the prompts so the (T, T) scores fit in memory; chunking changes nothing."""
    import verify.fit as fit
    from verify.regression import token_batch

    dist = TaskDistribution(d=2, n=30, m=3)
    X, Y, Xq, _ = dist.sample(np.random.default_rng(0), 7)
    Z0 = token_batch(X, Y, Xq)
    rng = np.random.default_rng(1)
    KQ, PV = rng.standard_normal((2, 3, 3)), 0.1 * rng.standard_normal((2, 3, 3))
    mask = attention_mask("causal", 30, 3)
    whole = fit.stack_predictions(KQ, PV, Z0, 30, 2, mask, 30.0)
    monkeypatch.setattr(fit, "SCORE_ENTRIES_PER_CHUNK", 2 * 33**2)  # two prompts per chunk
    assert np.array_equal(fit.stack_predictions(KQ, PV, Z0, 30, 2, mask, 30.0), whole)
