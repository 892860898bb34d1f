"""Small shared helpers for the tests (no model code here: the model lives in verify/)."""
from __future__ import annotations

import json

import numpy as np

from verify.cli import main


def run_cli(capsys, *argv):
    """Run ``icl-verify argv`` in-process; return ``(exit_code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    """Run a command with ``--json -`` and parse its output."""
    code, out, err = run_cli(capsys, *argv, "--json", "-")
    assert code == 0, err
    return json.loads(out)


def save_prompt(path, X, y, Xq, yq=None, **extra):
    arrays = {"X": np.asarray(X, float), "y": np.asarray(y, float), "Xq": np.asarray(Xq, float), **extra}
    if yq is not None:
        arrays["yq"] = np.asarray(yq, float)
    np.savez(path, **arrays)
    return str(path)


def random_prompt(rng, n, d, m=3, shift=0.0, noise=0.0, scales=None, k=None):
    """Anisotropic / shifted / noisy random prompt arrays ``(X, y, Xq, yq)``."""
    scales = np.ones(d) if scales is None else np.asarray(scales)
    X = (rng.uniform(-1, 1, (n, d)) + shift) * scales
    Xq = (rng.uniform(-1, 1, (m, d)) + shift) * scales
    w = rng.standard_normal((d,) if k is None else (d, k))
    y = X @ w + noise * rng.standard_normal((X @ w).shape)
    return X, y, Xq, Xq @ w
