"""The synthetic in-context tasks of the paper's section 5.2 (issue 22): linear, non-linear, classification.

A task draws ``W ~ N(0, I)`` of shape ``(d, k)`` and inputs ``x ~ N(0, I_d)`` for every
example and query; the label is

- ``linear``: ``y = x^T W`` (``k = 1``),
- ``nonlinear``: ``y = sigmoid(x^T W)`` (``k = 1``; the paper's sigmoid output map),
- ``classification``: the one-hot vector of ``argmax_c (x^T W)_c`` (``k = classes``).

Labels are noiseless, as in the paper.  The references a trained model is compared
with are computed here on the same prompts: the zero predictor (``mean ||y_q||^2``)
and, for linear regression, minimum-norm least squares on the ``n`` examples
(``w = X^+ y``: exact once ``n >= d``, ``(d - n) / d`` of the zero predictor's error
in expectation before); for classification the best constant class.
"""
from __future__ import annotations

import numpy as np

TASKS = ("linear", "nonlinear", "classification")


def outputs(task: str, classes: int) -> int:
    """``k``: label coordinates per token (1 for regression, ``classes`` for classification)."""
    return classes if task == "classification" else 1


def sample(task: str, rng: np.random.Generator, batch: int, length: int, d: int, classes: int = 1):
    """``batch`` tasks of ``length`` points each.

    Returns
    -------
    X : (batch, length, d), Y : (batch, length, k)
        inputs and labels (``k = outputs(task, classes)``).
    """
    k = outputs(task, classes)
    W = rng.standard_normal((batch, d, k))
    X = rng.standard_normal((batch, length, d))
    logits = X @ W
    if task == "linear":
        return X, logits
    if task == "nonlinear":
        return X, 1.0 / (1.0 + np.exp(-logits))
    return X, np.eye(k)[np.argmax(logits, axis=-1)]


def least_squares(X: np.ndarray, Y: np.ndarray, Xq: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares predictions ``Xq X^+ Y`` per task.

    ``X : (batch, n, d)``, ``Y : (batch, n, k)``, ``Xq : (batch, m, d)`` -> ``(batch, m, k)``.
    """
    return Xq @ (np.linalg.pinv(X) @ Y)


def constant_accuracy(Yq: np.ndarray) -> float:
    """Accuracy of always answering the test set's most frequent class (one-hot ``Yq : (..., C)``)."""
    counts = Yq.reshape(-1, Yq.shape[-1]).sum(axis=0)
    return float(counts.max() / counts.sum())
