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
from .frame import frame_of, to_frame, unscale
from .masks import is_symmetric_on_examples
from .structure import (
    MAX_RUNS_PER_TOKEN,
    DyadicSums,
    Gram,
    block_operator,
    blocks,
    check_dense,
    gram_solve,
    null_space,
    run_sums,
    runs_of,
)
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


#: target tokens per chunk of a read-out: a float chunk of the mask is ``n x READOUT_CHUNK``
READOUT_CHUNK = 1024


def readout(s, X, mask, c, W0=None, gamma=None, runs=None) -> np.ndarray:
    """Token weights from accumulated residuals: ``W_j = W_0 + (1/c_j) sum_{i in A(j)} s_i x_i^T Gamma``.

    ``s`` is ``(n, k)``; returns ``(n + m, k, d)``.  The sums over ``A(j)`` run over
    the runs of the mask's columns (``verify.structure.runs_of``) with block sums of
    ``s ⊗ X Gamma``, so nothing of size ``(n + m) x n`` is formed; a custom mask with
    many runs per token uses one matrix product per chunk of target tokens instead.
    """
    n, d = X.shape
    s = np.asarray(s, dtype=float)
    k = s.shape[1]
    XG = X if gamma is None else X @ gamma
    sources = (s[:, :, None] * XG[:, None, :]).reshape(n, k * d)
    W = read_sums(sources, mask, runs) / np.asarray(c, dtype=float)[:, None]
    W = W.reshape(-1, k, d)
    if W0 is not None:
        W = W + np.asarray(W0, dtype=float).reshape(1, k, d)
    return W


def read_sums(sources, mask, runs=None, tokens=None) -> np.ndarray:
    """``sum_{i in A(t)} sources_i`` for every token ``t`` (or the given ones): ``(tokens, width)``."""
    mask = np.asarray(mask)
    n = sources.shape[0]
    runs = runs_of(mask, n) if runs is None else runs
    if runs.owner.size <= MAX_RUNS_PER_TOKEN * max(runs.tokens, 1):
        if tokens is None:
            return run_sums(runs, DyadicSums(sources))
        order = np.argsort(tokens, kind="stable")
        out = np.empty((len(tokens), sources.shape[1]))
        out[order] = run_sums(runs, DyadicSums(sources), np.asarray(tokens)[order])
        return out
    columns = np.arange(mask.shape[1]) if tokens is None else np.asarray(tokens)
    out = np.empty((columns.size, sources.shape[1]))
    for start in range(0, columns.size, READOUT_CHUNK):
        part = columns[start:start + READOUT_CHUNK]
        out[start:start + part.size] = mask[:n, part].T.astype(float) @ sources
    return out


