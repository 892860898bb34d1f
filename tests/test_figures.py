"""E1/E2/E3, `icl-verify figures` and `icl-verify report` on a tiny budget.

Every published-shape check is also run on a deliberately wrong variant to show
it can fail; the experiments' numbers are cross-checked against independent
routes (weight-space algorithms, per-task stationary points, direct matrix powers).
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from helpers import run_cli
from hypothesis import given
from hypothesis import strategies as st

from verify.algorithms import (
    causal_stationary,
    causal_stationary_batch,
    count_causal_stationary,
    gradient_descent,
    least_squares,
    least_squares_prefixes,
    online_dynamics,
)
from verify.experiments import e1_convergence, e2_stationary, e3_transient
from verify.experiments.e2 import e2_tasks
from verify.experiments.e3 import task_peaks
from verify.experiments.shape import e1_shape, e2_shape, e3_shape
from verify.experiments.table import read_rows
from verify.experiments.tasks import sample_tasks
from verify.lemma import stationary_weights
from verify.masks import attention_mask
from verify.normalizers import normalizer

TINY = ("--tasks", "2", "--max-n", "60", "--seed", "3", "--no-progress")
COLUMNS = {
    "e1_convergence.csv": ["layer", "model", "example_mse", "query_mse"],
    "e2_stationary.csv": ["n", "mu_x", "causal_query_mse", "least_squares_query_mse"],
    "e3_transient.csv": ["mu_x", "eta_fraction", "model", "median_peak"],
}


@pytest.fixture(scope="module")
def figures_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    from verify.cli import main

    assert main(["figures", "--out", str(out), *TINY]) == 0
    return out


# ---------------------------------------------------------------- files and shapes

def test_files_columns_and_sizes(figures_dir):
    for name, columns in COLUMNS.items():
        with open(figures_dir / name, newline="") as fh:
            assert next(csv.reader(fh)) == columns
    e1, e2, e3 = (read_rows(figures_dir / name) for name in COLUMNS)
    assert sorted({(r["model"], r["layer"]) for r in e1}) == sorted((m, l) for m in ("causal", "prefix")
                                                                     for l in range(51))
    assert sorted({(r["n"], r["mu_x"]) for r in e2}) == [(n, mu) for n in (20, 40, 60) for mu in range(4)]
    assert len(e3) == 4 * 5 * 2
    assert {r["eta_fraction"] for r in e3} == {0.1, 0.3, 0.5, 0.7, 0.9}
    for name in ("e1_convergence.png", "e2_stationary.png", "e3_transient.png"):
        with open(figures_dir / name, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    timings = json.loads((figures_dir / "timings.json").read_text())
    assert set(timings) == {"e1_seconds", "e2_seconds", "e3_seconds"}
    assert all(isinstance(v, float) and v > 0 for v in timings.values())


def test_published_shape_on_tiny_budget(figures_dir):
    e1, e2, e3 = (read_rows(figures_dir / name) for name in COLUMNS)
    shape = e1_shape(e1)
    for claim in ("prefix example error falls to near zero", "prefix query error falls to near zero",
                  "causal query error stays clearly above prefix's"):
        assert shape[claim], claim
    assert e2_shape(e2)["least squares is zero for n >= d"]
    mu0 = sorted((r["n"], r["causal_query_mse"]) for r in e2 if r["mu_x"] == 0)
    assert mu0[-1][1] < mu0[0][1]  # causal error falls with n (mu_x = 0 is robust even at 2 tasks)
    assert all(e3_shape(e3).values())


# ---------------------------------------------------------------- the checks can fail

def test_e1_shape_catches_causal_replaced_by_prefix():
    rows = e1_convergence(tasks=2, seed=1, models={"prefix": "prefix", "causal": "prefix"})
    shape = e1_shape(rows)
    assert not shape["causal query error stays clearly above prefix's"]


def test_e1_shape_catches_a_stack_that_does_not_learn():
    rows = e1_convergence(tasks=2, seed=1, eta=1e-6)  # far too small a step: nothing falls
    shape = e1_shape(rows)
    assert not shape["prefix query error falls to near zero"]
    assert not shape["causal query error stays clearly above prefix's"]


def test_e2_shape_catches_least_squares_posing_as_causal():
    def fake(X, Y, positions):  # least squares at every position: no causal suboptimality, no slow-down with mu_x
        return least_squares_prefixes(X, Y, [j + 1 for j in positions])

    assert not all(e2_shape(e2_stationary(tasks=2, seed=1, max_n=60, stationary=fake)).values())


def test_e2_shape_catches_nonzero_least_squares():
    rows = [dict(r, least_squares_query_mse=1e-3) for r in e2_stationary(tasks=2, seed=1, max_n=60)]
    assert not e2_shape(rows)["least squares is zero for n >= d"]


def test_e3_shape_catches_causal_posing_as_prefix():
    rows = e3_transient(tasks=2, seed=1, mus=(2,), fractions=(0.5,), models={"prefix": "causal", "causal": "causal"})
    assert not e3_shape(rows)["prefix peaks are 1"]


def test_e3_shape_catches_a_tame_causal_iteration():
    rows = e3_transient(tasks=2, seed=1, mus=(2,), fractions=(0.5,), models={"prefix": "prefix", "causal": "prefix"})
    assert not e3_shape(rows)["causal peak > 1e5 at mu_x = 2, eta fraction 0.5"]


# ---------------------------------------------------------------- independent routes agree

def test_e1_lsa_stack_matches_weight_space_algorithms():
    """E1's rows from the LSA stack equal GD (prefix) and per-position dynamics (causal) on the same tasks."""
    tasks, d, n, m, eta, L = 3, 16, 40, 20, 0.04, 50
    rows = e1_convergence(tasks=tasks, seed=5)
    X, Y, Xq, Yq = sample_tasks(np.random.default_rng([5, 1]), tasks, n, m, d)
    for model in ("prefix", "causal"):
        mask = attention_mask(model, n, m)
        c = normalizer("constant", mask, 1.0)
        q = []
        for t in range(tasks):
            if model == "prefix":
                W = np.stack(gradient_descent(X[t], Y[t], [eta] * L))  # (L+1, 1, d)
                pred = np.einsum("md,lkd->lmk", Xq[t], W)
            else:
                W = online_dynamics(X[t], Y[t], mask, c, [eta] * L)[:, n:]  # query weights
                pred = np.einsum("md,lmkd->lmk", Xq[t], W)
            q.append(np.mean((pred - Yq[t][None]) ** 2, axis=(1, 2)))
        mine = np.array([r["query_mse"] for r in rows if r["model"] == model])
        np.testing.assert_allclose(mine, np.mean(q, axis=0), rtol=1e-8, atol=1e-14)


