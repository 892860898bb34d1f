"""Issue 7's CLI options: named and custom masks, w0, eta schedules, preconditioner, multi-output."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import random_prompt, run_cli, run_json, save_prompt

from verify.algorithms import gradient_descent, online_dynamics
from verify.masks import attention_mask
from verify.normalizers import normalizer


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(4)
    X, y, Xq, yq = random_prompt(rng, 8, 3, m=2, noise=0.1)
    return tmp_path, save_prompt(tmp_path / "p.npz", X, y, Xq, yq), (X, y, Xq, yq)


@pytest.mark.parametrize("attention", ["sliding:3", "block:3", "hybrid:4"])
@pytest.mark.parametrize("norm", ["constant", "count"])
def test_named_masks_simulate_and_mask_file_agree(capsys, data, attention, norm):
    tmp, path, (X, y, Xq, _) = data
    named = run_json(capsys, "simulate", path, "--attention", attention, "--layers", 5, "--eta", 0.1,
                     "--normalization", norm)
    mask = attention_mask(attention, 8, 2)
    np.save(tmp / "mask.npy", mask)
    custom = run_json(capsys, "simulate", path, "--attention-mask", tmp / "mask.npy", "--layers", 5, "--eta", 0.1,
                      "--normalization", norm)
    assert np.allclose(named["query_predictions"], custom["query_predictions"], atol=1e-14)
    W = online_dynamics(X, y[:, None], mask, normalizer(norm, mask), [0.1] * 5)
    assert np.allclose(named["query_predictions"], np.einsum("md,lmd->lm", Xq, W[:, 8:, 0]), atol=1e-12)
    for cmd in (["stationary"], ["rate", "--eta", "0.1"]):
        a = run_json(capsys, cmd[0], path, "--attention", attention, *cmd[1:], "--normalization", norm)
        b = run_json(capsys, cmd[0], path, "--attention-mask", tmp / "mask.npy", *cmd[1:], "--normalization", norm)
        a.pop("attention"), b.pop("attention")
        # a named attention runs the structured engine, a mask file the general one: equal to rounding
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], (bool, str)) or a[key] is None:
                assert a[key] == b[key], key
            else:
                assert np.allclose(a[key], b[key], rtol=1e-12, atol=1e-14), key


def test_w0_schedule_preconditioner(capsys, data):
    tmp, path, (X, y, Xq, _) = data
    w0 = np.array([0.3, -0.2, 1.0])
    gamma = np.diag([1.0, 0.5, 2.0])
    np.save(tmp / "w0.npy", w0)
    np.save(tmp / "g.npy", gamma)
    etas = [0.1, 0.05, 0.02]
    out = run_json(capsys, "simulate", path, "--attention", "prefix", "--eta-schedule", "0.1,0.05,0.02",
                   "--w0", tmp / "w0.npy", "--preconditioner", tmp / "g.npy")
    W = gradient_descent(X, y[:, None], etas, 1.0, w0, gamma)
    assert np.allclose(out["query_predictions"], [Xq @ w[0] for w in W], atol=1e-12)
    assert out["max_abs_gap"] < 1e-12
    st = run_json(capsys, "stationary", path, "--attention", "prefix", "--w0", tmp / "w0.npy")
    w = np.array(st["query_weight"])
    assert np.allclose(X @ w, X @ np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-9)  # fits like least squares


def test_multi_output(capsys, tmp_path):
    rng = np.random.default_rng(8)
    X, Y, Xq, Yq = random_prompt(rng, 7, 3, m=2, k=2)
    path = save_prompt(tmp_path / "m.npz", X, Y, Xq, Yq)
    out = run_json(capsys, "simulate", path, "--attention", "causal", "--layers", 3, "--eta", 0.1)
    assert np.shape(out["query_predictions"]) == (4, 2, 2)
    assert out["max_abs_gap"] < 1e-12
    st = run_json(capsys, "stationary", path, "--attention", "causal")
    assert np.shape(st["query_weight"]) == (2, 3)


@pytest.mark.parametrize("case", ["shape", "dtype", "reads_query", "query_reads_nothing", "missing", "pickle"])
def test_bad_mask_files(capsys, data, case):
    tmp, path, _ = data
    mask = attention_mask("causal", 8, 2)
    f = tmp / "bad.npy"
    if case == "shape":
        np.save(f, mask[:9, :9])
    elif case == "dtype":
        np.save(f, mask.astype(int))
    elif case == "reads_query":
        mask[9, 8] = True
        np.save(f, mask)
    elif case == "query_reads_nothing":
        mask[:, 9] = False
        np.save(f, mask)
    elif case == "pickle":
        np.save(f, np.array([object()] * 3, dtype=object), allow_pickle=True)
    out = tmp / "o.json"
    code, _, err = run_cli(capsys, "rate", path, "--attention-mask", f, "--eta", "0.1", "--json", out)
    assert code == 2 and err.count("\n") == 1 and "attention-mask" in err and not out.exists()


@pytest.mark.parametrize("opt,value", [("--w0", np.ones(4)), ("--preconditioner", np.ones((3, 2))),
                                       ("--w0", np.array([np.nan, 1, 1]))])
def test_bad_construction_files(capsys, data, opt, value):
    tmp, path, _ = data
    np.save(tmp / "f.npy", value)
    code, _, err = run_cli(capsys, "simulate", path, opt, tmp / "f.npy", "--eta", "0.1")
    assert code == 2 and opt.strip("-") in err


@pytest.mark.parametrize("bad", ["0.1,abc", "0.1,-0.2", "0.1,nan"])
def test_bad_schedule(capsys, data, bad):
    _, path, _ = data
    code, _, err = run_cli(capsys, "simulate", path, "--eta-schedule", bad)
    assert code == 2 and "eta-schedule" in err


def test_no_stationary_prediction_is_said_clearly(capsys, tmp_path):
    """Symmetric singular iteration (n > d, full attention among examples) whose null space reaches a
    query that reads only some of the examples: the query's weight drifts, no stationary prediction."""
    rng = np.random.default_rng(1)
    X, y, Xq, _ = random_prompt(rng, 5, 2, m=1, noise=0.5)
    path = save_prompt(tmp_path / "p.npz", X, y, Xq)
    mask = attention_mask("prefix", 5, 1)
    mask[:3, 5] = False
    np.save(tmp_path / "mask.npy", mask)
    code, _, err = run_cli(capsys, "stationary", path, "--attention-mask", tmp_path / "mask.npy")
    assert code == 2 and "no stationary prediction" in err
    # and the dynamics indeed drift: the query prediction keeps moving linearly in the layer count
    c = normalizer("constant", mask)
    W = online_dynamics(X, y[:, None], mask, c, [0.05] * 4000)
    drift = W[-1, 5, 0] - W[-2, 5, 0]
    assert np.linalg.norm(drift) > 1e-6
