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
from .tolerances import SEMISIMPLE_MIN, agreement_tol, rank_tol


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


def null_space(N: np.ndarray, symmetric: bool = False):
    """Group inverse ``N^#`` and the projector ``P_0`` onto ``N``'s null space along its range.

    With ``K`` a basis of ``null(N)`` and ``L`` one of ``null(N^T)`` (from the SVD),
    ``P_0 = K (L^T K)^{-1} L^T`` and ``N^# = (N + P_0)^{-1} - P_0``; for an invertible
    ``N`` this is ``N^{-1}`` and ``P_0 = 0``, for a symmetric one ``N^# = N^+``.
    Returns None when the zero eigenvalue is not semisimple (``L^T K`` singular: a
    Jordan block, along which ``sum_l (I - eta N)^l`` grows polynomially).
    ``symmetric`` is accepted for symmetry with callers; the construction does not need it.
    """
    n = N.shape[0]
    U, S, Vt = np.linalg.svd(N)
    rank = int(np.sum(S > rank_tol(N))) if n else 0
    if rank == n:
        return np.linalg.inv(N), np.zeros((n, n))
    K, L = Vt[rank:].T, U[:, rank:]
    LK = L.T @ K
    if np.linalg.svd(LK, compute_uv=False).min() < SEMISIMPLE_MIN:
        return None
    P0 = K @ np.linalg.solve(LK, L.T)
    return np.linalg.inv(N + P0) - P0, P0


def first_token_reached(P0: np.ndarray, X, mask, c, gamma=None) -> int | None:
    """The first token whose weight reads the null space (``W_j`` depends on ``P_0 s``), or None.

    A residual component in the null space of ``N`` is never corrected, so it
    accumulates in ``s`` every layer; it is harmless exactly when no token's
    read-out ``(1/c_j) sum_{i in A(j)} s_i x_i^T Gamma`` sees it.
    """
    n = X.shape[0]
    reach = readout(P0, X, mask, c, None, gamma)  # (n + m, n, d)
    scale = max(float(np.abs(readout(np.eye(n), X, mask, c, None, gamma)).max()), 1.0)
    bad = np.flatnonzero(np.abs(reach).reshape(reach.shape[0], -1).max(axis=1, initial=0.0)
                         > null_reach_tol(X, mask, c, gamma, scale))
    return int(bad[0]) if bad.size else None


def null_reach_tol(X, mask, c, gamma, scale: float) -> float:
    """How much a numerically null direction may show in a read-out and still count as unseen.

    The null space is numerical: it holds eigenvalues up to ``tau = rank_tol(N)``.
    For a Gram-type block a unit vector ``v`` with ``v^T N v <= tau`` has
    ``||sum_i v_i x_i|| = sqrt(c v^T N v) <= sqrt(c tau)``, so a read-out sees it at
    most ``sqrt(c_max tau) / c_min ||Gamma||``; a null space that truly reaches a
    token shows at the scale of the data, many orders above.
    """
    n = X.shape[0]
    c = np.asarray(c, dtype=float)
    g = 1.0 if gamma is None else float(np.linalg.norm(gamma, 2))
    tau = rank_tol(residual_operator(X, mask, c, gamma))
    return agreement_tol(scale, n) + 10 * np.sqrt(tau * c.max()) / c.min() * g


def zero_example(X) -> int | None:
    """Index of the first example with ``x_j = 0``, or None."""
    zero = np.flatnonzero(np.einsum("nd,nd->n", X, X) == 0)
    return int(zero[0]) if zero.size else None


def stationary_weights(X, Y, mask, c, W0=None, gamma=None) -> np.ndarray:
    """The fixed point of the per-token dynamics, for any mask (SPEC section 6).

    At a fixed point ``D^{-1} M s = r^(0)`` on the part of residual space that
    reaches the weights: ``s = N^# r^(0)`` with the group inverse of
    :func:`null_space` (``N^{-1}`` when ``N`` is invertible, ``N^+`` when it is
    symmetric), valid only if no token's weight reads the null space: otherwise
    the accumulated residual there grows every layer and no stationary
    prediction exists.

    Returns ``(n + m, k, d)``.  Raises PromptError when there is no stationary
    point: a zero example under a non-symmetric mask (SPEC P6 divides by
    ``||x_j||^2``), a nilpotent part, or a null space that reaches a token.
    """
    n = X.shape[0]
    W0_arr = np.zeros((Y.shape[1], X.shape[1])) if W0 is None else np.asarray(W0, dtype=float).reshape(Y.shape[1], -1)
    R0 = Y - X @ W0_arr.T
    N = residual_operator(X, mask, c, gamma)
    symmetric = is_symmetric_iteration(mask, c, n, gamma)
    j = None if symmetric else zero_example(X)
    if j is not None:
        raise PromptError(f"X: example row {j} is zero and the stationary point of a causal-type (non-prefix) mask "
                          "divides by ||x_j||^2 (SPEC P6); remove that example or use --attention prefix")
    found = null_space(N, symmetric)
    if found is None:
        raise PromptError("attention: the iteration is singular with a nilpotent part, so the accumulated "
                          "residuals grow every layer and no stationary prediction exists; use a mask whose "
                          "examples read themselves")
    group_inverse, P0 = found
    j = first_token_reached(P0, X, mask, c, gamma)
    if j is not None:
        who = f"query {j - n}" if j >= n else f"example {j}"
        raise PromptError(f"attention: no stationary prediction exists: the iteration is singular and its null space "
                          f"reaches {who}, whose weight then drifts every layer; change the mask so that {who} reads "
                          "the same examples as the tokens it depends on")
    return readout(group_inverse @ R0, X, mask, c, W0, gamma)
