"""E3: transient growth of the residual iteration at finite depth (SPEC P11, issue 8).

``d = 16``, ``n = 40``, 64 tasks, ``x ~ U(-1, 1)^d + mu_x`` with ``mu_x`` in
{0, 1, 2, 3}; for each model, ``eta`` is a fraction 0.1, 0.3, 0.5, 0.7, 0.9 of
that model's own stable bound on that task (``verify.rates.stable_eta_max_of``:
``2c / lambda_max(X X^T)`` for prefix, ``2c / max_j ||x_j||^2`` for causal).  The
transient peak is ``max_{l <= 50} ||(I - eta D^{-1} M)^l||_2``
(``verify.rates.transient``); the CSV holds its median over tasks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import masks, normalizers  # the model, looked up at call time
from ..lemma import residual_operator
from ..rates import spectrum, stable_eta_max_of, transient
from .tasks import progress, sample_tasks

E3_COLUMNS = ("mu_x", "eta_fraction", "model", "median_peak")
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
MU_X = (0, 1, 2, 3)
#: SPEC section 4's setting: the defaults of :func:`e3_transient` (c = 1), stated by the figure and the report
SETTING: dict[str, Any] = {"d": 16, "n": 40, "layers": 50, "scale": 1.0}
MODELS = {"prefix": "prefix", "causal": "causal"}


def task_peaks(X, spec: str, fractions, layers: int, scale: float = 1.0) -> np.ndarray:
    """Transient peaks of one task ``X (n, d)`` at ``eta = f * stable_eta_max``, one per fraction."""
    return tasks_peaks(X[None], spec, fractions, layers, scale)[0]


def tasks_peaks(X, spec: str, fractions, layers: int, scale: float = 1.0) -> np.ndarray:
    """Transient peaks of tasks ``X (T, n, d)``, ``(T, len(fractions))``: one stack of fractions per task."""
    n = X.shape[1]
    mask = masks.attention_mask(spec, n, 0)
    c = normalizers.normalizer("constant", mask, scale)
    N = np.stack([residual_operator(x, mask, c) for x in X])
    top = np.array([stable_eta_max_of(spectrum(x, mask, c, attention=spec)) for x in X])
    etas = top[:, None] * np.asarray(fractions, dtype=float)[None, :]
    stack = np.eye(n) - etas[..., None, None] * N[:, None]  # (T, fractions, n, n)
    # every task and fraction in one stack: each layer is a few batched products over all of them
    return transient(stack, layers)[0]


def setting_text(tasks: int, s: dict = SETTING, fractions=FRACTIONS) -> str:
    """The setting in words: ``d``, ``n``, ``c``, the step sizes (fractions of each task's stable bound), depth."""
    return (f"d = {s['d']}, n = {s['n']} examples, c = {s['scale']:g}, eta = {min(fractions):g} to "
            f"{max(fractions):g} times each task's own stable bound, {s['layers']} layers, {tasks} tasks")


def e3_transient(tasks: int = 64, seed: int = 0, d: int = SETTING["d"], n: int = SETTING["n"], mus=MU_X,
                 fractions=FRACTIONS, layers: int = SETTING["layers"], models: dict | None = None,
                 show: bool = False) -> list:
    """Median over tasks of the transient peak, per ``(mu_x, eta_fraction, model)``.

    Returns rows ``{mu_x, eta_fraction, model, median_peak}``.
    """
    models = models or MODELS
    jobs = [(index, mu_x, label) for index, mu_x in enumerate(mus) for label in models]
    samples = [sample_tasks(np.random.default_rng([seed, 3, index]), tasks, n, 0, d, mu_x)[0]
               for index, mu_x in enumerate(mus)]
    rows = []
    for index, mu_x, label in progress(jobs, "E3 transient peaks", show):
        peaks = tasks_peaks(samples[index], models[label], fractions, layers, SETTING["scale"])
        rows += [{"mu_x": mu_x, "eta_fraction": f, "model": label, "median_peak": float(np.median(peaks[:, i]))}
                 for i, f in enumerate(fractions)]
    return rows