def test_e2_stationary_matches_lemma_and_least_squares_per_task():
    ns, X, Y, Xq, Yq = e2_tasks(tasks=2, seed=4, max_n=60, mus=(0, 2))
    W = causal_stationary_batch(X, Y)
    LS = least_squares_prefixes(X, Y, ns)
    for i in range(2):
        for t in range(2):
            for k, n in enumerate(ns):
                mask = attention_mask("causal", n, 0)
                lemma = stationary_weights(X[i, t, :n], Y[i, t, :n], mask, normalizer("constant", mask, 1.0))
                np.testing.assert_allclose(W[i, t, n - 1], lemma[n - 1], rtol=1e-6, atol=1e-8)
                np.testing.assert_allclose(LS[i, t, k], least_squares(X[i, t, :n], Y[i, t, :n]), rtol=1e-6, atol=1e-8)


def test_e2_stationary_check_would_catch_the_count_normalizer():
    ns, X, Y, Xq, Yq = e2_tasks(tasks=1, seed=4, max_n=40, mus=(1,))
    assert not np.allclose(causal_stationary_batch(X, Y)[0, 0], count_causal_stationary(X[0, 0], Y[0, 0]), rtol=1e-3)


def _independent_peak(X, model, fraction, layers):
    """Peak of ||(I - eta N)^l||_2 written out from SPEC P4/P5 without verify.lemma or verify.rates."""
    n = X.shape[0]
    G = X @ X.T
    if model == "prefix":
        N, top = G, 2 / np.linalg.eigvalsh(G)[-1]
    else:
        N, top = np.tril(G), 2 / np.max(np.diag(G))
    B = np.eye(n) - fraction * top * N
    return max(np.linalg.norm(np.linalg.matrix_power(B, l), 2) for l in range(layers + 1))


@pytest.mark.parametrize("model", ["prefix", "causal"])
def test_e3_peaks_match_direct_matrix_powers(model):
    X = sample_tasks(np.random.default_rng(11), 1, 12, 0, 4, 2.0)[0][0]
    mine = task_peaks(X, model, (0.3, 0.9), 30)
    direct = [_independent_peak(X, model, f, 30) for f in (0.3, 0.9)]
    np.testing.assert_allclose(mine, direct, rtol=1e-7)


