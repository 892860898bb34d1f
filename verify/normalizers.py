"""What divides: the normalizer ``c_j`` of each target token (SPEC section 2).

- ``constant``: ``c_j = c`` for every token (the reference code: ``c = 1``).
- ``count``: ``c_j = |A(j)|``, the number of tokens ``j`` reads.

At symbolic sizes (a :class:`verify.masks.SymbolicMask`) the count is *derived* from
``verify.masks.reads``: a counting certificate (every token reads exactly an interval
``lo(j, n) <= i <= hi(j, n)`` of sources, ``lo <= hi``) is checked by z3 for all ``n``,
``i``, ``j``, and then ``c_j = hi - lo + 1``.  A rule that disagrees with its certificate
at any size makes the derivation raise: nothing is taken on trust.
"""
from __future__ import annotations

from typing import cast

import numpy as np

from .backend import is_integer, is_number
from .errors import PromptError
from .masks import NamedMask, SymbolicMask, read_interval

KINDS = ("constant", "count")


def normalizer(kind: str, mask, scale=1.0) -> np.ndarray:
    """Vector ``c`` of length ``n + m`` (one entry per target token).

    ``constant`` gives ``c_j = scale``; ``count`` gives ``c_j = |A(j)|`` =
    ``mask[:, j].sum()`` (``scale`` is ignored), for a :class:`verify.masks.NamedMask`
    ``hi_j - lo_j + 1`` from its intervals.  A token that reads nothing
    gets ``c_j = 1``: its sum is empty, so any value leaves it unchanged.
    """
    if not is_integer(mask.shape[1]):  # a SymbolicMask (symbolic size): the count is derived from reads
        return symbolic_normalizer(kind, cast(SymbolicMask, mask), scale)
    size = mask.shape[1]
    if kind == "constant":
        if is_number(scale):
            if not np.isfinite(scale) or scale <= 0:
                raise PromptError(f"scale: the constant normalizer needs a finite c > 0, got {scale}")
            return np.full(size, float(scale))
        return np.array([scale] * size, dtype=object)  # symbolic c
    if kind == "count":
        # a named attention counts its intervals in O(n + m) (NamedMask.counts); a matrix sums its columns
        counts = mask.counts() if isinstance(mask, NamedMask) else mask.sum(axis=0).astype(float)
        counts[counts == 0] = 1.0
        return counts
    raise PromptError(f"normalization: unknown normalizer {kind!r}; use constant or count")


def count_certificate(mask: SymbolicMask):
    """``(c_example(j), c_query)``: ``|A(j)|`` for an example ``j`` and for a query, as SymPy
    expressions in ``j`` and ``n``, derived from ``mask[i, j]`` (that is ``reads``).

    z3 proves, for all integers ``n >= 1``, ``i >= 0``, ``j >= 0``: ``mask[i, j]`` iff
    ``lo <= i <= hi`` and ``lo <= hi`` (examples ``j < n`` and queries ``j >= n`` separately).
    Raises ValueError when the certificate does not hold for some size.
    """
    import sympy as sp

    from .logic import holds

    i, j = sp.symbols("i j", integer=True)
    n = mask.n
    sizes = [n >= 1, i >= 0, j >= 0]
    counts = []
    for (lo, hi), where in zip(read_interval(mask.spec, j, n), (j < n, j >= n)):
        claim = sp.And(sp.Equivalent(mask[i, j], sp.And(lo <= i, i <= hi)), lo <= hi)
        ok, counterexample = holds(claim, [*sizes, where])
        if not ok:
            raise ValueError(f"count normalizer: {mask.spec} reads no interval [{lo}, {hi}] of sources "
                             f"(counterexample {counterexample}); |A(j)| cannot be derived")
        counts.append(hi - lo + 1)
    return counts[0], counts[1]


def symbolic_normalizer(kind: str, mask: SymbolicMask, scale=1):
    """``c`` at symbolic sizes: a SymPy ``Lambda`` of the target index ``j`` (examples ``j < n``,
    then queries).  ``constant``: ``c_j = scale``; ``count``: from :func:`count_certificate`."""
    import sympy as sp

    j = sp.Symbol("j", integer=True)
    if kind == "constant":
        return sp.Lambda(j, sp.sympify(scale))
    if kind == "count":
        example, query = count_certificate(mask)
        return sp.Lambda(sp.Symbol("j", integer=True), sp.Piecewise((example, j < mask.n), (query, True)))
    raise PromptError(f"normalization: unknown normalizer {kind!r}; use constant or count")
