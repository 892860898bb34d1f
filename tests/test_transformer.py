"""``icl-verify train --model transformer`` (issue 22): the Flax transformer, its masks, checkpoints and CLI.

Everything trains tiny configurations (one or two layers of width 16, a handful of
points) for a few dozen steps; the module skips with a reason without the ``[train]``
extra (JAX, optax, Flax).  Each property is paired with a deliberately wrong
implementation it must reject (the ``*_mutant`` checks).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import run_cli

pytest.importorskip("jax", reason="needs the [train] extra (JAX)")
pytest.importorskip("optax", reason="needs the [train] extra (optax)")
pytest.importorskip("flax", reason="needs the [train] extra (Flax)")

from verify.icl_tasks import least_squares, sample  # noqa: E402
from verify.masks import attention_mask  # noqa: E402
from verify.transformer import TransformerConfig, mask_table, sequence_mask, tokens  # noqa: E402
from verify.transformer_train import (  # noqa: E402
    evaluate,
    initial_state,
    load_checkpoint,
    predict,
    save_checkpoint,
    train,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(layers=1, heads=2, width=16, d=2, exemplars=6, evaluated=3, queries=2, batch=32, steps=12, lr=3e-3,
            warmup=0, test_tasks=16, checkpoint_every=5)
TINY_CLI = ["--model", "transformer", "--layers", "1", "--heads", "2", "--width", "16", "--d", "2", "--exemplars",
            "6", "--evaluated", "3", "--queries", "2", "--batch", "8", "--test-tasks", "8", "--no-progress"]


def tiny(**changes) -> TransformerConfig:
    return TransformerConfig(**{**TINY, **changes})


def same_tree(a, b) -> bool:
    import jax

    left, right = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(left) == len(right) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(left, right))


# ----------------------------------------------------------------------------- masks and layout

def mask_agrees_with_reads(config: TransformerConfig, n: int, table) -> bool:
    """The transformer's mask is ``reads`` (verify.masks) on the used slots, the diagonal, and nothing else."""
    N, m = config.exemplars, config.queries
    slots = np.concatenate([np.arange(n), N + np.arange(m)])
    expected = np.eye(config.length, dtype=bool)
    expected[np.ix_(slots, slots)] |= attention_mask(config.attention, n, m).T
    return bool(np.array_equal(table, expected))


def test_the_mask_is_the_packages_reads_on_the_used_slots():
    for attention in ("prefix", "causal", "sliding:2", "block:2", "hybrid:1"):
        config = tiny(attention=attention)
        for n in config.positions:
            assert mask_agrees_with_reads(config, int(n), sequence_mask(config, int(n)))
    # mutant: a mask that lets every token read every slot (padding and later queries included) is caught
    config = tiny(attention="causal")
    assert not mask_agrees_with_reads(config, 4, np.ones((config.length, config.length), dtype=bool))


def test_prefix_and_causal_masks_differ_exactly_where_an_example_reads_a_later_example():
    prefix, causal = mask_table(tiny(attention="prefix")), mask_table(tiny(attention="causal"))
    for index, n in enumerate(tiny().positions):
        target, source = np.nonzero(prefix[index] != causal[index])
        assert np.all(source > target) and np.all(source < n)  # [target, source]: only later examples
        assert len(target) == n * (n - 1) // 2  # ... and all of them
        assert np.all(prefix[index] >= causal[index])


def test_a_rule_gives_the_mask_of_the_same_named_attention():
    """``--rule`` goes through verify.rule's parser: 'kv_idx <= q_idx' is causal, 'kv_idx >= 0' prefix."""
    for rule, named in (("kv_idx <= q_idx", "causal"), ("kv_idx >= 0", "prefix")):
        assert np.array_equal(mask_table(tiny(rule=rule, attention="unused")), mask_table(tiny(attention=named)))


def test_tokens_hide_query_labels_and_unused_examples():
    X, Y = sample("linear", np.random.default_rng(0), 3, 8, 2)
    Z = tokens(X, Y, np.array([1, 3, 5]), 6)
    assert np.all(Z[:, 6:, 2] == 0) and np.all(Z[:, 6:, 3] == 1)  # queries: [x; 0; 1]
    assert np.array_equal(Z[1, :3, :2], X[1, :3]) and np.all(Z[1, 3:6] == 0)


