"""The linear self-attention layer, defined once (SPEC section 2).

For a target token ``z_j`` with attention set ``A(j)`` and normalizer ``c_j``::

    z_j  <-  z_j + (1/c_j) P V  sum_{i in A(j)} z_i (z_i^T K^T Q z_j)

In matrix form, with tokens as columns of ``Z`` and ``mask[i, j] = [i in A(j)]``::

    Z  <-  Z + P V Z (mask ∘ (Z^T K^T Q Z)) diag(1/c)

The same code runs on numpy arrays (optionally batched: leading axes are tasks)
and on SymPy matrices or matrix expressions (the proofs apply it to symbolic
tokens).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backend import hadamard, is_numeric, scale_columns, transpose
from .construction import Construction


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
    of ``(n + m) x (n + m)``: memory stays bounded on long prompts.
    """
    if chunk is None or not is_numeric(Z) or Z.shape[-1] <= chunk:
        return attend(Z, Z, construction, mask, c)
    size = Z.shape[-1]
    c = np.broadcast_to(np.asarray(c, dtype=float), (size,))
    out = np.empty_like(Z)
    for start in range(0, size, chunk):
        cols = slice(start, min(size, start + chunk))
        out[..., cols] = attend(Z[..., cols], Z, construction, None if mask is None else mask[:, cols], c[cols])
    return out


def lsa_forward(Z, constructions: Sequence[Construction], mask=None, c=1, chunk: int | None = None) -> list:
    """Run a stack: ``[Z^(0), Z^(1), ..., Z^(L)]`` with layer ``l`` using ``constructions[l-1]``."""
    states = [Z]
    for construction in constructions:
        states.append(lsa_layer(states[-1], construction, mask, c, chunk))
    return states
