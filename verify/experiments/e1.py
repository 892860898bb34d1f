"""E1: convergence over layers of the literal LSA stack, prefix vs causal (SPEC section 4).

``d = 16``, ``n = 40`` examples, ``m = 20`` queries, ``x ~ U(-1, 1)^d``,
``w ~ N(0, I)``, noiseless, the paper's construction with ``eta = 0.04`` and the
constant normalizer ``c = 1``, 50 layers, 64 tasks.  The tokens of all tasks are
one batched array ``(tasks, d + 1, n + m)`` run through ``verify.lsa.lsa_forward``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import construction, lsa, masks, normalizers  # the model, looked up at call time
from ..prompt import split_tokens, tokens
from .tasks import progress, sample_tasks

E1_COLUMNS = ("layer", "model", "example_mse", "query_mse")
#: SPEC section 4's setting: the defaults of :func:`e1_convergence`, stated by the figure and the report
SETTING: dict[str, Any] = {"d": 16, "n": 40, "m": 20, "eta": 0.04, "scale": 1.0, "layers": 50}
#: model label -> attention spec; a test swaps in a wrong attention to check the shape checks bite
MODELS = {"prefix": "prefix", "causal": "causal"}


def e1_tasks(tasks: int = 64, seed: int = 0, d: int = 16, n: int = 40, m: int = 20):
    """The batched initial tokens ``Z0 (tasks, d + 1, n + m)`` and the query targets ``Yq (tasks, m, 1)``."""
    X, Y, Xq, Yq = sample_tasks(np.random.default_rng([seed, 1]), tasks, n, m, d)
    # token layout is defined once in verify.prompt; building it per task is cheap
    return np.stack([tokens(X[t], Y[t], Xq[t]) for t in range(tasks)]), Yq


def e1_errors(Z0, Yq, n: int, eta: float = 0.04, scale: float = 1.0, layers: int = 50,
              models: dict | None = None, show: bool = False) -> list:
    """Run the LSA stacks on the batched tokens ``Z0``; rows of per-layer MSEs averaged over tasks."""
    d = Z0.shape[-2] - 1
    m = Z0.shape[-1] - n
    stack = [construction.paper(eta, d)] * layers
    rows = []
    for label, spec in progress((models or MODELS).items(), "E1 LSA stacks", show):
        mask = masks.attention_mask(spec, n, m)
        states = np.stack(lsa.lsa_forward(Z0, stack, mask, normalizers.normalizer("constant", mask, scale)))
        residuals, predictions = split_tokens(states, n, d)  # (L+1, tasks, n, 1), (L+1, tasks, m, 1)
        example_mse = np.mean(residuals**2, axis=(1, 2, 3))
        query_mse = np.mean((predictions - Yq[None]) ** 2, axis=(1, 2, 3))
        rows += [{"layer": l, "model": label, "example_mse": float(example_mse[l]), "query_mse": float(query_mse[l])}
                 for l in range(layers + 1)]
    return rows


def setting_text(tasks: int, s: dict = SETTING) -> str:
    """The setting in words: ``d``, ``n``, ``m``, ``eta``, ``c``, depth and tasks."""
    return (f"d = {s['d']}, n = {s['n']} examples, m = {s['m']} queries, eta = {s['eta']:g}, c = {s['scale']:g}, "
            f"{s['layers']} layers, {tasks} tasks")


def e1_convergence(tasks: int = 64, seed: int = 0, d: int = SETTING["d"], n: int = SETTING["n"],
                   m: int = SETTING["m"], eta: float = SETTING["eta"], scale: float = SETTING["scale"],
                   layers: int = SETTING["layers"], models: dict | None = None, show: bool = False) -> list:
    """Mean squared example residual and query error after every layer.

    ``example_mse(l) = mean_{tasks, i} (y_i - w_i^(l) x_i)^2`` (the last coordinate of
    example token ``i``), ``query_mse(l) = mean_{tasks, q} (yhat_q^(l) - w x_q)^2``.
    ``models`` maps a label to an attention spec (default prefix and causal).

    Returns rows ``{layer, model, example_mse, query_mse}`` for ``l = 0..layers``.
    """
    Z0, Yq = e1_tasks(tasks, seed, d, n, m)
    return e1_errors(Z0, Yq, n, eta, scale, layers, models, show)
