"""Stationary point, spectrum and matrix-vector products of ``N = D^{-1} M`` for named attentions in ``O(n d^2)``.

A named attention is a :class:`verify.shapes.Shape`: token ``t`` reads the interval
``[lo_t, hi_t)`` of examples and the diagonal blocks are full.  With a symmetric
positive definite ``Gamma = L L^T`` (``None`` is ``I``) every score is a dot product of
``x~_i = L^T x_i``: ``x_i^T Gamma x_j = x~_i^T x~_j``, so with the sources
``g_i = s_i x~_i``

    ``(N s)_j = (1/c_j) x~_j^T sum_{i in [lo_j, hi_j)} g_i``

and nothing of size ``n^2`` is needed (the associative, recurrent form of linear attention):

- eigenvalues (:func:`spectrum`): a single example gives ``||x~_j||^2 / c_j``, a full block
  ``C`` (equal ``c``) the nonzero ``sigma^2 / c`` of ``X~_C``'s singular values; the
  zero eigenvalues are the Gram null spaces ``X~_C^T v = 0`` of the blocks and zero
  examples.  Every reader of a block reads all of it, so ``N v = 0`` for these ``v`` and
  no query sees them: conditions (b) and (c) of SPEC section 7 hold by structure.
- the stationary point (:func:`stationary_sums`): ``N s = r_0`` on the range of ``N`` by
  forward substitution in the order of the blocks: a full block's sources sum to
  ``v_C = X~_C^+ (c r_C - X~_C u)`` with ``u`` the sources it reads before it (the group
  inverse's solution; least squares for prefix, SPEC P3), from a QR (large blocks),
  batched pseudo-inverses (small ones) or, for blocks of full column rank, all at once;
  single examples are solved a chunk of ``CHUNK`` at a time by one triangular solve
  (online gradient descent with step ``c_j / ||x~_j||^2``, SPEC P6).  What a chunk reads
  before it is a suffix sum inside a chunk plus whole chunk totals: no differences of
  running sums, so no cancellation.
- :class:`Operator`: ``N v`` and ``N^T v`` for the transient (``O(n d)`` each).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import Shape
from .tolerances import EPS

#: examples solved together by one triangular solve (a chunk's Gram matrix is CHUNK x CHUNK)
CHUNK = 128
#: full blocks whose SVDs are taken together (bounded temporaries)
SVD_BATCH = 2048
#: full blocks above this size are solved one by one through a QR (below: batched SVDs)
LARGE_BLOCK = 64


class NotStructured(Exception):
    """The structured path does not apply (a preconditioner that is not symmetric positive definite,
    unequal normalizers inside a block); the caller uses the general path."""


def tilde(X, gamma=None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X~, L)`` with ``X~ = X L`` and ``Gamma = L L^T`` (Cholesky); ``(X, None)`` for ``Gamma = I``."""
    X = np.asarray(X, dtype=float)
    if gamma is None:
        return X, None
    gamma = np.asarray(gamma, dtype=float)
    if not np.array_equal(gamma, gamma.T):
        raise NotStructured("a non-symmetric preconditioner")
    try:
        L = np.linalg.cholesky(gamma)
    except np.linalg.LinAlgError:
        raise NotStructured("a preconditioner that is not positive definite") from None
    return X @ L, L


def check_blocks(shape: Shape, c) -> None:
    """Every full block has one normalizer (true of constant and count normalizers on named attentions)."""
    c = np.asarray(c, dtype=float)[: shape.n]
    if shape.n == 0:
        return
    first = c[shape.starts]
    if not np.array_equal(np.repeat(first, shape.sizes), c):
        raise NotStructured("unequal normalizers inside a full block")


def _rank(sigma: np.ndarray, size: int) -> np.ndarray:
    """Which singular values count (``verify.structure.gram``'s convention: ``sigma^2 > 10 b eps sigma_max^2``)."""
    top = sigma[..., :1]
    return (sigma**2 > size * EPS * 10 * top**2) & (top > 0)


def _groups(shape: Shape):
    """Runs of consecutive blocks of equal size: ``(size, first block, last block + 1)``."""
    sizes = shape.sizes
    if sizes.size == 0:
        return
    cut = np.flatnonzero(np.diff(sizes)) + 1
    bounds = np.concatenate([[0], cut, [sizes.size]])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(sizes[a]), int(a), int(b)


