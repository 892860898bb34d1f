"""The paper's algorithms in weight space, without tokens (SPEC P1-P3, P6, P9).

Weights are stored as ``(k, d)`` arrays (a row vector ``w`` per output), labels
as ``(n, k)``; a prediction is ``X W^T``.  These are written independently of
the LSA layer so that comparing the two checks the theorems.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import PromptError
from .masks import NamedMask
from .tolerances import NORMAL_EQUATIONS_MIN_RATIO


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


def online_dynamics(X, Y, mask, c, etas: Sequence[float], W0=None, gamma=None, tokens=None) -> np.ndarray:
    """Per-position weights under any attention (SPEC P2 and its section-6 form).

    Every token ``j`` (examples, then queries) keeps a weight ``W_j``::

        W_j^(l) = W_j^(l-1) + (eta_l / c_j) sum_{i in A(j)} r_i^(l-1) x_i^T Gamma,
        r_i = y_i - W_i x_i,   W_j^(0) = W0.

    Under a named attention (a :class:`verify.masks.NamedMask`) the sum over ``A(j) = lo_j..hi_j``
    is an interval sum of the outer products ``r_i x_i^T Gamma`` (a prefix sum over positions for
    causal): ``O(n d k)`` per layer and memory (``verify.linear.interval_sums``), never ``n x n``.

    Returns
    -------
    (L + 1, n + m, k, d) array of weights, layer 0 first; only the columns ``tokens``
    (an index array) when given, so a long prompt need not keep every layer's ``n x k x d``.
    """
    n, d = X.shape
    k = Y.shape[1]
    size = mask.shape[1]
    W = np.broadcast_to(_start(W0, k, d), (size, k, d)).copy()
    keep = slice(None) if tokens is None else np.asarray(tokens)
    out = [W[keep].copy()]
    c = np.broadcast_to(np.asarray(c, dtype=float), (size,))
    if isinstance(mask, NamedMask):
        from .linear import interval_sums
        from .threads import blas_threads

        XG = X if gamma is None else X @ gamma
        lo, hi = mask.bounds()
        with blas_threads(d):  # small products only
            for eta in etas:
                R = Y - np.einsum("nkd,nd->nk", W[:n], X)  # every residual before any weight moves
                for rows, S in interval_sums(lo, hi, R, XG):
                    W[rows] += (eta / c[rows])[:, None, None] * S
                out.append(W[keep].copy())
        return np.stack(out)
    from .lemma import readout  # the read-out sum_{i in A(j)} r_i x_i^T Gamma / c_j, without an n x n temporary
    from .structure import runs_of

    mask = np.asarray(mask)
    runs = runs_of(mask, n)
    for eta in etas:
        R = Y - np.einsum("nkd,nd->nk", W[:n], X)
        W = W + eta * readout(R, X, mask, c, None, gamma, runs)
        out.append(W[keep].copy())
    return np.stack(out)


def least_squares(X, Y) -> np.ndarray:
    """Minimum-norm least squares ``W* = (X^+ Y)^T`` (SPEC P3), shape ``(k, d)``."""
    return least_squares_batch(X, Y)


def least_squares_batch(X, Y) -> np.ndarray:
    """:func:`least_squares` over leading task axes: ``X (..., n, d)``, ``Y (..., n, k)`` -> ``(..., k, d)``."""
    return np.swapaxes(np.linalg.pinv(X) @ Y, -1, -2)


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
    return causal_stationary_batch(X, Y, W0)


def causal_stationary_batch(X, Y, W0=None, positions=None) -> np.ndarray:
    """:func:`causal_stationary` over leading task axes.

    ``X (..., n, d)``, ``Y (..., n, k)``, ``W0 (k, d)`` or None; returns ``(..., n, k, d)``,
    the weight ``w*_j`` of every position of every task, or with ``positions`` (0-based,
    increasing) ``(..., len(positions), k, d)``, only those (the recursion still reads every
    example; only the copies are saved).  The recursion runs over positions; each step is one
    vectorized update of all tasks.
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    norms = np.einsum("...d,...d->...", X, X)
    if np.any(norms == 0):  # the same message as the unbatched check, naming the row within its task
        _check_nonzero(X[tuple(np.argwhere(norms == 0)[0][:-1])])
    k, n, d = Y.shape[-1], X.shape[-2], X.shape[-1]
    keep = list(range(n)) if positions is None else [int(j) for j in positions]
    slot = {j: i for i, j in enumerate(keep)}
    W = np.broadcast_to(_start(W0, k, d), X.shape[:-2] + (k, d)).copy()
    # positions first and contiguous: each step reads one slab instead of a strided slice of every task
    Xp, Yp, Np = (np.ascontiguousarray(np.moveaxis(a, axis, 0)) for a, axis in ((X, -2), (Y, -2), (norms, -1)))
    out = np.empty((len(keep),) + W.shape)
    for j in range(max(keep, default=-1) + 1):
        x = Xp[j]
        residual = Yp[j] - np.einsum("...kd,...d->...k", W, x)
        W += residual[..., :, None] * x[..., None, :] / Np[j][..., None, None]
        if j in slot:
            out[slot[j]] = W
    return np.moveaxis(out, 0, -3)


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