@given(st.integers(1, 3), st.integers(1, 7), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_batched_algorithms_equal_per_task(tasks, n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (tasks, n, d)) + rng.uniform(0, 2)
    Y = rng.standard_normal((tasks, n, 1))
    W = causal_stationary_batch(X, Y)
    every_other = list(range(0, n, 2))  # the positions-only form is the same recursion, copied at those steps
    assert np.array_equal(causal_stationary_batch(X, Y, positions=every_other), W[:, every_other])
    ns = list(range(1, n + 1))
    LS = least_squares_prefixes(X, Y, ns)  # n < d takes the pseudo-inverse branch
    for t in range(tasks):
        np.testing.assert_allclose(W[t], causal_stationary(X[t], Y[t]), rtol=1e-9, atol=1e-9)
        for k, m in enumerate(ns):
            want = least_squares(X[t, :m], Y[t, :m])
            # normal equations lose up to cond(X)^2 eps relative to ||w||, so compare norms
            assert np.linalg.norm(LS[t, k] - want) <= 1e-6 * max(1.0, np.linalg.norm(want))


# ---------------------------------------------------------------- CLI errors and the report

@pytest.mark.parametrize("args, field", [(("--tasks", "0"), "tasks"), (("--max-n", "10"), "max-n"),
                                         (("--noise", "-1"), "noise")])
def test_figures_bad_args(tmp_path, capsys, args, field):
    code, out, err = run_cli(capsys, "figures", "--out", tmp_path / "o", *args, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and field in err
    assert not (tmp_path / "o" / "e1_convergence.csv").exists()


def test_figures_out_is_a_file(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    code, out, err = run_cli(capsys, "figures", "--out", path, "--tasks", "1", "--no-progress")
    assert code == 2 and "out" in err and err.count("\n") == 1


def _report(tmp_path, capsys, *extra):
    out = tmp_path / "report"
    # E4 (training, the [train] extra) is tested in test_train.py; here it would only cost time
    code, stdout, err = run_cli(capsys, "report", "--out", out, *TINY, "--skip-train", *extra)
    return code, out, (out / "report.md").read_text() if (out / "report.md").exists() else ""


def test_report_skip_proofs(tmp_path, capsys):
    code, out, text = _report(tmp_path, capsys, "--skip-proofs")
    assert code == 0
    for png in ("e1_convergence.png", "e2_stationary.png", "e3_transient.png"):
        assert f"]({png})" in text and (out / png).exists()
    assert "skipped" in text
    e1 = read_rows(out / "e1_convergence.csv")
    plateau = [r["query_mse"] for r in e1 if r["model"] == "causal" and r["layer"] == 50][0]
    assert f"plateaus at {plateau:.3g}" in text  # the reading quotes the CSV's numbers
    e3 = read_rows(out / "e3_transient.csv")
    peak = [r["median_peak"] for r in e3 if r["model"] == "causal" and r["mu_x"] == 2 and r["eta_fraction"] == 0.5][0]
    assert f"{peak:.3g}" in text and "depth_safe_eta" in text
    assert not (out / "theorems.json").exists() and "No `theorems.json` was written" in text


def test_skip_proofs_leaves_a_good_theorems_json_as_it_was(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    good = json.dumps({"skipped": False, "theorems": [{"id": "P1", "status": "proved"}], "assumptions": []})
    (out / "theorems.json").write_text(good)
    code, out, text = _report(tmp_path, capsys, "--skip-proofs")
    assert code == 0
    assert (out / "theorems.json").read_text() == good
    assert "from an earlier run and was left as it was" in text


def test_skip_train_removes_e4_files_of_an_earlier_report(tmp_path, capsys):
    from verify.experiments.e4 import FILES as E4_FILES

    out = tmp_path / "report"
    out.mkdir()
    for name in E4_FILES[1:]:
        (out / name).write_text("from an earlier full report")
    elsewhere = tmp_path / "kept.png"
    elsewhere.write_text("a file the link points to")
    os.symlink(elsewhere, out / E4_FILES[0])
    code, out, text = _report(tmp_path, capsys, "--skip-proofs")
    assert code == 0
    assert not [name for name in os.listdir(out) if name.startswith("e4_")]
    assert elsewhere.read_text() == "a file the link points to"  # the link is removed, not its target
    assert all(f"`{name}`" in text.split("Removed")[1] for name in E4_FILES)


def test_report_and_figures_state_the_setting_of_e1_and_e3(tmp_path, capsys, monkeypatch):
    """n, d and eta of E1 and E3, from the experiments' own settings, in report.md and in the figures' titles."""
    import verify.plots as plots
    from verify.experiments import e1, e3

    captions = {}
    for name in ("plot_e1", "plot_e2", "plot_e3"):
        original = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda rows, path, caption="", _f=original, _n=name:
                            captions.setdefault(_n, caption) and _f(rows, path, caption))
    code, out, text = _report(tmp_path, capsys, "--skip-proofs")
    assert code == 0
    words = {"plot_e1": [f"d = {e1.SETTING['d']}", f"n = {e1.SETTING['n']}", f"eta = {e1.SETTING['eta']:g}"],
             "plot_e3": [f"d = {e3.SETTING['d']}", f"n = {e3.SETTING['n']}", "eta = 0.1 to 0.9 times"]}
    for plot, expected in words.items():
        for word in expected:
            assert word in captions[plot], (plot, word)
        section = text.split("## E1" if plot == "plot_e1" else "## E3")[1].split("##")[0]
        assert all(word in section for word in expected), (plot, section[:300])


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_e2_panel_says_zero_only_when_the_rows_show_it(tmp_path, monkeypatch, noise):
    import verify.plots as plots

    rows = e2_stationary(tasks=2, seed=2, max_n=40, mus=(0,), noise=noise)
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    plots.plot_e2(rows, tmp_path / "e2.png")
    texts = " ".join(t.get_text() for t in figures[0].axes[1].texts)
    ls = [r["least_squares_query_mse"] for r in rows]
    assert ("zero up to rounding" in texts) == (max(ls) < 1e-20), texts
    if noise:
        assert f"{min(ls):.2g} to {max(ls):.2g}" in texts


def _fake_theorems(statuses):
    from proofs.registry import Result, Theorem

    def prover(status):
        return lambda setup: Result(status, "n = 2 (fake)", detail="deliberately " + status)

    return [Theorem(f"T{i}", f"fake {s}", "", "", (), prover(s)) for i, s in enumerate(statuses)]


@pytest.mark.parametrize("statuses, code", [(("proved", "checked"), 0), (("proved", "failed"), 1)])
def test_report_theorem_table_and_exit_status(tmp_path, capsys, monkeypatch, statuses, code):
    from proofs import registry

    monkeypatch.setattr(registry, "theorems", lambda: _fake_theorems(statuses))
    got, out, text = _report(tmp_path, capsys)
    assert got == code
    assert "| id | title | status | assumes | scope | seconds |" in text
    for i, s in enumerate(statuses):
        assert f"| T{i} | fake {s} |" in text
    assert ("**FAILED**" in text) == ("failed" in statuses)
    entries = json.loads((out / "theorems.json").read_text())["theorems"]
    assert [e["status"] for e in entries] == list(statuses)


def test_label_noise_reaches_e2_only_through_the_examples(tmp_path, capsys):
    noisy = e2_stationary(tasks=2, seed=2, max_n=40, mus=(0,), noise=0.5)
    clean = e2_stationary(tasks=2, seed=2, max_n=40, mus=(0,))
    assert min(r["least_squares_query_mse"] for r in noisy) > 1e-4  # noisy labels: least squares errs
    assert max(r["least_squares_query_mse"] for r in clean) < 1e-20
    assert "least squares is zero for n >= d" not in e2_shape(noisy, noise=0.5)
    code, out, err = run_cli(capsys, "figures", "--out", tmp_path, "--tasks", "1", "--max-n", "40",
                             "--noise", "0.5", "--no-progress")
    assert code == 0
    rows = read_rows(tmp_path / "e2_stationary.csv")
    assert sorted({r["n"] for r in rows}) == [20, 40] and min(r["least_squares_query_mse"] for r in rows) > 0


def test_batched_stationary_names_the_zero_row_within_its_task():
    from verify.errors import PromptError

    X = np.ones((2, 3, 4, 2))
    X[1, 2, 3] = 0.0
    with pytest.raises(PromptError, match="row 3"):
        causal_stationary_batch(X, np.ones((2, 3, 4, 1)))


def test_least_squares_prefixes_decides_conditioning_per_task():
    """One task rank deficient at every n (a repeated direction), one well conditioned: each gets its own
    branch (pseudo-inverse vs normal equations) and both equal least squares on their own prefixes."""
    rng = np.random.default_rng(3)
    good = rng.standard_normal((12, 3))
    bad = np.outer(rng.standard_normal(12), [1.0, 2.0, -1.0]) + 1e-300  # rank one
    X = np.stack([np.stack([good, bad]), np.stack([bad, good])])  # (2, 2, 12, 3): both orders, two task axes
    Y = rng.standard_normal((2, 2, 12, 1))
    ns = [2, 3, 6, 12]
    LS = least_squares_prefixes(X, Y, ns)
    for i in range(2):
        for t in range(2):
            for s, n in enumerate(ns):
                want = least_squares(X[i, t, :n], Y[i, t, :n])
                assert np.linalg.norm(LS[i, t, s] - want) <= 1e-9 * max(1.0, np.linalg.norm(want))