def spectrum(shape: Shape, Xt, c) -> tuple[np.ndarray, int]:
    """``(lam, zeros)``: the nonzero eigenvalues of ``N`` (real, > 0) and how many are zero (module doc)."""
    c = np.asarray(c, dtype=float)
    parts, zeros = [], 0
    for size, a, b in _groups(shape):
        starts = shape.starts[a:b]
        if size == 1:
            lam = np.einsum("jd,jd->j", Xt[starts], Xt[starts]) / c[starts]
            zeros += int(np.sum(lam == 0))
            parts.append(lam[lam != 0])
            continue
        if size > LARGE_BLOCK:
            for start in starts:
                sigma = np.linalg.svd(_r_factor(Xt[start: start + size]), compute_uv=False)
                keep = _rank(sigma, size)
                zeros += int(size - keep.sum())
                parts.append(sigma[keep] ** 2 / c[start])
            continue
        for p in range(0, b - a, SVD_BATCH):
            first = starts[p: p + SVD_BATCH]
            stack = Xt[first[0]: first[-1] + size].reshape(first.size, size, -1)
            sigma2 = _block_sigma2(stack)[:, ::-1]
            keep = _rank(np.sqrt(sigma2), size)
            zeros += int(first.size * size - keep.sum())
            parts.append((sigma2 / c[first][:, None])[keep])
    lam = np.concatenate(parts) if parts else np.zeros(0)
    return lam, zeros


def _r_factor(XC: np.ndarray) -> np.ndarray:
    """The triangular factor ``R`` of ``X_C = Q R`` (same singular values, ``d x d``); a tall block is large
    enough for the BLAS default thread count (``verify.threads``)."""
    from .threads import blas_threads

    if XC.shape[0] <= XC.shape[1]:
        return XC
    with blas_threads(XC.shape[0]):
        return np.asarray(np.linalg.qr(XC, mode="r"))


