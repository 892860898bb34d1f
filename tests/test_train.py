"""``icl-verify train``, E4 and the JAX path of the layer (issue 15).

Tests that need the ``[train]`` extra take the ``extra`` fixture and skip with a
reason without it; the tests at the end hide JAX and optax and check that every
other command still works and that the missing extra is one line, exit 2.
"""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import sympy as sp
from helpers import run_cli

from verify.construction import Construction
from verify.lsa import lsa_forward
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.prompt import tokens
from verify.tolerances import agreement_tol
from verify.train import MISSING_EXTRA as MISSING


@pytest.fixture
def extra():
    """``(jax, optax)``, or skip: these tests need ``pip install 'icl-verify[train]'``."""
    return pytest.importorskip("jax", reason="needs the [train] extra (JAX)"), pytest.importorskip(
        "optax", reason="needs the [train] extra (optax)")


@pytest.fixture
def no_extra(monkeypatch):
    """Hide JAX and optax: ``import jax`` raises ImportError, as without the extra."""
    for name in [m for m in sys.modules if m == "jax" or m.startswith(("jax.", "optax", "jaxlib"))]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("jax", "optax", "jaxlib"):
        monkeypatch.setitem(sys.modules, name, None)


# ----------------------------------------------------------------------------- one layer, three backends

def _exact_case():
    """A rational prompt and two rational layers (not members of the family: every block non-zero)."""
    rng = np.random.default_rng(5)
    n, m, d = 5, 3, 2
    rational = lambda shape: rng.integers(-4, 5, shape) / 4  # noqa: E731  (binary-exact floats)
    X, Y, Xq = rational((n, d)), rational((n, 1)), rational((m, d))
    layers = [(rational((d + 1, d + 1)), rational((d + 1, d + 1))) for _ in range(2)]
    return X, Y, Xq, layers, n, d


@pytest.mark.parametrize("attention", ["prefix", "causal"])
def test_numpy_sympy_and_jax_paths_of_the_layer_agree(extra, attention):
    jax, _ = extra
    import jax.numpy as jnp

    X, Y, Xq, layers, n, d = _exact_case()
    mask = attention_mask(attention, n, Xq.shape[0])
    c = normalizer("count", mask)
    eye = np.eye(d + 1)
    numeric = lsa_forward(tokens(X, Y, Xq), [Construction(eye, kq, pv, eye) for kq, pv in layers], mask, c)[-1]
    exact = lambda a: sp.Matrix(a.shape[0], a.shape[1], [sp.Rational(v) for v in a.ravel()])  # noqa: E731
    symbolic = lsa_forward(tokens(exact(X), exact(Y), exact(Xq)),
                           [Construction(sp.eye(d + 1), exact(kq), exact(pv), sp.eye(d + 1)) for kq, pv in layers],
                           mask, [int(v) for v in c])[-1]
    symbolic = np.array(symbolic.tolist(), dtype=float)  # exact rationals, rounded once
    with jax.enable_x64(True):
        jeye = jnp.eye(d + 1)
        on_jax = lsa_forward(tokens(jnp.asarray(X), jnp.asarray(Y), jnp.asarray(Xq)),
                             [Construction(jeye, jnp.asarray(kq), jnp.asarray(pv), jeye) for kq, pv in layers],
                             mask, c)[-1]
        assert isinstance(on_jax, jax.Array)
        on_jax = np.asarray(on_jax)
    scale = float(np.abs(symbolic).max())
    tol = agreement_tol(scale, layers=2)
    assert np.abs(numeric - symbolic).max() <= tol
    assert np.abs(on_jax - symbolic).max() <= tol
    assert scale > 1  # the layers really moved the tokens


def test_float32_jax_predictions_match_numpy(extra):
    """The training path (float32, vmap over prompts, verify.train.predictions) against numpy float64."""
    import jax.numpy as jnp

    from verify.fit import stack_predictions
    from verify.regression import TaskDistribution, token_batch
    from verify.train import predictions

    dist = TaskDistribution(d=3, n=7, m=2)
    X, Y, Xq, _ = dist.sample(np.random.default_rng(0), 4)
    rng = np.random.default_rng(1)
    KQ, PV = 0.3 * rng.standard_normal((2, 4, 4)), 0.3 * rng.standard_normal((2, 4, 4))
    mask = attention_mask("causal", 7, 2)
    c = normalizer("constant", mask, 7.0)
    ours = stack_predictions(KQ, PV, token_batch(X, Y, Xq), 7, 3, mask, c)
    theirs = np.asarray(predictions(*(jnp.asarray(a, dtype=jnp.float32) for a in (KQ, PV, X, Y, Xq)), mask, c))
    assert theirs.shape == ours.shape == (4, 2, 1)
    assert np.abs(theirs - ours).max() <= 1e-5 * max(1.0, np.abs(ours).max())


