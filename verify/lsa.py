"""The linear self-attention layer, defined once (SPEC section 2).

For a target token ``z_j`` with attention set ``A(j)`` and normalizer ``c_j``::

    z_j  <-  z_j + (1/c_j) P V  sum_{i in A(j)} z_i (z_i^T K^T Q z_j)

In matrix form, with tokens as columns of ``Z`` and ``mask[i, j] = [i in A(j)]``::

    Z  <-  Z + P V Z (mask ∘ (Z^T K^T Q Z)) diag(1/c)

The same code runs on numpy arrays (optionally batched: leading axes are tasks)
and on SymPy matrices or matrix expressions (the proofs apply it to symbolic
tokens).  A named attention given as its rule (``verify.masks.NamedMask``) runs on
numpy tokens through the associative form of the same sum (``verify.linear``)::

    sum_{i in A(j)} z_i (z_i^T K^T Q z_j) = (sum_{i in A(j)} z_i z_i^T) K^T Q z_j,

in ``O(n d^2)`` time and ``O(n d)`` memory per layer instead of ``(n + m)^2``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backend import hadamard, is_numeric, is_numpy, scale_columns, transpose
from .construction import Construction
from .masks import NamedMask


def attend(targets, sources, construction: Construction, mask=None, c=1):
    """Apply one layer to ``targets`` reading ``sources``.

    Returns ``targets + P V sources (mask ∘ (sources^T K^T Q targets)) diag(1/c)``.

    Parameters
    ----------
    targets : (..., d + k, T) tokens being updated (columns).
    sources : (..., d + k, S) tokens they read (columns).
    construction : the layer's K, Q, V, P.
    mask : (S, T) boolean, ``mask[i, j]`` true when target ``j`` reads source ``i``;
        None means every target reads every source.
    c : scalar or (T,) normalizers ``c_j``.
    """
    scores = transpose(sources) @ construction.kq @ targets
    attended = construction.pv @ sources @ hadamard(scores, mask)
    return targets + scale_columns(attended, c)


def lsa_layer(Z, construction: Construction, mask=None, c=1, chunk: int | None = None):
    """One LSA layer on the whole token matrix: every token reads its attention set in ``Z``.

    ``chunk`` (numeric ``Z`` only) applies :func:`attend` -- the same formula -- to
    ``chunk`` target columns at a time, so the scores are ``(n + m) x chunk`` instead
    of ``(n + m) x (n + m)``: memory stays bounded on long prompts.  A
    :class:`verify.masks.NamedMask` on numpy tokens takes the associative form
    (:func:`associative_layer`; ``chunk`` is then not needed); on other tokens it is
    made dense.
    """
    if isinstance(mask, NamedMask):
        if is_numpy(Z):
            return associative_layer(Z, construction, mask, c)
        mask = mask.dense()
    if chunk is None or not is_numeric(Z) or Z.shape[-1] <= chunk:
        return attend(Z, Z, construction, mask, c)
    size = Z.shape[-1]
    c = np.broadcast_to(np.asarray(c, dtype=float), (size,))
    out = np.empty_like(Z)
    for start in range(0, size, chunk):
        cols = slice(start, min(size, start + chunk))
        out[..., cols] = attend(Z[..., cols], Z, construction, None if mask is None else mask[:, cols], c[cols])
    return out


def associative_layer(Z: np.ndarray, construction: Construction, mask: NamedMask, c=1) -> np.ndarray:
    """One layer under a named attention, through ``S_j = sum_{i in A(j)} z_i z_i^T``.

    ``z_j + (1/c_j) P V S_j K^T Q z_j`` for every token, with ``A(j) = lo_j..hi_j`` from
    ``mask.bounds()`` and ``S_j K^T Q z_j`` from :func:`verify.linear.interval_sums`
    (no ``(n + m)^2`` scores).  ``Z`` is ``(..., d + k, n + m)``; leading axes run one after another.
    """
    from .linear import interval_sums
    from .threads import blas_threads

    size = Z.shape[-1]
    if Z.ndim > 2:
        flat = Z.reshape((-1,) + Z.shape[-2:])
        return np.stack([associative_layer(z, construction, mask, c) for z in flat]).reshape(Z.shape)
    if size != mask.shape[1]:
        raise ValueError(f"tokens: {size} columns for a mask over {mask.shape[1]} tokens")
    kq, pv = np.asarray(construction.kq, dtype=float), np.asarray(construction.pv, dtype=float)
    c = np.broadcast_to(np.asarray(c, dtype=float), (size,))
    lo, hi = mask.bounds()
    sources = transpose(Z)[:mask.n]  # (n, d + k) rows: the examples
    # only the coordinates P V reads and K^T Q pairs take part (the paper's construction: the label
    # against the features), so S_j shrinks from (d + k)^2 to k x d entries with the same products
    moved, paired, read = (_acting(a) for a in (pv.any(axis=0), kq.any(axis=1), kq.any(axis=0)))
    out = np.empty(Z.shape, dtype=np.result_type(Z, kq, pv, float))
    out[...] = Z
    if sources[:, moved].shape[1] == 0 or sources[:, paired].shape[1] == 0:
        return out
    form = kq[paired][:, read]
    # every product is small (one side d + k): one BLAS thread unless ICL_VERIFY_THREADS says otherwise
    with blas_threads(Z.shape[-2]):
        for rows, sums in interval_sums(lo, hi, sources[:, moved], sources[:, paired],
                                        lambda rows: transpose(form @ Z[read, rows])):
            out[:, rows] += (pv[:, moved] @ sums.T) / c[rows]
    return out


def _acting(nonzero):
    """The coordinates where ``nonzero`` holds, as a slice when they are contiguous (a view, no copy)."""
    where = np.flatnonzero(nonzero)
    if where.size and where[-1] - where[0] + 1 == where.size:
        return slice(int(where[0]), int(where[-1]) + 1)
    return where


def lsa_forward(Z, constructions: Sequence[Construction], mask=None, c=1, chunk: int | None = None) -> list:
    """Run a stack: ``[Z^(0), Z^(1), ..., Z^(L)]`` with layer ``l`` using ``constructions[l-1]``."""
    states = [Z]
    for construction in constructions:
        states.append(lsa_layer(states[-1], construction, mask, c, chunk))
    return states