def test_padding_slots_are_read_by_nobody():
    """Changing what sits in unused example slots leaves every prediction unchanged (and the mask matters)."""
    config = tiny(attention="causal")
    params = initial_state(config).params
    X, Y = sample("linear", np.random.default_rng(1), 4, config.length, config.d)
    n = np.full(4, 3)
    table = mask_table(config)
    mask = np.broadcast_to(table[0], (4, *table[0].shape))
    Z = tokens(X, Y, n, config.exemplars)
    W = Z.copy()
    W[:, 3:6] = 7.0  # garbage in the padding slots
    assert np.array_equal(predict(config, params, Z, mask), predict(config, params, W, mask))
    # mutant: the all-true mask reads the padding, and the garbage shows
    full = np.ones_like(mask)
    assert not np.allclose(predict(config, params, Z, full), predict(config, params, W, full))


# ----------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def trained():
    config = tiny(steps=150)
    return config, train(config, show=False)


def loss_falls(losses) -> bool:
    return float(np.mean(losses[-20:])) < 0.7 * float(np.mean(losses[:20]))


def test_the_loss_falls(trained):
    assert loss_falls(trained[1].losses)


def test_the_loss_falls_mutant_ascent_is_caught(monkeypatch):
    """Mutant: the update goes up the gradient; the same check must fail."""
    import optax

    import verify.transformer_train as tt

    monkeypatch.setattr(tt, "optimizer", lambda config: optax.chain(optax.adam(config.lr), optax.scale(-1.0)))
    tt._make_step.cache_clear()  # the compiled good step of the same graph is cached
    try:
        assert not loss_falls(train(tiny(steps=150), show=False).losses)
    finally:
        tt._make_step.cache_clear()


def test_evaluation_beats_the_zero_predictor_and_has_the_references(trained):
    config, state = trained
    metrics = evaluate(config, state.params)
    assert metrics["positions"] == [3, 4, 5]
    assert len(metrics["test_mse_per_position"]) == 3
    assert metrics["test_mse"] < metrics["zero_mse"]
    # least squares is exact once n >= d (noiseless), from the same test prompts
    assert metrics["least_squares_mse"] <= 1e-12 * metrics["zero_mse"]


def test_least_squares_reference_is_not_exact_below_d():
    X, Y = sample("linear", np.random.default_rng(2), 64, 6, 4)
    assert np.mean((least_squares(X[:, :2], Y[:, :2], X[:, 4:]) - Y[:, 4:]) ** 2) > 0.1


@pytest.mark.parametrize("task", ["nonlinear", "classification"])
def test_the_other_tasks_train_and_report_their_metric(task):
    config = tiny(task=task, steps=3)
    metrics = evaluate(config, train(config, show=False).params)
    key = "test_accuracy" if task == "classification" else "test_mse"
    assert len(metrics[f"{key}_per_position"]) == 3 and np.isfinite(metrics[key])
    assert ("least_squares_mse" in metrics) is False


def test_training_is_deterministic_under_a_seed():
    a, b = train(tiny(), show=False), train(tiny(), show=False)
    assert a.losses == b.losses and same_tree(a.params, b.params)
    assert train(tiny(seed=1), show=False).losses != a.losses


# ----------------------------------------------------------------------------- checkpoints and resume

def test_a_checkpoint_round_trips(tmp_path, trained):
    config, state = trained
    path = save_checkpoint(state, str(tmp_path / "ckpt.npz"))
    loaded = load_checkpoint(path, config)
    assert loaded.step == state.step and loaded.losses == state.losses
    assert same_tree(loaded.params, state.params) and same_tree(loaded.opt_state, state.opt_state)


def resumed_run(tmp_path, restart=load_checkpoint):
    """Train 12 steps uninterrupted, and 5 + 7 with a checkpoint in between."""
    whole = train(tiny(), show=False)
    path = str(tmp_path / "half.npz")
    train(tiny(steps=5), out=path, show=False)
    resumed = train(tiny(), resume=restart(path, tiny()), show=False)
    return whole, resumed


def test_resume_continues_the_same_trajectory(tmp_path):
    whole, resumed = resumed_run(tmp_path)
    assert resumed.step == whole.step and resumed.losses == whole.losses
    assert same_tree(resumed.params, whole.params)


def test_resume_mutant_that_restarts_adam_is_caught(tmp_path):
    """Mutant: resuming keeps the weights but starts Adam's moments afresh; the trajectory must differ."""
    def fresh_adam(path, config):
        state = load_checkpoint(path, config)
        state.opt_state = initial_state(config).opt_state
        return state

    whole, resumed = resumed_run(tmp_path, fresh_adam)
    assert not same_tree(resumed.params, whole.params)


