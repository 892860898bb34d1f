"""The general lemma of SPEC section 6, numerically: residual dynamics under any mask.

With the paper's construction (``K^T Q = [[Gamma, 0], [0, 0]]``), example
residuals follow ``r^(l) = (I - eta_l D^{-1} M) r^(l-1)``, ``r^(0) = y - X w_0^T``,
with ``M_{ji} = [i in A(j)] x_i^T Gamma x_j`` over examples and ``D = diag(c_j)``.
Writing ``s = sum_l eta_l r^(l)``, every token's weight is
``W_j = W_0 + (1/c_j) sum_{i in A(j)} s_i x_i^T Gamma``.  Everything a variant
needs (stationary point, stable range, rate, transient growth) is read off
``N = D^{-1} M`` and this read-out.
"""
from __future__ import annotations

import numpy as np

from .errors import PromptError
from .masks import is_symmetric_on_examples
from .tolerances import agreement_tol, rank_tol


def scores(X, gamma=None) -> np.ndarray:
    """``S_{ij} = x_i^T Gamma x_j`` for examples (rows of ``X``)."""
    XG = X if gamma is None else X @ gamma
    return XG @ X.T


def residual_operator(X, mask, c, gamma=None) -> np.ndarray:
    """``N = D^{-1} M`` with ``M_{ji} = [i in A(j)] x_i^T Gamma x_j`` (``n x n``)."""
    n = X.shape[0]
    M = (np.asarray(mask)[:n, :n] * scores(X, gamma)).T
    return M / np.asarray(c, dtype=float)[:n, None]


def iteration_matrix(X, mask, c, eta: float, gamma=None) -> np.ndarray:
    """``B = I - eta D^{-1} M``: one layer's action on the example residuals."""
    return np.eye(X.shape[0]) - eta * residual_operator(X, mask, c, gamma)


def is_symmetric_iteration(mask, c, n: int, gamma=None) -> bool:
    """True when ``N`` is symmetric by structure: symmetric example mask,
    equal normalizers on the examples and symmetric ``Gamma`` (e.g. prefix)."""
    c = np.asarray(c, dtype=float)
    return (
        is_symmetric_on_examples(np.asarray(mask), n)
        and bool(np.all(c[:n] == c[0]))
        and (gamma is None or bool(np.array_equal(gamma, np.asarray(gamma).T)))
    )


def readout(s, X, mask, c, W0=None, gamma=None) -> np.ndarray:
    """Token weights from accumulated residuals: ``W_j = W_0 + (1/c_j) sum_{i in A(j)} s_i x_i^T Gamma``.

    ``s`` is ``(n, k)``; returns ``(n + m, k, d)``.
    """
    n, d = X.shape
    XG = X if gamma is None else X @ gamma
    reads = np.asarray(mask)[:n, :].astype(float)
    W = np.einsum("ij,ik,id->jkd", reads, s, XG) / np.asarray(c, dtype=float)[:, None, None]
    if W0 is not None:
        W = W + np.asarray(W0, dtype=float).reshape(1, s.shape[1], d)
    return W


def stationary_weights(X, Y, mask, c, W0=None, gamma=None) -> np.ndarray:
    """The fixed point of the per-token dynamics, for any mask (SPEC section 6).

    At a fixed point ``D^{-1} M s = r^(0)`` on the part of residual space that
    reaches the weights.  A non-singular ``N`` gives ``s = N^{-1} r^(0)``.  A
    singular ``N`` whose zero eigenvalue is semisimple gives ``s = N^# r^(0)``
    (group inverse; ``N^+`` when ``N`` is symmetric), valid only if no token's
    weight reads the null space: otherwise the accumulated residual there
    grows every layer and no stationary prediction exists.

    Returns ``(n + m, k, d)``.  Raises PromptError when there is no stationary
    point (zero example under a non-symmetric mask, or a null space that reaches
    a token).
    """
    n = X.shape[0]
    W0_arr = np.zeros((Y.shape[1], X.shape[1])) if W0 is None else np.asarray(W0, dtype=float).reshape(Y.shape[1], -1)
    R0 = Y - X @ W0_arr.T
    N = residual_operator(X, mask, c, gamma)
    symmetric = is_symmetric_iteration(mask, c, n, gamma)
    if not symmetric:
        zero = np.flatnonzero(np.einsum("nd,nd->n", X, X) == 0)
        if zero.size:
            raise PromptError(
                f"X: example row {int(zero[0])} is zero and the causal stationary point divides by ||x_j||^2; "
                "remove that example or use --attention prefix"
            )
    tol = rank_tol(N)
    rank = np.linalg.matrix_rank(N, tol=tol) if n else 0
    if rank == n:
        s = np.linalg.solve(N, R0)
        return readout(s, X, mask, c, W0, gamma)
    if symmetric:
        group_inverse = np.linalg.pinv((N + N.T) / 2, rcond=tol / max(np.linalg.norm(N, 2), 1e-300), hermitian=True)
    else:
        if np.linalg.matrix_rank(N @ N, tol=rank_tol(N @ N)) != rank:
            raise PromptError("attention: the iteration is singular with a nilpotent part, so the accumulated "
                              "residuals grow every layer and no stationary prediction exists; use a mask whose "
                              "examples read themselves")
        group_inverse = N @ np.linalg.pinv(N @ N @ N, rcond=1e-12) @ N
    null_projector = np.eye(n) - N @ group_inverse
    reach = readout(null_projector, X, mask, c, None, gamma)  # (n+m, n, d): how token j's weight reads the null space
    scale = max(float(np.abs(readout(np.eye(n), X, mask, c, None, gamma)).max()), 1.0)
    bad = np.flatnonzero(np.abs(reach).reshape(reach.shape[0], -1).max(axis=1) > agreement_tol(scale, n))
    if bad.size:
        j = int(bad[0])
        who = f"query {j - n}" if j >= n else f"example {j}"
        raise PromptError(f"attention: no stationary prediction exists: the iteration is singular and its null space "
                          f"reaches {who}, whose weight then drifts every layer; change the mask so that {who} reads "
                          "the same examples as the tokens it depends on")
    s = group_inverse @ R0
    return readout(s, X, mask, c, W0, gamma)
