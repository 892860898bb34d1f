"""Masks as rules and the associative form of linear attention (issue 21).

- ``NamedMask`` answers like the dense mask of ``verify.masks.reads``: its intervals,
  its ``O(n)`` counts (the ``count`` normalizer) and every kind of index;
- the LSA layer on a ``NamedMask`` (``verify.linear``: sums of outer products over
  intervals) equals the definition ``verify.lsa.attend`` on the dense mask, to a
  tolerance relative to the data, at sizes up to a few thousand and for windows far
  from the start (where differences of prefix sums would cancel);
- the per-position weights under a ``NamedMask`` equal the dense read-out, and
  ``simulate`` equals a per-token recursion written here from the attention table of
  SPEC section 2, independently of the package;
- simulate's outputs stay proportionate (``--full``, ``--npz``, the note) and its
  limits follow the algorithm (a named attention at ``n = 10^6`` is admitted).

Every comparison has a mutation check: a window off by one, a block boundary off by
one, a query that misses an example, a prefix-difference window sum, a recursion
with the wrong window.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import random_prompt, run_cli, save_prompt

import verify.commands.simulate as simulate_command
import verify.linear as linear
from verify.algorithms import online_dynamics
from verify.construction import Construction, paper
from verify.lsa import attend, lsa_forward, lsa_layer
from verify.masks import NamedMask, attention_mask, reads
from verify.normalizers import normalizer
from verify.tolerances import agreement_tol

SPECS = ("prefix", "causal", "sliding:{K}", "block:{K}", "hybrid:{P}")


def specs_for(n: int):
    """Every named attention with parameters around the interesting sizes (1, small, n, beyond n)."""
    out = ["prefix", "causal"]
    for K in sorted({1, 2, 3, max(1, n // 2), n, n + 3}):
        out += [f"sliding:{K}", f"block:{K}"]
    for P in sorted({0, 1, 2, n // 2, n, n + 2}):
        out.append(f"hybrid:{P}")
    return out


# ----------------------------------------------------------------------------- the rule: intervals, counts, indexing


def intervals_agree(mask: NamedMask) -> bool:
    """``mask.bounds()`` and ``mask.counts()`` say exactly what the dense mask of ``reads`` says."""
    dense = attention_mask(mask.spec, mask.n, mask.m)
    lo, hi = mask.bounds()
    i = np.arange(mask.n + mask.m)[:, None]
    from_bounds = (i >= lo[None, :]) & (i <= hi[None, :]) & (i < mask.n)
    counts = dense.sum(axis=0).astype(float)
    counts[counts == 0] = 1.0
    return bool(np.array_equal(from_bounds, dense) and np.array_equal(mask.counts(), counts)
                and np.array_equal(normalizer("count", mask), normalizer("count", dense)))


def test_intervals_and_counts_are_the_reads_of_every_named_attention():
    checked = 0
    for n in range(1, 41):
        for m in (0, 1, 3):
            for spec in specs_for(n):
                assert intervals_agree(NamedMask(spec, n, m)), (spec, n, m)
                checked += 1
    assert checked > 1000


class Shifted(NamedMask):
    """A mutant: the rule's intervals moved (a window off by one, a block boundary, a query's first read)."""

    def __init__(self, spec, n, m, where: str):
        super().__init__(spec, n, m)
        object.__setattr__(self, "where", where)

    def bounds(self):
        lo, hi = (a.copy() for a in super().bounds())
        n = self.n
        if self.where == "window":  # sliding:K reads K + 1 examples
            lo[:n] = np.maximum(lo[:n] - 1, 0)
        elif self.where == "block":  # the last example of each block is also read by the block before
            hi[:n] = np.minimum(hi[:n] + 1, n - 1)
        elif self.where == "query":  # every query misses the first example it should read
            lo[n:] = lo[n:] + 1
        return lo, hi

    def counts(self):
        lo, hi = self.bounds()
        return (hi - lo + 1).astype(float)


MUTANTS = (("sliding:3", "window"), ("block:4", "block"), ("causal", "query"))


@pytest.mark.parametrize("spec,where", MUTANTS)
def test_mutation_shifted_intervals_are_caught(spec, where):
    assert not intervals_agree(Shifted(spec, 13, 2, where))


def test_indexing_a_named_mask_is_reads_on_those_indices():
    for spec in ("sliding:3", "block:4", "hybrid:5", "causal"):
        mask, dense = NamedMask(spec, 11, 3), attention_mask(spec, 11, 3)
        j = np.array([0, 4, 10, 12])
        for index in [(slice(None), slice(None)), (slice(2, 9), slice(None, None, 2)), (slice(None), 5), (3,),
                      (j, j), (np.ix_(j, j)), (slice(None), j), (j, slice(3, 7)), (-1, -2), (4, 4),
                      (np.arange(14) % 2 == 0, slice(None))]:
            assert np.array_equal(mask[index], dense[index]), (spec, index)
        assert np.array_equal(np.asarray(mask), dense) and mask.shape == dense.shape
        assert mask[2, 2] == reads(spec, 2, 2, 11)


def test_a_named_mask_forms_nothing_of_size_n_squared():
    mask = NamedMask("sliding:8", 10 ** 6, 100)
    lo, hi = mask.bounds()
    assert lo.shape == (10 ** 6 + 100,) and mask.counts()[-1] == 8
    assert mask[10 ** 6 - 3:10 ** 6 + 2, -1].tolist() == [True, True, True, False, False]
    with pytest.raises(Exception, match="dense attention matrices"):
        mask.dense()


# ----------------------------------------------------------------------------- the layer: associative = definition


def construction(rng, D: int) -> Construction:
    """A generic layer (not the paper's): every block of K^T Q and P V in play."""
    K, Q, V, P = (rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(4))
    return Construction(K, Q, V, P)


def layer_tol(Z, con: Construction, dense, c) -> np.ndarray:
    """Per token: ``agreement_tol`` of the sum of the absolute values of the terms (a rounding bound)."""
    A = np.abs(Z)
    terms = np.abs(con.pv) @ A @ (dense * np.abs(Z.T @ con.kq @ Z)) / np.abs(c)
    return agreement_tol(1.0) * np.maximum(terms, np.abs(Z))


def layer_agrees(mask: NamedMask, Z, con, c) -> bool:
    dense = attention_mask(mask.spec, mask.n, mask.m)
    want = attend(Z, Z, con, dense, c)
    got = lsa_layer(Z, con, mask, c)
    return bool(np.all(np.abs(got - want) <= layer_tol(Z, con, dense, c)))


@pytest.mark.parametrize("n,m", [(1, 1), (31, 0), (32, 2), (33, 5), (100, 7), (700, 3), (2500, 20)])
def test_associative_layer_equals_the_definition(n, m):
    rng = np.random.default_rng(n + 1000 * m)
    D = 4
    Z = rng.uniform(-1, 1, (D, n + m)) + 0.5
    con = construction(rng, D)
    for spec in ["prefix", "causal", "sliding:1", "sliding:7", f"sliding:{max(1, n // 3)}", "block:1", "block:5",
                 f"block:{max(1, n // 4)}", "hybrid:0", "hybrid:9", f"hybrid:{n // 2}"]:
        mask = NamedMask(spec, n, m)
        for kind in ("constant", "count"):
            assert layer_agrees(mask, Z, con, normalizer(kind, mask, 3.0)), (spec, kind)


@pytest.mark.parametrize("spec,where", MUTANTS)
def test_mutation_a_layer_on_shifted_intervals_is_caught(spec, where):
    n, m = 150, 3
    rng = np.random.default_rng(5)
    Z = rng.uniform(-1, 1, (4, n + m))
    con = construction(rng, 4)
    good, bad = NamedMask(spec, n, m), Shifted(spec, n, m, where)
    c = normalizer("constant", good, 1.0)
    assert layer_agrees(good, Z, con, c)
    dense = attention_mask(spec, n, m)
    assert not np.all(np.abs(lsa_layer(Z, con, bad, c) - attend(Z, Z, con, dense, c)) <= layer_tol(Z, con, dense, c))


def test_batched_tokens_and_a_stack_run_through_the_same_form():
    rng = np.random.default_rng(3)
    n, m, d = 90, 4, 3
    Z = rng.uniform(-1, 1, (2, d + 1, n + m))
    mask = NamedMask("sliding:10", n, m)
    dense = attention_mask("sliding:10", n, m)
    con = [paper(0.05, d)] * 4
    got, want = lsa_forward(Z, con, mask, 1.0)[-1], lsa_forward(Z, con, dense, 1.0)[-1]
    assert np.allclose(got, want, rtol=0, atol=agreement_tol(float(np.abs(want).max()), layers=4))


def skewed_tokens(n: int, m: int) -> np.ndarray:
    """Huge early tokens, small late ones: a window over the late ones must not see the early ones' rounding."""
    rng = np.random.default_rng(11)
    Z = rng.uniform(0.5, 1.5, (3, n + m))
    Z[:, : n // 2] *= 1e6
    return Z


def window_error(n: int = 3000, K: int = 200) -> float:
    """Largest error of the sliding:K layer over the late tokens, relative to their own local rounding bound."""
    m = 2
    Z = skewed_tokens(n, m)
    con = paper(1.0, 2)
    mask = NamedMask(f"sliding:{K}", n, m)
    dense = attention_mask(mask.spec, n, m)
    c = np.ones(n + m)
    late = slice(n // 2 + K, None)
    diff = np.abs(lsa_layer(Z, con, mask, c) - attend(Z, Z, con, dense, c))[:, late]
    return float(np.max(diff / layer_tol(Z, con, dense, c)[:, late]))


def test_long_windows_far_from_the_start_lose_nothing_to_cancellation():
    assert window_error() <= 1.0


def test_mutation_windows_as_differences_of_prefix_sums_cancel(monkeypatch):
    def differences(plan, A, B, n, T):
        running = np.concatenate([np.zeros((1, A.shape[1], B.shape[1])),
                                  np.cumsum(linear._chunk_sums(A, B, n, T), axis=0)])
        return np.where(plan["common"][:, None, None], running[plan["f1"]] - running[plan["f0"]], 0.0)

    monkeypatch.setattr(linear, "_common_sums", differences)
    assert window_error() > 1.0


# ----------------------------------------------------------------------------- weights and simulate at length


def table_reads(spec: str, j: int, n: int) -> np.ndarray:
    """The examples token ``j`` reads, from SPEC section 2's table (0-based), written here on purpose."""
    name, _, param = spec.partition(":")
    K = int(param) if param else 0
    if j >= n:  # a query
        return np.arange(max(0, n - K), n) if name == "sliding" else np.arange(n)
    if name == "prefix":
        return np.arange(n)
    if name == "causal":
        return np.arange(j + 1)
    if name == "sliding":
        return np.arange(max(0, j - K + 1), j + 1)
    if name == "block":
        return np.arange(min(n, (j // K + 1) * K))
    return np.arange(min(n, max(j + 1, K)))  # hybrid


def per_token_recursion(X, y, Xq, spec: str, eta: float, layers: int, reader=table_reads) -> np.ndarray:
    """Query predictions ``(L + 1, m)``: ``w_j <- w_j + eta sum_{i in A(j)} (y_i - w_i x_i) x_i``, token by token."""
    n, d = X.shape
    size = n + len(Xq)
    sets = [reader(spec, j, n) for j in range(size)]
    W = np.zeros((size, d))
    out = [np.zeros(len(Xq))]
    for _ in range(layers):
        r = y - np.einsum("nd,nd->n", W[:n], X)
        W = W + eta * np.stack([r[s] @ X[s] for s in sets])
        out.append(np.einsum("md,md->m", W[n:], Xq))
    return np.array(out)


def run_simulate(capsys, tmp_path, X, y, Xq, spec, eta, layers, *extra):
    path = save_prompt(tmp_path / "p.npz", X, y, Xq)
    code, out, err = run_cli(capsys, "simulate", path, "--attention", spec, "--eta", eta, "--layers", layers,
                             *extra, "--json", "-")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("spec", ["prefix", "causal", "sliding:8", "block:16", "hybrid:40"])
def test_simulate_equals_a_per_token_recursion(capsys, tmp_path, spec):
    rng = np.random.default_rng(21)
    X, y, Xq, _ = random_prompt(rng, 1500, 5, m=4)
    eta, layers = 2e-3, 4
    result = run_simulate(capsys, tmp_path, X, y, Xq, spec, eta, layers)
    want = per_token_recursion(X, y, Xq, spec, eta, layers)
    got = np.asarray(result["query_predictions"])
    assert np.allclose(got, want, rtol=0, atol=agreement_tol(float(np.abs(want).max()), layers=layers))
    assert result["max_abs_gap"] <= agreement_tol(float(np.abs(want).max()), layers=layers)
    # the mutation: a recursion whose window reads one example more disagrees with simulate
    if spec.startswith("sliding"):
        wider = per_token_recursion(X, y, Xq, "sliding:9", eta, layers)
        assert not np.allclose(got, wider, rtol=0, atol=agreement_tol(float(np.abs(want).max()), layers=layers))


def test_weights_under_a_named_mask_equal_the_dense_readout():
    rng = np.random.default_rng(8)
    X, y, Xq, _ = random_prompt(rng, 400, 3, m=3, k=2)
    for spec in ("causal", "sliding:30", "block:7", "hybrid:50", "prefix"):
        mask = NamedMask(spec, 400, 3)
        c = normalizer("count", mask)
        gamma = np.diag([1.0, 0.5, 2.0])
        etas = [0.3, 0.2, 0.1]
        got = online_dynamics(X, y, mask, c, etas, None, gamma, tokens=np.arange(400, 403))
        want = online_dynamics(X, y, attention_mask(spec, 400, 3), c, etas, None, gamma)[:, 400:]
        assert np.allclose(got, want, rtol=0, atol=agreement_tol(float(np.abs(want).max()), layers=3))


# ----------------------------------------------------------------------------- outputs and limits


def test_long_prompts_leave_the_example_residuals_out_unless_asked(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_command, "FULL_EXAMPLES", 20)
    rng = np.random.default_rng(2)
    X, y, Xq, _ = random_prompt(rng, 30, 2)
    short = run_simulate(capsys, tmp_path, X, y, Xq, "causal", 0.1, 3)
    assert "example_residuals" not in short and "--full" in short["note"]
    rms = np.asarray(short["example_residual_rms"])
    full = run_simulate(capsys, tmp_path, X, y, Xq, "causal", 0.1, 3, "--full", "--npz", tmp_path / "r.npz")
    residuals = np.asarray(full["example_residuals"])
    assert residuals.shape == (4, 30) and "note" not in full
    assert np.allclose(rms, np.sqrt(np.mean(residuals ** 2, axis=1)), rtol=1e-12)
    with np.load(tmp_path / "r.npz") as saved:
        assert np.array_equal(saved["example_residuals"], residuals)
        assert np.array_equal(saved["query_predictions"], np.asarray(full["query_predictions"]))


def test_npz_output_is_checked_before_computing(capsys, tmp_path, monkeypatch):
    import verify.lsa as lsa

    def boom(*args, **kwargs):
        raise AssertionError("computed before the output was checked")

    monkeypatch.setattr(lsa, "lsa_layer", boom)
    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(0), 5, 2)[:3])
    code, _, err = run_cli(capsys, "simulate", path, "--eta", 0.1, "--npz", tmp_path / "missing" / "r.npz")
    assert code == 2 and err.startswith("icl-verify simulate: error: npz:") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "missing")


@pytest.mark.parametrize("spec", ["prefix", "causal", "sliding:8", "block:16"])
def test_a_million_examples_are_admitted_and_too_many_layers_refused_with_the_figure(spec):
    n, m, d, k = 10 ** 6, 100, 20, 1
    simulate_command.check_work(10, n, m, d, k, NamedMask(spec, n, m), spec == "prefix", keep_residuals=False)
    with pytest.raises(Exception, match=r"layers: 100000 layers of the associative form .* at most \d+ layers"):
        simulate_command.check_work(100_000, n, m, d, k, NamedMask(spec, n, m), spec == "prefix", False)


def test_a_refused_depth_is_refused_before_the_prompt_data_is_read(capsys, tmp_path, monkeypatch):
    import verify.prompt as prompt

    def never(*args, **kwargs):
        raise AssertionError("the prompt was built before the depth was refused")

    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(0), 50, 2)[:3])
    monkeypatch.setattr(prompt, "make_prompt", never)
    monkeypatch.setattr(simulate_command, "MAX_WORK", 1.0)
    code, _, err = run_cli(capsys, "simulate", path, "--attention", "causal", "--eta", 0.1)
    assert code == 2 and "work limit" in err and err.count("\n") == 1