def test_resume_refuses_other_settings(tmp_path):
    path = str(tmp_path / "c.npz")
    train(tiny(steps=2), out=path, show=False)
    with pytest.raises(Exception, match="width"):
        load_checkpoint(path, tiny(width=32))


# ----------------------------------------------------------------------------- the command line

def test_cli_writes_the_checkpoint_and_the_metrics(capsys, tmp_path):
    out, report = tmp_path / "t.npz", tmp_path / "t.json"
    code, _, err = run_cli(capsys, "train", *TINY_CLI, "--steps", "3", "--out", out, "--json", report)
    assert code == 0, err
    result = json.loads(report.read_text())
    for key in ("test_mse", "test_mse_per_position", "zero_mse", "least_squares_mse", "steps", "seconds",
                "checkpoint"):
        assert key in result
    assert result["steps"] == 3 and result["checkpoint"] == str(out) and out.exists()
    code, _, err = run_cli(capsys, "train", *TINY_CLI, "--steps", "5", "--out", out, "--resume", out)
    assert code == 0, err
    with np.load(out) as data:
        assert int(data["step"]) == 5


@pytest.mark.parametrize("argv, field", [
    (["--width", "15"], "width"),
    (["--task", "regression"], "task"),
    (["--attention", "diagonal"], "attention"),
    (["--rule", "i <"], "rule"),
    (["--rule", "kv_idx <= q_idx", "--attention", "causal"], "rule"),
    (["--k", "2"], "k"),
    (["--evaluated", "6"], "evaluated"),
    (["--batch", "100000000"], "batch"),
    (["--width", "1000000"], "width"),
    (["--steps", "0"], "steps"),
    (["--resume", "missing.npz"], "resume"),
])
def test_bad_options_are_one_line_exit_2_before_training(capsys, tmp_path, argv, field):
    out = tmp_path / "bad.npz"
    code, _, err = run_cli(capsys, "train", *TINY_CLI, *argv, "--out", out)
    assert code == 2 and err.count("\n") == 1 and field in err and "Traceback" not in err
    assert not out.exists()


def test_transformer_options_are_refused_for_the_lsa_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--task", "linear", "--out", tmp_path / "w.npz")
    assert code == 2 and "task" in err


def test_without_flax_the_transformer_is_one_line_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "flax", None)
    code, _, err = run_cli(capsys, "train", *TINY_CLI, "--out", tmp_path / "x.npz")
    assert code == 2 and "[train]" in err and err.count("\n") == 1


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # the child only resets SIGINT, then execs
def test_a_real_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    out = tmp_path / "run.npz"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "verify", "train", *TINY_CLI, "--steps", "1000000",
                             "--checkpoint-every", "5", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first periodic checkpoint: training is under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "saved the checkpoint" in err and "--resume" in err
    with np.load(out) as data:
        step = int(data["step"])
    assert step >= 5 and len(json.loads(str(np.load(out)["config"]))) > 0


# ----------------------------------------------------------------------------- a loss that stops being finite

def huge_lr_config() -> TransformerConfig:
    """The settings of :func:`_huge_lr` (the CPU preset's warm-up of 100 steps)."""
    return tiny(batch=8, test_tasks=8, lr=1e6, steps=20, warmup=100)


def unguarded(monkeypatch) -> None:
    """The old trainer and evaluation: no check of the losses and weights, none of the test outputs."""
    import verify.transformer_train as tt

    monkeypatch.setattr(tt, "check_finite", lambda *args: None)
    monkeypatch.setattr(tt, "checked_predict", lambda config, params, Z, mask, n: tt.predict(config, params, Z, mask))


def _huge_lr(capsys, folder, *argv):
    """A tiny run at peak lr 1e6: its weights overflow float32 during the warm-up (the loss of step 17 is NaN)."""
    folder.mkdir(exist_ok=True)
    return run_cli(capsys, "train", *TINY_CLI, "--lr", "1e6", "--steps", "20", "--out", folder / "t.npz",
                   "--json", folder / "t.json", *argv)