def _chunk_products(X, Y, ns) -> np.ndarray:
    """``X_c^T Y_c`` for the chunks ``c`` of positions ``[0, n_1), [n_1, n_2), ...``: ``(..., len(ns), d, k)``.

    Chunks of one length (``ns = s, 2s, 3s, ...``) are one batched product over a reshaped view."""
    step = ns[0]
    if all(n == step * (i + 1) for i, n in enumerate(ns)):
        Xc = X[..., : ns[-1], :].reshape(X.shape[:-2] + (len(ns), step, X.shape[-1]))
        Yc = Y[..., : ns[-1], :].reshape(Y.shape[:-2] + (len(ns), step, Y.shape[-1]))
        return np.swapaxes(Xc, -1, -2) @ Yc
    XT = np.swapaxes(X, -1, -2)
    return np.stack([XT[..., a:e] @ Y[..., a:e, :] for a, e in zip([0, *ns], ns)], axis=-3)


def least_squares_prefixes(X, Y, ns) -> np.ndarray:
    """Least squares on the first ``n`` examples, for every ``n`` in ``ns`` (increasing), over task axes.

    ``X (..., N, d)``, ``Y (..., N, k)``; returns ``(..., len(ns), k, d)`` with entry ``t``
    equal to ``least_squares(X[:ns[t]], Y[:ns[t]])``.  The Gram matrices
    ``G_n = sum_{i <= n} x_i x_i^T`` and ``b_n = sum_{i <= n} x_i y_i^T`` are cumulative sums
    of one product per chunk of positions; where ``G_n`` is well conditioned
    (``lambda_min > NORMAL_EQUATIONS_MIN_RATIO * trace(G_N)``, and ``trace >= lambda_max``: full
    column rank with room to spare, since the normal equations square the condition number)
    ``W*^T = G_n^{-1} b_n``, the SPEC P3 closed form ``w* = y X^T (X X^T)^{-1}``, all such
    ``(task, n)`` in one solve; elsewhere (that task at that ``n`` only) the minimum-norm
    pseudo-inverse of :func:`least_squares_batch`.
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    d, k, ns = X.shape[-1], Y.shape[-1], [int(n) for n in ns]
    batch = X.shape[:-2]
    if not ns:
        return np.zeros(batch + (0, k, d))
    G, b = _chunk_products(X, X, ns), _chunk_products(X, Y, ns)
    for s in range(1, len(ns)):  # running sums (np.cumsum along this strided axis is several times slower)
        G[..., s, :, :] += G[..., s - 1, :, :]
        b[..., s, :, :] += b[..., s - 1, :, :]
    # lambda_min(G_n) never decreases as examples are added and lambda_max(G_n) <= trace(G_N), so once
    # lambda_min(G_n) > ratio * trace(G_N) every later G_n of that task is well conditioned too
    top = np.trace(G[..., -1, :, :], axis1=-2, axis2=-1)
    conditioned = np.zeros(batch + (len(ns),), dtype=bool)
    pending = np.ones(batch, dtype=bool)
    for s, n in enumerate(ns):
        if n < d:
            continue
        if pending.any():
            pending[pending] = ~(np.linalg.eigvalsh(G[..., s, :, :][pending])[..., 0]
                                 > NORMAL_EQUATIONS_MIN_RATIO * top[pending])
        conditioned[..., s] = ~pending
    out = np.empty(batch + (len(ns), k, d))
    for s, n in enumerate(ns):
        ok = conditioned[..., s]
        if ok.all():  # the common case: one solve over every task (no masked copies)
            out[..., s, :, :] = np.swapaxes(np.linalg.solve(G[..., s, :, :], b[..., s, :, :]), -1, -2)
            continue
        if ok.any():
            out[..., s, :, :][ok] = np.swapaxes(np.linalg.solve(G[..., s, :, :][ok], b[..., s, :, :][ok]), -1, -2)
        # rank deficient or ill-conditioned there: the minimum-norm pseudo-inverse, for those tasks only
        out[..., s, :, :][~ok] = least_squares_batch(X[..., :n, :][~ok], Y[..., :n, :][~ok])
    return out