def first_token_reached(P0: np.ndarray, X, mask, c, gamma=None, first: int = 0) -> int | None:
    """The first token ``>= first`` whose weight reads the null space (``W_j`` depends on ``P_0 s``), or None.

    A residual component in the null space of ``N`` is never corrected, so it
    accumulates in ``s`` every layer; it is harmless exactly when no token's
    read-out ``(1/c_j) sum_{i in A(j)} s_i x_i^T Gamma`` sees it.  The read-outs of
    the columns of ``P_0`` are formed a few tokens at a time (bounded memory).
    """
    n = X.shape[0]
    mask = np.asarray(mask)
    c = np.asarray(c, dtype=float)
    XG = X if gamma is None else X @ gamma
    # the largest read-out of a unit residual: max over tokens j and sources i in A(j) of |x_i^T Gamma| / c_j
    rows = np.abs(XG).max(axis=1)
    scale = max(float(np.max((mask[:n] * rows[:, None]) / c[None, :], initial=0.0)), 1.0)
    tol = null_reach_tol(X, mask, c, gamma, scale)
    sources = (P0[:, :, None] * XG[:, None, :]).reshape(n, -1)
    step = max(1, (1 << 22) // max(sources.shape[1], 1))
    for start in range(first, mask.shape[1], step):
        stop = min(mask.shape[1], start + step)
        reach = np.abs(mask[:n, start:stop].T.astype(float) @ sources).max(axis=1, initial=0.0) / c[start:stop]
        bad = np.flatnonzero(reach > tol)
        if bad.size:
            return int(start + bad[0])
    return None


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


def stationary_weights(X, Y, mask, c, W0=None, gamma=None, attention=None) -> np.ndarray:
    """The fixed point of the per-token dynamics, for any mask (SPEC section 6).

    At a fixed point ``D^{-1} M s = r^(0)`` on the part of residual space that
    reaches the weights: ``s = N^# r^(0)`` (group inverse: ``N^{-1}`` when ``N`` is
    invertible, ``N^+`` when it is symmetric), valid only if no token's weight
    reads the null space: otherwise the accumulated residual there grows every
    layer and no stationary prediction exists.  ``s`` is found by block forward
    substitution over the strongly connected components of the mask
    (``verify.structure``), in a power-of-two frame of the data (``verify.frame``)
    so that the answer is covariant under rescaling ``X`` and ``y``.

    A named ``attention`` (``causal``, ``sliding:K``, ...) is solved from its shape in
    ``O(n d^2)`` without the mask (``verify.structured``); ``mask`` is then read only when
    that path does not apply (a preconditioner that is not positive definite).

    Returns ``(n + m, k, d)``.  Raises PromptError when there is no stationary
    prediction (SPEC section 7: a Jordan chain at 0, or a query that reads a null
    vector of ``N``), or a weight cannot be represented as a float at the prompt's
    scale.  A null direction that no query reads (a zero example, say) is harmless;
    when some *example's* weight reads one, the example weights drift while every
    residual converges, and the example rows are NaN (the caller reports them as absent).
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    frame = frame_of(X, Y, c, gamma)
    Xf, Yf, cf, gf, W0f, _ = to_frame(frame, X, Y, c, gamma, W0)
    W = None
    if attention not in (None, "custom"):
        from .structured import NotStructured

        try:
            W = _structured_stationary(attention, Xf, Yf, cf, W0f, gf)
        except NotStructured:
            from .rates import dense_mask

            mask = dense_mask(mask, attention, X.shape[0], len(cf) - X.shape[0])
    if W is None:
        W = _stationary(Xf, Yf, mask, cf, W0f, gf)
    return unscale(W, frame.weight, "stationary weights", allow_inf=True)


def _structured_stationary(attention: str, X, Y, c, W0=None, gamma=None) -> np.ndarray:
    """:func:`stationary_weights` of a named attention from its shape (``verify.structured``), in the frame."""
    from .shapes import named_shape
    from .structured import check_blocks, stationary_sums, tilde

    n, d = X.shape
    k = Y.shape[1]
    Xt, L = tilde(X, gamma)
    shape = named_shape(attention, n, len(c) - n)
    check_blocks(shape, c)
    W0_arr = np.zeros((k, d)) if W0 is None else np.asarray(W0, dtype=float).reshape(k, d)
    examples, query = stationary_sums(shape, Xt, Y - X @ W0_arr.T, c)
    W = np.concatenate([examples / c[:n, None, None],
                        np.broadcast_to(query, (shape.m, k, d)) / c[n:, None, None]])
    if L is not None:
        W = W @ L.T  # back from x~ = L^T x: W x = (W~ L^T) x
    return W + W0_arr[None]


def _no_stationary(j: int, n: int) -> PromptError:
    who = f"query {j - n}" if j >= n else f"example {j}"
    return PromptError(f"attention: no stationary prediction exists: {who} reads a null vector of N (SPEC section 7), "
                       "so its prediction drifts every layer at every step size; change the mask so that whoever "
                       "reads part of a singular block reads all of it")


NILPOTENT = ("attention: the eigenvalue 0 of N has a Jordan chain (SPEC section 7), so the residuals grow every layer "
             "and no stationary prediction exists; use a mask whose examples read themselves")


def _stationary(X, Y, mask, c, W0=None, gamma=None) -> np.ndarray:
    n = X.shape[0]
    W0_arr = np.zeros((Y.shape[1], X.shape[1])) if W0 is None else np.asarray(W0, dtype=float).reshape(Y.shape[1], -1)
    R0 = Y - X @ W0_arr.T
    runs = runs_of(mask, n)
    parts = blocks(X, mask, c, gamma, runs)
    if not all(b.zeros == 0 or (b.semisimple and not b.visible) for b in parts):
        return _dense_stationary(X, R0, mask, c, W0, gamma)
    s = forward_substitution(parts, X, R0, mask, c, gamma, runs)
    return readout(s, X, mask, c, W0, gamma, runs)


def _dense_stationary(X, R0, mask, c, W0=None, gamma=None) -> np.ndarray:
    """The whole-matrix group inverse, for null spaces that couple components (small custom masks only)."""
    n = X.shape[0]
    check_dense(n, "a singular iteration whose null space couples components")
    found = null_space(residual_operator(X, mask, c, gamma))
    if found is None:
        raise PromptError(NILPOTENT)
    group_inverse, P0 = found
    q = first_token_reached(P0, X, mask, c, gamma, first=n)
    if q is not None:
        raise _no_stationary(q, n)
    W = readout(group_inverse @ R0, X, mask, c, W0, gamma)
    j = first_token_reached(P0, X, np.asarray(mask)[:, :n], c[:n], gamma)
    if j is not None:  # an example's weight drifts along a null direction (its residual still converges)
        W[:n] = np.nan
    return W


#: examples per chunk of the forward substitution: what the chunk reads from earlier chunks is one matrix product
SUBSTITUTION_CHUNK = 256


def forward_substitution(parts, X, R, mask, c, gamma=None, runs=None) -> np.ndarray:
    """``s`` with ``N s = R`` on the range of ``N``, by block forward substitution in topological order.

    For component ``C``: ``N_CC s_C = R_C - sum_{E before C} N_CE s_E`` with
    ``(N_CE s_E)_j = (1/c_j) sum_{i in A(j) cap E} s_i x_i^T Gamma x_j``, solved by the
    block's group inverse.  Components are taken in chunks of about
    ``SUBSTITUTION_CHUNK`` examples: what a chunk reads from earlier chunks is a sum
    over runs of the solved ``s_i x_i^T Gamma`` (unsolved ones are still 0), and a
    chunk of single examples is one triangular solve.
    ``R`` is ``(n, k)``; returns ``s`` ``(n, k)``.
    """
    from scipy.linalg import solve_triangular

    mask = np.asarray(mask)
    c = np.asarray(c, dtype=float)
    n, d = X.shape
    k = R.shape[1]
    runs = runs_of(mask, n) if runs is None else runs
    dense = runs.owner.size > MAX_RUNS_PER_TOKEN * max(runs.tokens, 1)
    XG = X if gamma is None else X @ gamma
    s = np.zeros((n, k))
    sources = np.zeros((n, k * d))  # s_i ⊗ x_i^T Gamma for solved examples, 0 for the others
    tree = None if dense else DyadicSums(sources)
    chunk: list = []
    size = 0
    for position, part in enumerate(parts):
        chunk.append(part)
        size += part.component.index.size
        if size < SUBSTITUTION_CHUNK and position + 1 < len(parts):
            continue
        index = np.concatenate([p.component.index for p in chunk])
        if dense:
            u = read_sums(sources, mask, runs, index)
        else:
            order = np.argsort(index, kind="stable")
            u = np.empty((index.size, k * d))
            assert tree is not None  # built above whenever a component reads runs of other components
            u[order] = run_sums(runs, tree, index[order])
        rhs = R[index] - np.einsum("jkd,jd->jk", u.reshape(index.size, k, d), X[index]) / c[index, None]
        if all(p.component.kind == "single" and p.zeros == 0 for p in chunk):
            T = block_operator(X, mask, c, index, gamma)  # lower triangular in topological order
            s[index] = solve_triangular(T, rhs, lower=True)
        else:
            offset = 0
            for p in chunk:
                idx = p.component.index
                local = slice(offset, offset + idx.size)
                inner = index[:offset]
                b = rhs[local]
                if inner.size:
                    v = mask[np.ix_(inner, idx)].T.astype(float) @ sources[inner]
                    b = b - np.einsum("jkd,jd->jk", v.reshape(idx.size, k, d), X[idx]) / c[idx, None]
                s[idx] = solve_block(p, b, c[idx])
                sources[idx] = (s[idx][:, :, None] * XG[idx][:, None, :]).reshape(idx.size, k * d)
                offset += idx.size
        sources[index] = (s[index][:, :, None] * XG[index][:, None, :]).reshape(index.size, k * d)
        if tree is not None:
            tree.update(index, sources[index])
        chunk, size = [], 0
    return s


def solve_block(part, b, c) -> np.ndarray:
    """``N_CC^# b`` for one component (its group inverse; a zero eigenvalue's null space is invisible here)."""
    if part.component.kind == "single":
        return b / part.solver if part.zeros == 0 else np.zeros_like(b)
    if isinstance(part.solver, Gram):
        return gram_solve(part.solver, b, c)
    return part.solver @ b
