"""The CLI contract of simulate / stationary / rate and every bad-input case (issue 3)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_prompt, run_cli, run_json, save_prompt

from verify.algorithms import causal_stationary, count_causal_stationary, gradient_descent, least_squares


@pytest.fixture
def prompt(tmp_path):
    rng = np.random.default_rng(0)
    X, y, Xq, yq = random_prompt(rng, 9, 4, m=3, shift=0.5, noise=0.1, scales=[0.5, 1, 2, 1])
    return save_prompt(tmp_path / "p.npz", X, y, Xq, yq), (X, y, Xq, yq)


def test_simulate_keys_and_values(capsys, prompt):
    path, (X, y, Xq, yq) = prompt
    L, eta = 6, 0.05
    out = run_json(capsys, "simulate", path, "--attention", "prefix", "--layers", L, "--eta", eta)
    assert np.shape(out["query_predictions"]) == (L + 1, 3)
    assert np.shape(out["example_residuals"]) == (L + 1, 9)
    assert np.shape(out["algorithm_query_predictions"]) == (L + 1, 3)
    assert len(out["query_mse"]) == L + 1
    W = gradient_descent(X, y[:, None], [eta] * L)
    expect = np.array([Xq @ w[0] for w in W])
    assert np.allclose(out["query_predictions"], expect, rtol=1e-10, atol=1e-12)
    assert np.allclose(out["example_residuals"], [y - X @ w[0] for w in W], rtol=1e-10, atol=1e-12)
    assert np.allclose(out["query_mse"], np.mean((expect - yq) ** 2, axis=1))
    assert 0 <= out["max_abs_gap"] < 1e-12
    assert out["query_predictions"][0] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("norm", ["constant", "count"])
def test_simulate_causal(capsys, prompt, norm):
    path, (X, y, Xq, yq) = prompt
    scale = ["--scale", 2] if norm == "constant" else []  # --scale with count is refused (test_cli_options.py)
    out = run_json(capsys, "simulate", path, "--attention", "causal", "--layers", 4, "--eta", 0.1,
                   "--normalization", norm, *scale)
    assert out["max_abs_gap"] < 1e-12
    assert np.allclose(out["query_predictions"], out["algorithm_query_predictions"], atol=1e-12)


def test_stationary_prefix_and_causal(capsys, prompt):
    path, (X, y, Xq, yq) = prompt
    out = run_json(capsys, "stationary", path, "--attention", "prefix")
    w = least_squares(X, y[:, None])[0]
    assert np.allclose(out["example_weights"], np.tile(w, (9, 1)), atol=1e-9)
    assert np.allclose(out["query_weight"], w, atol=1e-9)
    assert np.allclose(out["query_predictions"], Xq @ w, atol=1e-9)
    out = run_json(capsys, "stationary", path, "--attention", "causal")
    Wc = causal_stationary(X, y[:, None])[:, 0]
    assert np.allclose(out["example_weights"], Wc, atol=1e-9)
    assert np.allclose(out["query_weight"], Wc[-1], atol=1e-9)
    out = run_json(capsys, "stationary", path, "--attention", "causal", "--normalization", "count")
    assert np.allclose(out["example_weights"], count_causal_stationary(X, y[:, None])[:, 0], atol=1e-9)


def test_rate_keys(capsys, prompt):
    path, (X, *_) = prompt
    sq = np.einsum("nd,nd->n", X, X)
    out = run_json(capsys, "rate", path, "--attention", "causal", "--eta", 0.2, "--scale", 1.5)
    assert np.isclose(out["rate"], np.max(np.abs(1 - 0.2 * sq / 1.5)))
    assert np.isclose(out["stable_eta_max"], 3.0 / sq.max())
    assert out["stable"] is True
    for key in ("transient_peak", "peak_layer", "depth_safe_eta"):
        assert key not in out  # the transient keys cost powers of an n x n matrix: only with --layers
    out = run_json(capsys, "rate", path, "--attention", "causal", "--eta", 0.2, "--scale", 1.5, "--layers", 20)
    for key in ("transient_peak", "peak_layer", "depth_safe_eta"):
        assert key in out
    out = run_json(capsys, "rate", path, "--attention", "prefix", "--eta", 100)
    assert out["stable"] is False and out["rate"] >= 1


def test_unstable_simulate_is_a_result_not_a_crash(capsys, prompt):
    path, _ = prompt
    code, out, err = run_cli(capsys, "simulate", path, "--attention", "causal", "--layers", 400, "--eta", 50)
    assert code == 0 and "UNSTABLE" in out and err == ""
    out = run_json(capsys, "simulate", path, "--attention", "causal", "--layers", 400, "--eta", 50)
    assert out["stable"] is False


def test_human_summary_without_json(capsys, prompt):
    path, _ = prompt
    code, out, _ = run_cli(capsys, "rate", path, "--attention", "prefix", "--eta", 0.1)
    assert code == 0 and "rate" in out


def test_json_to_file(capsys, prompt, tmp_path):
    path, _ = prompt
    target = tmp_path / "out.json"
    code, _, _ = run_cli(capsys, "stationary", path, "--attention", "causal", "--json", target)
    assert code == 0 and target.exists()


def _bad(tmp_path, name, **arrays):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return str(path)


GOOD = dict(X=np.eye(3), y=np.ones(3), Xq=np.ones((2, 3)))


@pytest.mark.parametrize("case", [
    "missing_file", "missing_key", "wrong_x_shape", "wrong_y_shape", "wrong_xq_dim", "n_zero", "nan", "inf",
    "object_array", "eta_zero", "eta_negative", "layers_negative", "unknown_attention", "unknown_normalization",
    "partial_read_mask", "bad_yq", "string_dtype",
])
def test_bad_input_exit_2_one_line_nothing_written(capsys, tmp_path, case):
    args = ["simulate", None, "--attention", "causal", "--layers", "2", "--eta", "0.1"]
    arrays = dict(GOOD)
    if case == "missing_file":
        args[1] = str(tmp_path / "nope.npz")
    elif case == "missing_key":
        arrays.pop("Xq")
    elif case == "wrong_x_shape":
        arrays["X"] = np.ones(3)
    elif case == "wrong_y_shape":
        arrays["y"] = np.ones(4)
    elif case == "wrong_xq_dim":
        arrays["Xq"] = np.ones((2, 4))
    elif case == "n_zero":
        arrays.update(X=np.zeros((0, 3)), y=np.zeros(0))
    elif case == "nan":
        arrays["X"] = np.array([[1, np.nan, 0], [0, 1, 0], [0, 0, 1]])
    elif case == "inf":
        arrays["y"] = np.array([1, np.inf, 0])
    elif case == "object_array":
        arrays["y"] = np.array([1, "a", None], dtype=object)
    elif case == "eta_zero":
        args[-1] = "0"
    elif case == "eta_negative":
        args[-1] = "-0.1"
    elif case == "layers_negative":
        args[5] = "-1"
    elif case == "unknown_attention":
        args[3] = "bidirectional"
    elif case == "unknown_normalization":
        args += ["--normalization", "softmax"]
    elif case == "partial_read_mask":  # a query reads a null vector of N: no stationary prediction (SPEC 7)
        arrays = dict(X=np.array([[1.0], [2], [3], [1], [1]]), y=np.ones(5), Xq=np.ones((1, 1)))
        mask_path = tmp_path / "mask.npy"
        np.save(mask_path, partial_read_mask(5, 1))
        args = ["stationary", None, "--attention-mask", str(mask_path)]
    elif case == "bad_yq":
        arrays["yq"] = np.ones(5)
    elif case == "string_dtype":
        arrays["X"] = np.array([["a", "b", "c"]] * 3)
    if args[1] is None:
        args[1] = _bad(tmp_path, case, **arrays)
    out_file = tmp_path / "out.json"
    code, out, err = run_cli(capsys, *args, "--json", out_file)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and "error" in err
    assert not out_file.exists()


def test_error_names_the_field(capsys, tmp_path):
    path = _bad(tmp_path, "p", X=np.eye(3), y=np.ones(3), Xq=np.ones((2, 4)))
    _, _, err = run_cli(capsys, "rate", path, "--eta", "0.1")
    assert "Xq" in err and "(m, 3)" in err


def partial_read_mask(n: int, m: int, block: int = 4) -> np.ndarray:
    """Blocks of ``block``; a later example reads only the first member of each earlier block; queries read all.
    ``mask[i, j]``: token ``j`` reads token ``i`` (written from the rule, not from the package)."""
    mask = np.zeros((n + m, n + m), dtype=bool)
    for j in range(n + m):
        for i in range(n):
            same = i // block == j // block
            earlier_first = i // block < j // block and i % block == 0
            mask[i, j] = j >= n or same or earlier_first
    return mask


def test_zero_example_is_a_null_direction_nobody_sees(capsys, tmp_path):
    """SPEC section 7: a zero example's null direction is read by nobody, so it does not make the stack unstable;
    the rate is over the nonzero eigenvalues ||x_j||^2 / c (here 1 and 1: rate |1 - eta|)."""
    X = np.array([[1.0, 0], [0, 0], [0, 1]])
    path = _bad(tmp_path, "z", X=X, y=np.array([1.0, 5.0, 2.0]), Xq=np.ones((1, 2)))
    out = run_json(capsys, "rate", path, "--attention", "causal", "--eta", 0.5)
    assert out["stable"] is True and abs(out["rate"] - 0.5) <= 1e-15 and abs(out["rate_gap"] - 0.5) <= 1e-15
    out = run_json(capsys, "rate", path, "--attention", "prefix", "--eta", 0.5)
    assert out["stable"] is True
    # online GD skips the zero example (its residual never moves): w = (1, 0) then (1, 2)
    out = run_json(capsys, "stationary", path, "--attention", "causal")
    assert np.allclose(out["query_weight"], [1.0, 2.0], atol=1e-12)


def test_partial_reads_of_a_singular_block_are_unstable_at_every_eta(capsys, tmp_path):
    """Issue 20: X = (1, 2, 3, 1, 1), blocks of 4, later examples read only each earlier block's first member:
    a query reads a null vector of N, so rate is not stable at any eta and stationary refuses."""
    path = _bad(tmp_path, "p", X=np.array([[1.0], [2], [3], [1], [1]]), y=np.ones(5), Xq=np.ones((1, 1)))
    mask_path = tmp_path / "mask.npy"
    np.save(mask_path, partial_read_mask(5, 1))
    for eta in (1e-6, 0.01, 0.05, 0.5):
        out = run_json(capsys, "rate", path, "--attention-mask", str(mask_path), "--eta", eta)
        assert out["stable"] is False and out["stable_eta_max"] == 0 and "null vector" in out["unstable_because"]
    code, _, err = run_cli(capsys, "stationary", path, "--attention-mask", str(mask_path))
    assert code == 2 and "null vector" in err
    # the same prompt where every reader reads whole blocks (block:4) is stable
    out = run_json(capsys, "rate", path, "--attention", "block:4", "--eta", 0.01)
    assert out["stable"] is True


def test_console_script_and_module_agree(tmp_path):
    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(1), 5, 2))
    env = dict(os.environ)
    cmd = ["stationary", path, "--attention", "causal", "--json", "-"]
    a = subprocess.run([sys.executable, "-m", "verify", *cmd], capture_output=True, text=True, env=env)
    assert a.returncode == 0, a.stderr
    bad = subprocess.run([sys.executable, "-m", "verify", "rate", path, "--eta", "nan"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