@pytest.mark.parametrize("depth, same", [(1, True), (2, False)])
def test_one_layer_queries_read_unchanged_examples(depth, same):
    """At one layer prefix and causal masks give the same query predictions for any weights; at two they differ."""
    from verify.fit import stack_predictions
    from verify.regression import TaskDistribution, token_batch

    dist = TaskDistribution(d=3, n=8, m=3)
    X, Y, Xq, _ = dist.sample(np.random.default_rng(2), 5)
    rng = np.random.default_rng(3)
    KQ, PV = rng.standard_normal((depth, 4, 4)), rng.standard_normal((depth, 4, 4))
    Z0 = token_batch(X, Y, Xq)
    got = [stack_predictions(KQ, PV, Z0, 8, 3, attention_mask(a, 8, 3), 8.0) for a in ("prefix", "causal")]
    assert np.array_equal(got[0], got[1]) == same


# ----------------------------------------------------------------------------- training

def test_a_short_training_run_lowers_the_loss(extra):
    from verify.regression import TaskDistribution
    from verify.train import TrainConfig, train

    result = train(TrainConfig(distribution=TaskDistribution(d=3, n=10, m=4), steps=200), show=False)
    assert result.losses.shape == (200,) and np.all(np.isfinite(result.losses))
    # from E||w||^2 E||x||^2 = 3 towards the one-layer optimum (about 3 (d + 1) / (n + d + 1) here)
    assert result.losses[-50:].mean() < 0.6 * result.losses[:10].mean()
    assert result.KQ.shape == result.PV.shape == (1, 4, 4)


@pytest.mark.parametrize("seed", [0, 1])
def test_train_then_fit_default_one_layer_prefix_is_near_the_family(extra, tmp_path, capsys, seed):
    out = tmp_path / "w.npz"
    code, stdout, err = run_cli(capsys, "train", "--out", out, "--seed", seed, "--no-progress", "--json", "-")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["final_loss"] < 0.5 * result["initial_loss"]
    for name in ("w.npz", "w_loss.csv", "w_loss.png"):
        assert (tmp_path / name).exists()
    assert (tmp_path / "w_loss.csv").read_text().count("\n") == 2001
    code, stdout, err = run_cli(capsys, "derive", "--fit", out, "--json", "-")
    assert code == 0, err
    fit = json.loads(stdout)
    layer = fit["layers"][0]
    assert layer["member"] == "S1" and layer["relative_distance"] < 0.1 and layer["implements_preconditioned_gd"]
    gamma = np.array(layer["preconditioner"])  # x ~ N(0, I): close to a multiple of the identity
    alpha = np.trace(gamma) / 4
    assert alpha > 0 and np.linalg.norm(gamma - alpha * np.eye(4)) <= 0.1 * np.linalg.norm(gamma)
    assert fit["setting"]["attention"] == "prefix" and fit["setting"]["n"] == 20 and fit["stack_gap"] < 0.2


@pytest.mark.parametrize("args, field", [(("--layers", "0"), "layers"), (("--steps", "0"), "steps"),
                                         (("--d", "0"), "d:"), (("--n", "0"), "n:"), (("--lr", "-1"), "lr"),
                                         (("--lr", "nan"), "lr"), (("--attention", "diagonal"), "attention"),
                                         (("--mu-x", "inf"), "mu-x"), (("--noise", "-1"), "noise"),
                                         (("--scale", "0"), "scale"), (("--batch", "0"), "batch"),
                                         (("--init-scale", "1e30"), "init-scale")])  # the loss overflows at step 0