def test_a_huge_lr_stops_the_run_in_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch):
    import re


    code, _, err = _huge_lr(capsys, tmp_path / "guarded", "--checkpoint-every", "100")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "error: lr: the training loss became nan at step" in err and "give a smaller --lr than 1e+06" in err
    assert err.rstrip().endswith("; nothing written") and not list((tmp_path / "guarded").iterdir())
    step = int(re.search(r"at step (\d+) of 20", err).group(1))
    # mutation check: without the guard (the old trainer) the same run reports success with NaN metrics and leaves
    # a checkpoint whose first non-finite loss is the step the guard named; --resume refuses that checkpoint
    unguarded(monkeypatch)
    code, _, err = _huge_lr(capsys, tmp_path / "unguarded", "--checkpoint-every", "100")
    assert code == 0, err
    result = json.loads((tmp_path / "unguarded" / "t.json").read_text())
    assert result["test_mse"] is None and result["final_loss"] is None
    with np.load(tmp_path / "unguarded" / "t.npz") as data:
        losses = data["losses"]
    assert np.all(np.isfinite(losses[:step])) and not np.isfinite(losses[step])
    with pytest.raises(Exception, match=r"^resume: .* non-finite"):
        load_checkpoint(str(tmp_path / "unguarded" / "t.npz"), huge_lr_config())


def test_a_diverged_run_keeps_its_last_finite_checkpoint(capsys, tmp_path):
    """Checkpoints every step: the last finite one stays, the line names it, it evaluates, and resuming from it
    diverges again at the same step without replacing it."""
    import re

    folder = tmp_path / "run"
    code, _, err = _huge_lr(capsys, folder, "--checkpoint-every", "1")
    assert code == 2 and err.count("\n") == 1, err
    bad = int(re.search(r"at step (\d+) of 20", err).group(1))
    kept = int(re.search(f"{re.escape(str(folder / 't.npz'))} keeps the checkpoint of step (\\d+)", err).group(1))
    assert 0 < kept < bad and f"--steps {kept} evaluates it" in err and not (folder / "t.json").exists()
    before = (folder / "t.npz").read_bytes()
    state = load_checkpoint(str(folder / "t.npz"), huge_lr_config())  # finite, or it would refuse
    assert state.step == kept and all(np.isfinite(state.losses))
    code, _, again = _huge_lr(capsys, folder, "--checkpoint-every", "1", "--resume", folder / "t.npz")
    assert code == 2 and f"at step {bad} of 20" in again and again.rstrip().endswith("; nothing written"), again
    assert (folder / "t.npz").read_bytes() == before
    code, _, err = _huge_lr(capsys, folder, "--resume", folder / "t.npz", "--steps", str(kept))
    assert code == 0 and json.loads((folder / "t.json").read_text())["steps"] == kept, err


def test_the_final_weights_are_checked(monkeypatch):
    """Two steps at lr 1e6: both losses are finite but the second update overflows the weights; the check of the
    weights names step 2.  Mutation check: with that check made blind, the run returns NaN weights."""
    import jax

    import verify.transformer_train as tt
    from verify.divergence import Diverged

    config = tiny(batch=8, lr=1e6, steps=2)
    with pytest.raises(Diverged, match=r"^lr: the training loss became nan at step 2 of 2 ") as caught:
        train(config, show=False)
    assert caught.value.step == 2
    monkeypatch.setattr(tt, "total", lambda arrays: 0.0)
    state = train(config, show=False)
    assert np.all(np.isfinite(state.losses))
    assert not all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(state.params))


def test_ctrl_c_never_saves_a_non_finite_state(tmp_path, monkeypatch):
    """Ctrl-C after the loss diverged (before the chunk was checked): the divergence is reported, nothing saved;
    at a normal lr the same Ctrl-C saves the checkpoint (Interrupted)."""
    import verify.transformer_train as tt
    from verify.divergence import Diverged
    from verify.errors import Interrupted

    batch = tt.training_batch

    def interrupted_at_5(config, step, table):
        if step == 5:
            raise KeyboardInterrupt
        return batch(config, step, table)

    monkeypatch.setattr(tt, "training_batch", interrupted_at_5)
    out = tmp_path / "c.npz"
    with pytest.raises(Diverged, match="nothing written"):
        train(tiny(batch=8, lr=1e6, checkpoint_every=100), out=str(out), show=False)
    assert not out.exists()
    with pytest.raises(Interrupted, match="step 5"):
        train(tiny(batch=8, checkpoint_every=100), out=str(out), show=False)
    assert load_checkpoint(str(out), tiny(batch=8, checkpoint_every=100)).step == 5


