"""E2: query error of the causal stationary point vs context length (SPEC section 4).

``d = 16``, ``n = 20, 40, ..., 300``, 200 queries, ``x ~ U(-1, 1)^d + mu_x`` with
``mu_x`` in {0, 1, 2, 3}, 64 tasks, noiseless (``noise`` adds label noise to the
examples).  The causal stationary point is online gradient descent (SPEC P6,
``verify.algorithms.causal_stationary_batch``); least squares (SPEC P3) is the
reference.  One pass over 300 positions gives ``w*_n`` for every ``n`` at once:
the stationary weight at position ``n`` depends on the first ``n`` examples only.
"""
from __future__ import annotations

import numpy as np

from ..algorithms import causal_stationary_batch, least_squares_prefixes
from ..errors import PromptError
from .tasks import progress, sample_tasks

E2_COLUMNS = ("n", "mu_x", "causal_query_mse", "least_squares_query_mse")
MU_X = (0, 1, 2, 3)


def context_lengths(max_n: int = 300, step: int = 20) -> list:
    """``n = 20, 40, ..., max_n``."""
    if max_n < step:
        raise PromptError(f"max-n: E2 needs at least one context length; give --max-n >= {step}")
    return list(range(step, max_n + 1, step))


def query_mse(W, Xq, Yq) -> np.ndarray:
    """``mean_q (W_s x_q - y_q)^2`` for every weight ``s``: ``W (..., S, k, d)``, ``Xq (..., m, d)``,
    ``Yq (..., m, k)``; returns ``(..., S)``.  The ``S`` weights of a task share one BLAS call."""
    S, k, d = W.shape[-3:]
    predictions = W.reshape(W.shape[:-3] + (S * k, d)) @ np.swapaxes(Xq, -1, -2)  # (..., S k, m)
    predictions = predictions.reshape(W.shape[:-3] + (S, k, Xq.shape[-2]))
    return np.mean((predictions - np.swapaxes(Yq, -1, -2)[..., None, :, :]) ** 2, axis=(-2, -1))


def e2_tasks(tasks: int = 64, seed: int = 0, d: int = 16, m: int = 200, max_n: int = 300, mus=MU_X,
             noise: float = 0.0):
    """``(ns, X, Y, Xq, Yq)`` with ``X (len(mus), tasks, max_n, d)`` etc.; one random stream per ``mu_x``."""
    ns = context_lengths(max_n)
    draws = [sample_tasks(np.random.default_rng([seed, 2, index]), tasks, ns[-1], m, d, mu_x, noise)
             for index, mu_x in enumerate(mus)]
    return (ns, *(np.stack(parts) for parts in zip(*draws)))


def e2_errors(X, Y, Xq, Yq, ns, stationary=causal_stationary_batch, show: bool = False):
    """Query MSE averaged over tasks (axis 1) of ``w*_n`` and of least squares: two ``(len(mus), len(ns))``."""
    solvers = {"causal": lambda: stationary(X, Y, positions=[n - 1 for n in ns]),  # w*_n
               "least squares": lambda: least_squares_prefixes(X, Y, ns)}
    mse = {}
    for name in progress(solvers, "E2 stationary points", show):
        W = solvers[name]()  # (mu_x, tasks, len(ns), k, d)
        mse[name] = query_mse(W, Xq, Yq).mean(axis=1)
    return mse["causal"], mse["least squares"]


def e2_stationary(tasks: int = 64, seed: int = 0, d: int = 16, m: int = 200, max_n: int = 300,
                  mus=MU_X, noise: float = 0.0, stationary=causal_stationary_batch, show: bool = False) -> list:
    """Query MSE of ``w*_n`` (causal) and of least squares on the first ``n`` examples.

    ``stationary(X, Y, positions) -> (..., len(positions), k, d)`` is the causal stationary
    point at those (0-based) positions over leading task axes (a test hands in a wrong one).  All ``mu_x`` and
    tasks run as one batch.  Returns rows
    ``{n, mu_x, causal_query_mse, least_squares_query_mse}``, averaged over tasks.
    """
    ns, X, Y, Xq, Yq = e2_tasks(tasks, seed, d, m, max_n, mus, noise)
    causal, ls = e2_errors(X, Y, Xq, Yq, ns, stationary, show)
    return [{"n": n, "mu_x": mu_x, "causal_query_mse": float(causal[i, t]),
             "least_squares_query_mse": float(ls[i, t])}
            for i, mu_x in enumerate(mus) for t, n in enumerate(ns)]