def test_train_bad_options_one_line_nothing_written(extra, tmp_path, capsys, args, field):
    out = tmp_path / "w.npz"
    code, stdout, err = run_cli(capsys, "train", "--out", out, "--steps", "1", *args, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and field in err, err
    assert not out.exists() and not (tmp_path / "w_loss.csv").exists()


def test_train_out_in_a_missing_directory(extra, tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "train", "--out", tmp_path / "no" / "w.npz", "--steps", "1", "--no-progress")
    assert code == 2 and "out" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- depth and divergence

@pytest.mark.parametrize("layers", [5, 16, 24])
def test_deeper_lsa_stacks_are_refused_in_one_line(extra, tmp_path, capsys, layers):
    from verify.train import MAX_LAYERS

    code, stdout, err = run_cli(capsys, "train", "--layers", layers, "--out", tmp_path / "w.npz", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "error: layers:" in err and f"--layers {MAX_LAYERS}" in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("attention", ["prefix", "causal"])
def test_the_deepest_admitted_stack_trains_at_the_defaults(extra, attention):
    """``MAX_LAYERS`` layers, every other setting the CLI's default (seed 1: E4 trains seed 0): finite throughout,
    and the loss falls by two orders of magnitude."""
    from verify.train import MAX_LAYERS, TrainConfig, train

    result = train(TrainConfig(attention=attention, layers=MAX_LAYERS, seed=1), show=False)
    assert result.losses.shape == (2000,) and np.all(np.isfinite(result.losses))
    assert np.all(np.isfinite(result.KQ)) and np.all(np.isfinite(result.PV))
    assert result.losses[-20:].mean() < 1e-2 * result.losses[:20].mean()


def test_without_the_cap_a_deeper_default_run_diverges_and_is_stopped(extra, tmp_path, capsys, monkeypatch):
    """Why the cap, and its mutation check: with ``MAX_LAYERS`` lifted (the old trainer), 8 layers at the defaults
    reach a non-finite loss; the guard stops the run in one line naming --lr, exit 2, nothing written."""
    import verify.train as train_module

    monkeypatch.setattr(train_module, "MAX_LAYERS", 10**6)
    code, stdout, err = run_cli(capsys, "train", "--layers", "8", "--out", tmp_path / "w.npz", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "error: lr: the training loss became" in err, err
    assert not list(tmp_path.iterdir())


def _huge_lr(capsys, folder):
    folder.mkdir()
    return run_cli(capsys, "train", "--layers", "2", "--lr", "100", "--steps", "100", "--out", folder / "w.npz",
                   "--no-progress", "--json", folder / "result.json")


def test_a_huge_lr_stops_the_run_at_the_first_non_finite_loss(extra, tmp_path, capsys, monkeypatch):
    import verify.train as train_module

    code, stdout, err = _huge_lr(capsys, tmp_path / "guarded")
    assert code == 2 and err.count("\n") == 1 and "error: lr: the training loss became" in err, err
    assert "give a smaller --lr than 100" in err and "Traceback" not in err
    assert not list((tmp_path / "guarded").iterdir())
    step = int(re.search(r"at step (\d+) of 100", err).group(1))
    # mutation check: without the guard (the old trainer) the same run reports success and writes a NaN loss
    # curve; its first non-finite step is the one the guard named
    monkeypatch.setattr(train_module, "check_finite", lambda *args: None)
    code, stdout, err = _huge_lr(capsys, tmp_path / "unguarded")
    assert code == 0, err
    losses = np.loadtxt(tmp_path / "unguarded" / "w_loss.csv", delimiter=",", skiprows=1)[:, 1]
    assert np.all(np.isfinite(losses[:step])) and not np.isfinite(losses[step])
    assert json.loads((tmp_path / "unguarded" / "result.json").read_text())["final_loss"] is None


def test_check_finite_names_the_first_bad_step(extra):
    """Chunks start at ``start``; the weights after the last update are checked as one more entry."""
    from verify.errors import PromptError
    from verify.train import TrainConfig, check_finite

    config = TrainConfig(steps=100)
    check_finite(np.array([3.0, 2.0, 1.0]), 40, config)
    with pytest.raises(PromptError, match=r"^lr: the training loss became inf at step 41 of 100"):
        check_finite(np.array([3.0, np.inf, np.nan]), 40, config)
    with pytest.raises(PromptError, match=r"^init-scale: .* step 0"):
        check_finite(np.array([np.nan, 1.0]), 0, config)


# ----------------------------------------------------------------------------- E4

@pytest.fixture(scope="module")
def e4_full():
    pytest.importorskip("jax", reason="needs the [train] extra (JAX)")
    pytest.importorskip("optax", reason="needs the [train] extra (optax)")
    from verify.experiments.e4 import e4_trained

    return e4_trained(seed=0)


def test_e4_expected_shape_at_the_default_budget(e4_full):
    from verify.experiments.e4 import e4_shape

    checks = e4_shape(e4_full)
    assert checks["prefix test MSE below causal's at depth 2"]
    assert checks["prefix test MSE below causal's at depth 4"]
    assert all(checks.values()), checks
    one = [r for r in e4_full["rows"] if r["depth"] == 1]
    assert one[0]["learned_test_mse"] == one[1]["learned_test_mse"]


def test_e4_shape_checks_can_fail(e4_full):
    """Swap the masks' numbers: the prefix-beats-causal checks must then fail; break the one-layer identity too."""
    from verify.experiments.e4 import e4_shape

    swapped = {**e4_full, "rows": [{**r, "model": {"prefix": "causal", "causal": "prefix"}[r["model"]]}
                                   for r in e4_full["rows"]]}
    checks = e4_shape(swapped)
    assert not checks["prefix test MSE below causal's at depth 2"]
    assert not checks["prefix test MSE below causal's at depth 4"]
    broken = {**e4_full, "rows": [{**r, "mask_swap_gap": 0.1} for r in e4_full["rows"]]}
    assert not e4_shape(broken)["at one layer the masks give the same predictions"]
    far = {**e4_full, "layers": [{**r, "relative_distance": 0.5, "gamma_alignment": 0.5} for r in e4_full["layers"]]}
    assert not e4_shape(far)["one-layer learned stacks are near the family"]
    assert not e4_shape(far)["one-layer Gamma is close to a multiple of the inverse input covariance"]


def test_e4_gd_baseline_is_the_best_eta_on_its_grid(e4_full):
    """The GD column is the paper's construction at an eta from the grid, and no better than the trained stack
    can get at one layer (the trained stack contains GD with every eta in its parameterization)."""
    from verify.experiments.e4 import ETA_GRID

    for r in e4_full["rows"]:
        assert np.isclose(ETA_GRID, r["gd_best_eta"]).any()
        if r["depth"] == 1:
            assert r["learned_test_mse"] < 1.1 * r["gd_test_mse"]


@pytest.fixture(scope="module")
def figures_train(tmp_path_factory):
    """``figures --train`` on a tiny budget: ``(out, JSON result)``."""
    pytest.importorskip("jax", reason="needs the [train] extra (JAX)")
    pytest.importorskip("optax", reason="needs the [train] extra (optax)")
    from verify.cli import main
    from verify.experiments import e5

    out = tmp_path_factory.mktemp("fig")
    json_path = out / "result.json"
    with pytest.MonkeyPatch.context() as patch:  # E5's transformers at test size (tests/test_transformer.py)
        patch.setattr(e5, "SIZES", {**e5.SIZES, "layers": 1, "width": 8, "exemplars": 6, "evaluated": 2,
                                    "test_tasks": 8})
        assert main(["figures", "--out", str(out), "--tasks", "1", "--max-n", "20", "--train", "--train-steps",
                     "20", "--transformer-steps", "2", "--no-progress", "--json", str(json_path)]) == 0
    return out, json.loads(json_path.read_text())


def test_figures_train_writes_e4_files(figures_train):
    out, result = figures_train
    for name in ("e4_trained.csv", "e4_layers.csv", "e4_loss.csv", "e4_trained.png"):
        assert name in result["files"] and (out / name).exists()
    assert "e4_seconds" in result["timings"] and "e4" in result["published_shape"]
    from verify.experiments.e4 import E4_COLUMNS, read_e4

    rows = read_e4(out)
    assert list(rows["rows"][0]) == list(E4_COLUMNS)
    assert sorted((r["model"], r["depth"]) for r in rows["rows"]) == sorted(
        (m, L) for m in ("prefix", "causal") for L in (1, 2, 4))
    assert len(rows["layers"]) == 2 * (1 + 2 + 4)


def test_report_includes_e4_with_the_extra(figures_train, tmp_path, capsys, monkeypatch):
    from verify.experiments import e4

    # the report's E4 is the experiment above (already tested); reuse its rows instead of training again
    monkeypatch.setattr(e4, "e4_trained", lambda seed, steps, show: e4.read_e4(figures_train[0]))
    from verify.experiments import e5

    monkeypatch.setattr(e5, "e5_transformer", lambda seed, steps, show: e5.read_e5(figures_train[0]))
    out = tmp_path / "rep"
    code, stdout, err = run_cli(capsys, "report", "--out", out, "--tasks", "1", "--max-n", "20", "--skip-proofs",
                                "--train-steps", "20", "--no-progress")
    assert code == 0, err
    text = (out / "report.md").read_text()
    assert "## E4" in text and "](e4_trained.png)" in text and "Skipped" not in text.split("## E4")[1]
    from verify.experiments.e4 import read_e4

    first = read_e4(out)["rows"][0]
    assert f"{first['learned_test_mse']:.4g}" in text  # quoted from the CSV
    code, stdout, err = run_cli(capsys, "report", "--out", tmp_path / "rep2", "--tasks", "1", "--max-n", "20",
                                "--skip-proofs", "--skip-train", "--no-progress")
    assert code == 0 and "`--skip-train` was given" in (tmp_path / "rep2" / "report.md").read_text()


# ----------------------------------------------------------------------------- without the extra

def test_without_the_extra_train_is_one_line_exit_2(no_extra, tmp_path, capsys):
    from verify.train import extra_available

    assert not extra_available()
    code, stdout, err = run_cli(capsys, "train", "--out", tmp_path / "w.npz", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "pip install 'icl-verify[train]'" in err
    assert not list(tmp_path.iterdir())
    code, stdout, err = run_cli(capsys, "figures", "--out", tmp_path / "fig", "--train", "--tasks", "1",
                                "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "pip install 'icl-verify[train]'" in err
    assert not (tmp_path / "fig").exists()


def test_without_the_extra_everything_else_works(no_extra, tmp_path, capsys):
    path = tmp_path / "w.npz"
    np.savez(path, KQ=np.eye(3)[None], PV=-np.eye(3)[None])
    code, stdout, err = run_cli(capsys, "derive", "--fit", path, "--json", "-")
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "example-prompt", tmp_path / "p.npz", "--n", "5", "--d", "2")
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "simulate", tmp_path / "p.npz", "--eta", "0.1", "--layers", "3")
    assert code == 0, err
    out = tmp_path / "rep"
    code, stdout, err = run_cli(capsys, "report", "--out", out, "--tasks", "1", "--max-n", "20", "--skip-proofs",
                                "--no-progress")
    assert code == 0, err
    text = (out / "report.md").read_text()
    assert "## E4" in text and "pip install 'icl-verify[train]'" in text
    assert not (out / "e4_trained.csv").exists()
    assert "jax" not in sys.modules or sys.modules["jax"] is None


def test_the_package_imports_without_jax(tmp_path):
    """In a fresh interpreter where ``import jax`` fails: every module imports, and the CLI starts."""
    import os
    import subprocess

    code = (
        "import sys, importlib, pkgutil\n"
        "sys.modules['jax'] = sys.modules['optax'] = None\n"
        "import verify, verify.commands, verify.experiments\n"
        "for package in (verify, verify.commands, verify.experiments):\n"
        "    for info in pkgutil.iter_modules(package.__path__):\n"
        "        if info.name != '__main__':\n"
        "            importlib.import_module(package.__name__ + '.' + info.name)\n"
        "from verify.cli import main\n"
        "assert main(['derive', '--kq', '[[1,0],[0,0]]', '--pv', '[[0,0],[0,-1]]']) == 0\n"
        "assert main(['train', '--out', sys.argv[1]]) == 2\n"
        "assert sys.modules['jax'] is None\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "w.npz")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": root}, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == ["icl-verify train: error: train: " + MISSING]
    assert not (tmp_path / "w.npz").exists()


def test_a_diverged_e4_stack_is_refused_naming_e4_options(monkeypatch):
    """E4 trains at a fixed lr, so a diverged stack is refused naming E4's own options (--seed, --train-steps),
    not --lr (which figures and report do not have), and no NaN row is produced."""
    import verify.train as train_module
    from verify.divergence import check_finite
    from verify.errors import PromptError
    from verify.experiments.e4 import e4_trained

    def diverging(config, show=True):
        check_finite([1.0, float("nan")], 0, config.steps, config.lr, "the tokens overflowed", "")

    monkeypatch.setattr(train_module, "train", diverging)
    with pytest.raises(PromptError) as info:
        e4_trained(0, steps=2, show=False)
    message = str(info.value)
    assert message.startswith("seed: ") and "--lr" not in message and "step 1" in message