def test_outputs_that_overflow_are_refused_not_scored(trained, monkeypatch):
    """Finite weights whose test outputs overflow: evaluate refuses naming --lr (classification's argmax would
    otherwise score NaN outputs as class 0).  Mutation check: without the check the test MSE is inf."""
    import verify.transformer_train as tt
    from verify.divergence import Diverged

    config, state = trained
    real = tt.predict
    monkeypatch.setattr(tt, "predict", lambda *args: np.full_like(real(*args), np.inf))
    with pytest.raises(Diverged, match=r"^lr: the trained model's outputs on the test tasks at n = 3 overflow"):
        evaluate(config, state.params)
    unguarded(monkeypatch)
    assert not np.isfinite(evaluate(config, state.params)["test_mse"])


def test_a_non_finite_initial_loss_names_the_seed():
    from verify.divergence import Diverged
    from verify.transformer_train import check_state

    state = initial_state(tiny())
    state.losses = [np.float32("nan")]
    with pytest.raises(Diverged, match=r"^seed: the training loss is nan at step 0, before any update"):
        check_state(state, 0, False)
    state.losses = [1.0, np.inf]
    with pytest.raises(Diverged, match=r"^lr: the training loss became inf at step 1 of 12 .*; nothing more$"):
        check_state(state, 0, False, "; nothing more")


# ----------------------------------------------------------------------------- E5

def test_e5_rows_summary_and_reading(tmp_path, monkeypatch):
    from verify.experiments import e5

    monkeypatch.setattr(e5, "SIZES", {**e5.SIZES, "layers": 1, "width": 8, "exemplars": 6, "evaluated": 2,
                                      "test_tasks": 8})
    rows = e5.e5_transformer(0, steps=2, tasks=("linear", "classification"), seeds=2)
    assert len(rows) == 2 * 2 * 2 * 2  # tasks x models x seeds x positions
    e5.write_e5(rows, tmp_path)
    back = e5.read_e5(tmp_path)
    assert [r["value"] for r in back] == [r["value"] for r in rows]
    lines = "\n".join(e5.e5_lines(back, 2))
    summary = {(s["task"], s["model"]): s for s in e5.summarize(back)}
    for task in ("linear", "classification"):
        assert f"{summary[(task, 'prefix')]['mean']:.4g}" in lines  # quoted from the rows
    assert (tmp_path / "e5_transformer.png").stat().st_size > 0


def test_e5_shape_reads_the_direction_of_each_metric():
    """Prefix better means lower MSE but higher accuracy; a mutant that compares both one way is caught."""
    from verify.experiments import e5

    def rows(task, metric, prefix, causal):
        return [{"task": task, "model": model, "seed": 0, "n": 3, "metric": metric, "value": value,
                 "zero_mse": 1.0, "least_squares_mse": 0.0, "seconds": 0.0}
                for model, value in (("prefix", prefix), ("causal", causal))]

    data = rows("linear", "mse", 0.1, 0.2) + rows("classification", "accuracy", 0.9, 0.8)
    assert all(e5.e5_shape(data).values())
    flipped = rows("linear", "mse", 0.3, 0.2) + rows("classification", "accuracy", 0.7, 0.8)
    assert not any(e5.e5_shape(flipped).values())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e5, "better", lambda metric, a, b: a < b)  # mutant: accuracy read as an error
        assert not all(e5.e5_shape(data).values())


def test_e5_refuses_a_model_whose_loss_is_not_finite(monkeypatch):
    """At lr 1e6 E5 stops in one line naming --seed instead of returning NaN rows; mutation check: without the
    guard the rows hold NaN test errors."""
    from verify.errors import PromptError
    from verify.experiments import e5

    monkeypatch.setattr(e5, "SIZES", {**e5.SIZES, "layers": 1, "width": 16, "exemplars": 6, "evaluated": 3,
                                      "batch": 8, "lr": 1e6, "warmup": 0, "test_tasks": 8})
    with pytest.raises(PromptError, match=r"^seed: E5's linear prefixLM transformer of seed 0 did not train: the "
                                          r"training loss became nan at step 2 of 5 \(.*\), at E5's lr 1e\+06; "
                                          r"nothing written: give another --seed"):
        e5.e5_transformer(0, steps=5, tasks=("linear",), seeds=1)
    unguarded(monkeypatch)
    rows = e5.e5_transformer(0, steps=5, tasks=("linear",), models=("prefix",), seeds=1)
    assert rows and not np.all(np.isfinite([r["value"] for r in rows]))
