"""The paper's algorithms in weight space, without tokens (SPEC P1-P3, P6, P9).

Weights are stored as ``(k, d)`` arrays (a row vector ``w`` per output), labels
as ``(n, k)``; a prediction is ``X W^T``.  These are written independently of
the LSA layer so that comparing the two checks the theorems.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import PromptError


def _start(W0, k: int, d: int) -> np.ndarray:
    return np.zeros((k, d)) if W0 is None else np.asarray(W0, dtype=float).reshape(k, d)


def gradient_descent(X, Y, etas: Sequence[float], c: float = 1.0, W0=None, gamma=None) -> list:
    """Gradient descent on the squared loss (SPEC P1), preconditioned by ``Gamma``.

    ``W^(l) = W^(l-1) + (eta_l / c) (Y - X W^(l-1)T)^T X Gamma``, ``W^(0) = W0``.

    Returns the list ``[W^(0), ..., W^(L)]`` of ``(k, d)`` arrays.
    """
    n, d = X.shape
    XG = X if gamma is None else X @ gamma
    W = _start(W0, Y.shape[1], d)
    out = [W]
    for eta in etas:
        W = W + (eta / c) * (Y - X @ W.T).T @ XG
        out.append(W)
    return out


def online_dynamics(X, Y, mask, c, etas: Sequence[float], W0=None, gamma=None) -> np.ndarray:
    """Per-position weights under any attention (SPEC P2 and its section-6 form).

    Every token ``j`` (examples, then queries) keeps a weight ``W_j``::

        W_j^(l) = W_j^(l-1) + (eta_l / c_j) sum_{i in A(j)} r_i^(l-1) x_i^T Gamma,
        r_i = y_i - W_i x_i,   W_j^(0) = W0.

    Returns
    -------
    (L + 1, n + m, k, d) array of weights, layer 0 first.
    """
    n, d = X.shape
    k = Y.shape[1]
    reads = np.asarray(mask)[:n, :].astype(float)  # sources are examples only
    XG = X if gamma is None else X @ gamma
    W = np.broadcast_to(_start(W0, k, d), (reads.shape[1], k, d)).copy()
    out = [W]
    for eta in etas:
        R = Y - np.einsum("nkd,nd->nk", W[:n], X)
        W = W + eta * np.einsum("ij,ik,id->jkd", reads, R, XG) / np.asarray(c, dtype=float)[:, None, None]
        out.append(W)
    return np.stack(out)


def least_squares(X, Y) -> np.ndarray:
    """Minimum-norm least squares ``W* = (X^+ Y)^T`` (SPEC P3), shape ``(k, d)``."""
    return (np.linalg.pinv(X) @ Y).T


def _check_nonzero(X) -> np.ndarray:
    norms = np.einsum("nd,nd->n", X, X)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise PromptError(
            f"X: example row {int(zero[0])} is zero and the causal stationary point divides by ||x_j||^2; "
            "remove that example or use --attention prefix"
        )
    return norms


def causal_stationary(X, Y, W0=None) -> np.ndarray:
    """Causal stationary point with a constant normalizer (SPEC P6): online GD.

    ``w*_j = w*_{j-1} + (y_j - w*_{j-1} x_j) x_j^T / ||x_j||^2``, ``w*_0 = W0``.

    Returns ``(n, k, d)``: the weight at every example position.
    Raises PromptError when some ``x_j = 0``.
    """
    norms = _check_nonzero(X)
    W = _start(W0, Y.shape[1], X.shape[1])
    out = []
    for x, y, nx in zip(X, Y, norms):
        W = W + np.outer(y - W @ x, x) / nx
        out.append(W)
    return np.stack(out)


def count_causal_stationary(X, Y, W0=None) -> np.ndarray:
    """Causal stationary point with the count normalizer ``c_j = j`` (SPEC P9).

    With ``v_j = j (w*_j - w_0)`` and ``r0_j = y_j - w_0 x_j``::

        v_j = v_{j-1} + (j r0_j - v_{j-1} x_j) x_j^T / ||x_j||^2,   v_0 = 0,

    i.e. ``w*_j = ((j-1)/j) w*_{j-1} + (y_j - ((j-1)/j) w*_{j-1} x_j) x_j^T / ||x_j||^2``
    for ``w_0 = 0``: online GD from a shrunk previous weight.  Still ``w*_j x_j = y_j``.
    """
    norms = _check_nonzero(X)
    W0 = _start(W0, Y.shape[1], X.shape[1])
    v = np.zeros_like(W0)
    out = []
    for j, (x, y, nx) in enumerate(zip(X, Y, norms), start=1):
        r0 = y - W0 @ x
        v = v + np.outer(j * r0 - v @ x, x) / nx
        out.append(W0 + v / j)
    return np.stack(out)
