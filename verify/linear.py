"""Masked sums of linear attention over interval attention sets, in their associative form (issue 21).

Every named attention reads, from token ``j``, an interval of examples ``lo_j..hi_j``
(``verify.masks.read_interval``).  Linear attention is associative::

    sum_{i=lo_j}^{hi_j} a_i (b_i^T u_j)  =  S_j u_j,      S_j = sum_{i=lo_j}^{hi_j} a_i b_i^T,

so no ``n x n`` score matrix is needed.  :func:`interval_sums` computes ``S_j u_j`` (the
LSA layer: ``a = b = z``, ``u = K^T Q z``) or ``S_j`` itself (the per-position weights:
``a = r``, ``b = Gamma x``) for every target ``j``, a group of targets at a time:

- targets are cut into chunks of ``T`` tokens; the source chunks that *every* target of
  a chunk reads in full (all earlier chunks for causal, every chunk for prefix, the
  inside of a long window) are read through their chunk sums ``S_c = A_c^T B_c``,
  added up from a tree of aligned power-of-two blocks of chunks
  (``verify.structure.DyadicSums``): at most ``2 log2(n / T)`` additions and no
  difference of prefix sums, so a window far from the start loses nothing to cancellation;
- the rest of each target's interval -- at most two pieces beside that common run (its
  own chunk for causal, a short window for sliding, the next block for block) -- is read
  directly, ``sum_i [lo_j <= i <= hi_j] a_i (b_i^T u_j)``, as in the literal formula.

Time ``O(n (T + p q / T + p q))``; memory: the chunk sums ``O((n / T) p q)`` and one
group's temporaries, never ``n x n`` nor ``n x p x q`` (with ``T >= p, q``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .structure import DyadicSums

#: tokens per chunk (targets and sources); the direct pieces cost ``~2 T`` reads per target
CHUNK = 32
#: the direct pieces of chunks are padded to a multiple of this width (one product per width class)
WIDTH_STEP = 16
#: target tokens per group: bounds the temporaries (scores are ``group x piece width``)
GROUP_TOKENS = 16384


def chunk_size(width: int) -> int:
    """Tokens per chunk for sums ``S_j`` of ``width`` entries: ``T >= sqrt(width)`` keeps the chunk sums
    (``n / T * width`` floats) within ``O(n sqrt(width))``; at least :data:`CHUNK`."""
    return max(CHUNK, 1 << int(np.ceil(np.log2(max(np.sqrt(width), 1.0)))))


def _plan(lo: np.ndarray, hi: np.ndarray, n: int, T: int) -> dict:
    """Per target chunk: the common run of source chunks ``[f0, f1)`` and the two direct pieces (rows)."""
    size = lo.size
    chunks = -(-size // T)
    pad = chunks * T - size
    # padded targets copy the last real one: neutral for the chunk's min and max, their output is dropped
    lo2 = np.pad(lo, (0, pad), mode="edge").reshape(chunks, T)
    hi2 = np.pad(hi, (0, pad), mode="edge").reshape(chunks, T)
    lo_min, lo_max, hi_min, hi_max = lo2.min(1), lo2.max(1), hi2.min(1), hi2.max(1)
    sources = -(-n // T)
    f0 = -(-lo_max // T)  # first chunk starting at or after every lo
    f1 = np.where(hi_min >= n - 1, sources, (hi_min + 1) // T)  # chunks ending at or before every hi
    common = f1 > f0
    f0, f1 = np.where(common, f0, 0), np.where(common, f1, 0)
    left = (lo_min, np.where(common, f0 * T, hi_max + 1))
    right = (np.where(common, f1 * T, 0), np.where(common, np.minimum(hi_max + 1, n), 0))
    pieces = [(np.minimum(a, b), b) for a, b in (left, right)]
    return {"lo": lo2, "hi": hi2, "f0": f0, "f1": f1, "common": common, "pieces": pieces, "chunks": chunks}


def _chunk_sums(A, B, n: int, T: int) -> np.ndarray:
    """``S_c = sum_{i in chunk c} a_i b_i^T`` over the source chunks (the last one partial): ``(chunks, p, q)``."""
    full, p, q = n // T, A.shape[1], B.shape[1]
    sums = np.empty((-(-n // T), p, q))
    step = max(1, (1 << 20) // (T * max(p, q)))  # chunks per product: bounded temporaries
    for c0 in range(0, full, step):
        c1 = min(full, c0 + step)
        rows = slice(c0 * T, c1 * T)
        sums[c0:c1] = np.matmul(A[rows].reshape(c1 - c0, T, p).transpose(0, 2, 1), B[rows].reshape(c1 - c0, T, q))
    if full * T < n:
        sums[full] = A[full * T:n].T @ B[full * T:n]
    return sums


def _common_sums(plan: dict, A, B, n: int, T: int) -> np.ndarray:
    """``sum_{f0_t <= c < f1_t} S_c`` for every target chunk ``t`` (zero where it has no common run).

    Runs that all start at chunk 0 (prefix, causal, block, hybrid) are running sums of the
    chunk sums (additions only); others (a long sliding window) are read from a tree of
    aligned power-of-two blocks (``verify.structure.DyadicSums``), never as a difference.
    """
    f0, f1, common = plan["f0"], plan["f1"], plan["common"]
    sums = _chunk_sums(A, B, n, T)
    if not np.any(f0[common]):
        running = np.zeros((sums.shape[0] + 1,) + sums.shape[1:])
        np.cumsum(sums, axis=0, out=running[1:])
        return running[f1]  # f1 = 0 (an empty run) picks the zero row
    out = np.zeros((f0.size,) + sums.shape[1:])
    at = np.flatnonzero(common)
    out[at] = DyadicSums(sums).query(f0[at], f1[at])
    return out


def interval_sums(lo, hi, A, B, U: Callable | None = None, chunk: int | None = None) -> Iterator[tuple]:
    """Yield ``(rows, out)`` for consecutive groups of targets: ``out_j = S_j u_j`` or ``S_j``.

    ``S_j = sum_{i=lo_j}^{hi_j} a_i b_i^T`` (module doc).

    Parameters
    ----------
    lo, hi : (N,) integer arrays, target ``j`` reads sources ``lo_j..hi_j`` (inclusive; ``hi_j < n``).
    A : (n, p), B : (n, q) -- the sources' factors (any strides).
    U : ``U(rows) -> (len(rows), q)``, the targets' vectors ``u_j``; None yields ``S_j`` itself.
    chunk : tokens per chunk ``T`` (default :func:`chunk_size`).

    Yields
    ------
    rows : slice of targets; out : ``(rows, p)`` with ``U``, else ``(rows, p, q)``.
    """
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    n, p, q = A.shape[0], A.shape[1], B.shape[1]
    size = lo.size
    T = chunk or chunk_size(p * q)
    plan = _plan(lo, hi, n, T)
    common = _common_sums(plan, A, B, n, T) if plan["common"].any() else None
    per_group = max(1, GROUP_TOKENS // T)
    for g0 in range(0, plan["chunks"], per_group):
        g1 = min(plan["chunks"], g0 + per_group)
        rows = slice(g0 * T, min(size, g1 * T))
        u = None
        if U is not None:
            u = np.zeros(((g1 - g0) * T, q))
            u[:rows.stop - rows.start] = U(rows)
            u = u.reshape(g1 - g0, T, q)
        out = np.zeros((g1 - g0, T, p) if U is not None else (g1 - g0, T, p, q))
        if common is not None:
            S = common[g0:g1]  # (chunks, p, q)
            if u is not None:
                out += np.matmul(u, S.transpose(0, 2, 1))
            else:
                out += S[:, None]
        for start, stop in plan["pieces"]:
            _add_pieces(out, start[g0:g1], stop[g0:g1], plan["lo"][g0:g1], plan["hi"][g0:g1], A, B, u, T)
        flat = out.reshape(((g1 - g0) * T,) + out.shape[2:])
        yield rows, flat[:rows.stop - rows.start]


def _add_pieces(out, start, stop, lo, hi, A, B, u, T: int) -> None:
    """``out_j += sum_{i in [start, stop), lo_j <= i <= hi_j} a_i (b_i^T u_j)`` (or ``a_i b_i^T``) per chunk.

    Chunks are bucketed by the piece's width rounded up to :data:`WIDTH_STEP`, so a few
    wide pieces (a block boundary) do not widen every chunk's.
    """
    width = stop - start
    live = width > 0
    if not live.any():
        return
    classes = -(-width // WIDTH_STEP) * WIDTH_STEP
    n, p = A.shape
    q = B.shape[1]
    for W in np.unique(classes[live]):
        at = np.flatnonzero(live & (classes == W))
        first = start[at, None]
        idx = first + np.arange(W)[None, :]  # (chunks, W)
        src = np.minimum(idx, n - 1)
        # offsets from the piece's start, clipped to the piece: the same reads, and equal patterns compare equal
        reads = _piece_reads(idx - first, width[at], np.clip(lo[at] - first, 0, W), np.clip(hi[at] - first, -1, W))
        Aw = A[src]  # (chunks, W, p)
        Bw = B[src]
        if u is not None:
            scores = np.matmul(Bw, u[at].transpose(0, 2, 1))  # (chunks, W, T): b_i^T u_j
            scores *= reads
            out[at] += np.matmul(scores.transpose(0, 2, 1), Aw)
        else:
            V = (Aw[..., :, None] * Bw[..., None, :]).reshape(at.size, int(W), p * q)
            out[at] += np.matmul(np.swapaxes(reads, -1, -2), V).reshape(at.size, T, p, q)


def _piece_reads(offset, width, lo, hi) -> np.ndarray:
    """``[i < start + width and lo_j <= i <= hi_j]`` over a piece, in offsets from its start: ``(chunks, W, T)``,
    or one shared ``(W, T)`` float pattern when every chunk's is the same (causal, sliding: the rule is
    translation invariant), which saves a pass over the scores per chunk."""
    if np.all(width == width[0]) and np.all(lo == lo[0]) and np.all(hi == hi[0]):
        w = offset[0][:, None]
        return ((w < width[0]) & (w >= lo[0][None, :]) & (w <= hi[0][None, :])).astype(float)
    w = offset[:, :, None]
    return ((w < width[:, None, None]) & (w >= lo[:, None, :]) & (w <= hi[:, None, :])).astype(float)


def interval_cost(lo, hi, n: int, p: int, q: int, with_u: bool = True, chunk: int | None = None) -> tuple:
    """``(multiply-adds, floats)`` of one :func:`interval_sums` call, from its plan (``O(N / T)``).

    Multiply-adds: the chunk sums (``n p q``), the common runs (``p q`` per target), and
    the direct pieces (``width x T x (p + q)`` per chunk with ``u``, ``width x T x 2 p q``
    without).  Floats: the chunk sums and common sums (``2 N / T p q``) and one group's
    temporaries (its widest piece); the caller adds its own arrays.
    """
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    T = chunk or chunk_size(p * q)
    plan = _plan(lo, hi, n, T)
    widths = sum(np.maximum(stop - start, 0) for start, stop in plan["pieces"])
    per_row = (p + q) if with_u else 2 * p * q
    work = float(n) * p * q + float(lo.size) * p * q + float(widths.sum()) * T * per_row
    per_group = max(1, GROUP_TOKENS // T)
    widest = float(widths.max(initial=0) + WIDTH_STEP)
    floats = 2.0 * (-(-lo.size // T)) * p * q + per_group * widest * (T + p + q + (p * q if not with_u else 0)) \
        + GROUP_TOKENS * (q + (p if with_u else p * q))
    return work, floats
