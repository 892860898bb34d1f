"""Random regression tasks shared by the experiments (SPEC section 4).

A task is ``x ~ U(-1, 1)^d + mu_x`` for examples and queries and ``w ~ N(0, I_d)``;
labels ``y = w x`` (plus optional Gaussian label noise on the examples only, so
query errors are measured against the true ``w``).
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm


def sample_tasks(rng: np.random.Generator, tasks: int, n: int, m: int, d: int, mu_x: float = 0.0,
                 noise: float = 0.0):
    """Draw ``tasks`` prompts at once.

    Returns
    -------
    X : (tasks, n, d), Y : (tasks, n, 1), Xq : (tasks, m, d), Yq : (tasks, m, 1)
        ``Y = X w + noise * eps``, ``Yq = Xq w``.
    """
    X = rng.uniform(-1.0, 1.0, (tasks, n, d)) + mu_x
    Xq = rng.uniform(-1.0, 1.0, (tasks, m, d)) + mu_x
    w = rng.standard_normal((tasks, d, 1))
    Y = X @ w
    if noise:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return X, Y, Xq, Xq @ w


def progress(iterable, desc: str, show: bool):
    """A tqdm bar on stderr (``show=False`` silences it, e.g. in tests and notebooks)."""
    return tqdm(iterable, desc=desc, disable=not show, leave=False)