def _pinv_apply(XC: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X_C^+ b`` for a tall block (``(d, k)``) from its ``R`` factor, with one refinement step.

    ``X_C^+ = V S^{-2} V^T X_C^T`` (``R = U_R S V^T``, ``S`` cut at the rank convention of
    :func:`_rank`); the refinement ``x += V S^{-2} V^T X_C^T (b - X_C x)`` (corrected
    semi-normal equations) brings it to the accuracy of an orthogonal factorization.
    """
    _, sigma, Vt = np.linalg.svd(_r_factor(XC), full_matrices=False)
    keep = _rank(sigma, XC.shape[0])
    VS2 = Vt[keep].T / sigma[keep] ** 2

    def apply(r):  # V S^{-2} V^T X^T r
        return VS2 @ (Vt[keep] @ (XC.T @ r))

    x = apply(b)
    return x + apply(b - XC @ x)


def _small_gram(Xb: np.ndarray) -> np.ndarray:
    """The smaller Gram matrix of each block of a stack ``(G, b, d)``: ``X X^T`` or ``X^T X`` (same nonzero
    eigenvalues ``sigma^2``)."""
    Xt_ = np.swapaxes(Xb, 1, 2)
    return Xb @ Xt_ if Xb.shape[1] <= Xb.shape[2] else Xt_ @ Xb


def _block_sigma2(Xb: np.ndarray) -> np.ndarray:
    """``sigma^2`` of every block of a stack (eigenvalues of the smaller Gram matrix, ascending, >= 0)."""
    return np.maximum(np.linalg.eigvalsh(_small_gram(Xb)), 0.0)


def _full_blocks(shape, Xt, R0, c, starts, size: int, sums, examples) -> None:
    """Consecutive full blocks of one size, in order: ``v_C = X~_C^+ (c r_C - X~_C u)``, ``u += v_C``.

    A block of full column rank resets the weight (``u + v_C = X~_C^+ c r_C``), so those are
    solved all at once (semi-normal equations with one refinement step); the others one
    block after the other with pseudo-inverses from batched inverses of their Gram matrices
    (full row rank, well conditioned) or SVDs, and a large block through a QR.
    Where ``s_C`` itself is not formed, the block's sources (summing to ``v_C``) are kept on
    its first row: every reader of a block reads all of it.
    """
    n, d = Xt.shape
    k = R0.shape[1]
    first, stop = int(starts[0]), int(starts[-1]) + size
    if size > LARGE_BLOCK:
        _blocks_one_by_one(Xt, R0, c, starts, size, sums, examples)
        return
    Xb = Xt[first:stop].reshape(starts.size, size, d)
    sigma2 = np.concatenate([_block_sigma2(Xb[p: p + SVD_BATCH]) for p in range(0, starts.size, SVD_BATCH)])
    full = bool(np.all(_rank(np.sqrt(sigma2[:, ::-1]), size)))
    if full and size >= d and bool(np.all(sigma2[:, -1] < GRAM_COND2 * sigma2[:, 0])):
        cR = (c[first:stop, None] * R0[first:stop]).reshape(starts.size, size, k)
        G = np.swapaxes(Xb, 1, 2) @ Xb
        after = np.linalg.solve(G, np.swapaxes(Xb, 1, 2) @ cR)  # (G, d, k)
        after = after + np.linalg.solve(G, np.swapaxes(Xb, 1, 2) @ (cR - Xb @ after))
        u0 = sums.total.reshape(k, d).T
        V = np.diff(np.concatenate([u0[None], after]), axis=0)
        _store(starts, size, V, after, sums, examples)
    else:
        _blocks_one_by_one(Xt, R0, c, starts, size, sums, examples, sigma2)


def _store(starts, size: int, V, after, sums, examples) -> None:
    """Keep each block's source total ``v_C`` on its first row and every member's read-out ``u + v_C``."""
    d, k = V.shape[1:]
    rows = np.zeros((starts.size * size, k * d))
    rows[::size] = np.swapaxes(V, 1, 2).reshape(-1, k * d)
    sums.add(int(starts[0]), rows)
    examples[int(starts[0]): int(starts[-1]) + size] = np.repeat(np.swapaxes(after, 1, 2).reshape(-1, k * d),
                                                                 size, axis=0)


#: a block whose squared condition number is below this takes its pseudo-inverse from its Gram matrix's inverse
GRAM_COND2 = 1e6


def _pinv_stack(Xb: np.ndarray, sigma2: np.ndarray | None) -> np.ndarray:
    """``X_C^+`` of a stack of small blocks ``(G, b, d)`` -> ``(G, d, b)``.

    Full row rank and well conditioned (``sigma2`` known, ``cond^2 < GRAM_COND2``): ``X^T (X X^T)^{-1}``
    (one batched inverse, relative error about ``cond^2 eps``); otherwise the SVD with the rank
    convention of :func:`_rank`.
    """
    size, d = Xb.shape[1:]
    P = np.empty((Xb.shape[0], d, size))
    easy = np.zeros(Xb.shape[0], dtype=bool)
    if sigma2 is not None and size <= d:
        top, low = sigma2[:, -1], sigma2[:, 0]
        easy = (low > 0) & (top < GRAM_COND2 * low)
    if easy.any():
        Xe = Xb[easy]
        P[easy] = np.swapaxes(Xe, 1, 2) @ np.linalg.inv(Xe @ np.swapaxes(Xe, 1, 2))
    if (~easy).any():
        U, sigma, Vt = np.linalg.svd(Xb[~easy], full_matrices=False)
        inv = np.where(_rank(sigma, size), 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
        P[~easy] = np.swapaxes(Vt, 1, 2) * inv[:, None, :] @ np.swapaxes(U, 1, 2)
    return P


def _blocks_one_by_one(Xt, R0, c, starts, size: int, sums, examples, sigma2=None) -> None:
    """The recursion ``u += X~_C^+ (c r_C - X~_C u)`` block by block (blocks of full row rank, large or
    rank-deficient blocks); ``sigma2``: each block's ``sigma^2`` ascending, when known."""
    d = Xt.shape[1]
    k = R0.shape[1]
    u = sums.total.reshape(k, d).T.copy()  # (d, k)
    V = np.empty((starts.size, d, k))
    after = np.empty((starts.size, d, k))
    step = SVD_BATCH if size <= LARGE_BLOCK else 1
    for p in range(0, starts.size, step):
        batch = starts[p: p + step]
        first, stop = int(batch[0]), int(batch[-1]) + size
        Xb = Xt[first:stop].reshape(batch.size, size, d)
        cR = (c[first:stop, None] * R0[first:stop]).reshape(batch.size, size, k)
        if size <= LARGE_BLOCK:
            P = _pinv_stack(Xb, None if sigma2 is None else sigma2[p: p + step])
            for q in range(batch.size):
                v = P[q] @ (cR[q] - Xb[q] @ u)
                u = u + v
                V[p + q], after[p + q] = v, u
        else:
            v = _pinv_apply(Xb[0], cR[0] - Xb[0] @ u)
            u = u + v
            V[p], after[p] = v, u
    _store(starts, size, V, after, sums, examples)


@dataclass
class _Sums:
    """Solved sources ``g_i = s_i x~_i`` (rows ``(n, k d)``) with the totals of aligned chunks of ``CHUNK``."""

    src: np.ndarray
    cells: np.ndarray
    total: np.ndarray

    def past(self, lo: np.ndarray, a: int) -> np.ndarray:
        """``sum_{i in [lo_j, a)} g_i`` for every ``j`` (``lo_j <= a``; rows ``>= a`` are unsolved)."""
        if not np.any(lo):  # everything solved so far (rows >= a are still 0)
            return np.broadcast_to(self.total, (lo.size, self.total.size)).copy()
        out = np.zeros((lo.size, self.src.shape[1]))
        cell_a = a // CHUNK
        for cell in np.unique(lo // CHUNK):
            pick = (lo // CHUNK == cell) & (lo < a)
            if not pick.any():
                continue
            start, stop = int(cell) * CHUNK, min(int(cell + 1) * CHUNK, a)
            suffix = np.cumsum(self.src[start:stop][::-1], axis=0)[::-1]  # suffix[i - start] = sum_{[i, stop)}
            part = suffix[lo[pick] - start]
            if cell < cell_a:  # whole chunks after lo's chunk, then the solved head of a's chunk
                part = part + self.cells[int(cell) + 1: cell_a].sum(axis=0) + self.src[cell_a * CHUNK: a].sum(axis=0)
            out[pick] = part
        return out

    def add(self, start: int, rows: np.ndarray) -> None:
        self.src[start: start + rows.shape[0]] = rows
        self.total = self.total + rows.sum(axis=0)
        for cell in range(start // CHUNK, (start + rows.shape[0] - 1) // CHUNK + 1):
            self.cells[cell] = self.src[cell * CHUNK: (cell + 1) * CHUNK].sum(axis=0)


def stationary_sums(shape: Shape, Xt, R0, c) -> tuple[np.ndarray, np.ndarray]:
    """``(example_sums (n, k, d), query_sum (k, d))``: ``sum_{i in A(t)} s_i x~_i`` at the stationary ``s``.

    ``R0`` is ``(n, k)`` (initial residuals), ``c`` the normalizers of the ``n + m`` tokens;
    every query of a named attention reads the same interval, so one query sum serves all.
    The weight of token ``t`` is ``W_0 + (sum_t / c_t) L^T``.
    """
    n, d = Xt.shape
    k = R0.shape[1]
    c = np.asarray(c, dtype=float)
    sums = _Sums(np.zeros((n, k * d)), np.zeros((-(-n // CHUNK), k * d)), np.zeros(k * d))
    examples = np.zeros((n, k * d))
    for size, a, b in _groups(shape):
        starts = shape.starts[a:b]
        if size == 1:
            first, last = int(starts[0]), int(starts[-1]) + 1
            bounds = list(range(first, last, CHUNK)) if first % CHUNK == 0 else [first, *range(
                (first // CHUNK + 1) * CHUNK, last, CHUNK)]
            for lo_, hi_ in zip(bounds, [*bounds[1:], last], strict=True):
                _chunk(shape, Xt, R0, c, sums, examples, lo_, hi_)
            continue
        if np.any(shape.lo[int(starts[0]): int(starts[-1]) + size] != 0):  # pragma: no cover - never for named
            raise NotStructured("a full block whose members do not read every earlier example")
        _full_blocks(shape, Xt, R0, c, starts, size, sums, examples)
    lo_q = int(shape.lo[n]) if shape.m else 0
    query = sums.past(np.array([lo_q]), n)[0] if n else np.zeros(k * d)
    return examples.reshape(n, k, d), query.reshape(k, d)


def _chunk(shape, Xt, R0, c, sums, examples, a: int, e: int) -> None:
    """Solve the single examples ``a..e-1`` together: ``T s = c r - X~ u`` with the lower-triangular
    ``T_ji = [i in A(j)] x~_j^T x~_i`` inside the chunk and ``u`` what each reads before it (a zero example
    is a null direction nobody sees: ``s_j = 0``, the group inverse)."""
    from scipy.linalg import solve_triangular

    k = R0.shape[1]
    d = Xt.shape[1]
    lo = np.minimum(shape.lo[a:e], a)
    u = sums.past(lo, a)  # (b, k d)
    XC = Xt[a:e]
    band, whole = _reads(np.maximum(shape.lo[a:e] - a, 0))
    T = XC @ XC.T
    if not whole:  # a window inside the chunk (sliding); solve_triangular reads only the lower triangle
        T *= band
    rhs = c[a:e, None] * R0[a:e] - np.einsum("jkd,jd->jk", u.reshape(-1, k, d), XC)
    zero = np.flatnonzero(np.einsum("jd,jd->j", XC, XC) == 0)
    T[zero, zero] = 1.0
    rhs[zero] = 0.0
    s = solve_triangular(T, rhs, lower=True, check_finite=False)
    rows = (s[:, :, None] * XC[:, None, :]).reshape(e - a, k * d)
    sums.add(a, rows)
    examples[a:e] = u + band @ rows


_READS: dict = {}


def _reads(first: np.ndarray) -> tuple[np.ndarray, bool]:
    """``([first_j <= i <= j] as floats, whether that is the whole lower triangle)`` for a chunk of single
    examples (cached: every aligned chunk of a named attention has one of a few patterns)."""
    key = first.tobytes()
    if key not in _READS:
        if len(_READS) > 64:
            _READS.clear()
        idx = np.arange(first.size)
        band = ((idx[None, :] <= idx[:, None]) & (idx[None, :] >= first[:, None])).astype(float)
        _READS[key] = (band, not bool(np.any(first)))
    return _READS[key]


class Operator:
    """``N = D^{-1} M`` of a named attention on the examples as products (module doc), ``O(n d)`` per column.

    Interval sums are differences of running sums: fine for norm estimates (whose lower
    bounds are checked on explicit vectors), not used for the stationary point.  Arrays are
    kept feature-major (``(d, n)``) so the running sums run along contiguous memory.
    """

    def __init__(self, shape: Shape, Xt, c):
        self.n = shape.n
        self.XT = np.ascontiguousarray(np.asarray(Xt, dtype=float).T)  # (d, n)
        self.c = np.asarray(c, dtype=float)[: shape.n]
        self.lo, self.hi = shape.lo[: shape.n], shape.hi[: shape.n]
        self.rlo, self.rhi = shape.readers()

    def _apply(self, V: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``x~_j^T sum_{i in [lo_j, hi_j)} V_i x~_i`` for every ``j``: ``(n, p)``."""
        n, p = V.shape
        d = self.XT.shape[0]
        run = np.zeros((p * d, n + 1))
        np.cumsum((V.T[:, None, :] * self.XT[None]).reshape(p * d, n), axis=1, out=run[:, 1:])
        # one running sum; no subtraction when every lo is 0 (prefix, causal, block, hybrid)
        S = run[:, hi] if not lo.any() else run[:, hi] - run[:, lo]
        return np.einsum("pdj,dj->jp", S.reshape(p, d, n), self.XT)

    def matvec(self, V: np.ndarray) -> np.ndarray:
        """``N V`` for ``V (n, p)``."""
        return self._apply(V, self.lo, self.hi) / self.c[:, None]

    def rmatvec(self, V: np.ndarray) -> np.ndarray:
        """``N^T V`` for ``V (n, p)``: example ``i`` collects from its readers ``[rlo_i, rhi_i)``."""
        return self._apply(V / self.c[:, None], self.rlo, self.rhi)
