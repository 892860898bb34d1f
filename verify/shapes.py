"""The shape of an attention: one structure concept for the engines and the prover (issue 21 item 7).

Example ``j`` reads example ``i`` when ``R(i, j)``; queries are tokens ``n, n+1, ...``.
The facts that matter for ``N = D^{-1} M`` are the same whether they are decided for
every ``n`` (z3, ``proofs/variants/structure.py``) or read off a concrete mask:

- ``self``: every example reads itself;
- ``all``: every example reads every example (prefix: one full block);
- ``triangular``: no example reads a later one (``N`` lower triangular: single components);
- ``symmetric``: ``R(i, j) <=> R(j, i)``;
- ``block``: block lower triangular with full diagonal blocks that are intervals
  (block:B, hybrid:P, prefix, and every triangular rule that reads itself);
- ``queries_read_all``: every query reads every example.

:data:`PROPERTIES` names them and :func:`mask_property` decides one on a concrete mask
(the prover's brute-force cross-check and the engines use this one function, and
:func:`mask_facts` all of them); :func:`kind_of` turns decided properties, from z3 or from
a mask, into the kind both dispatch on; :func:`diagonal_blocks` lists the blocks of a
``block`` rule at one size.

A *named* attention has more: every token reads one interval ``[lo_j, hi_j)`` of
examples, both ends non-decreasing in ``j`` (the count certificate of
``verify.normalizers`` proves the interval form for every ``n``).  :func:`named_shape`
gives these intervals, the diagonal blocks and the interval of readers of every
example in ``O(n)``, and checks the interval ends against ``verify.masks.reads`` (the one
definition of the model), so the structured engine (``verify.structured``) never forms
the ``(n + m)^2`` mask.  Every reader of a block reads all of it, which is what makes
the zero eigenvalues of a singular block harmless (SPEC section 7).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .masks import parse_attention, reads

PROPERTIES = ("self", "all", "triangular", "symmetric", "block", "queries_read_all", "whole")
#: kinds from the strongest: ``all`` (one full block), ``triangular`` (single examples), ``block``, ``other``
KINDS = ("all", "triangular", "block", "other")


def kind_of(holds) -> str:
    """The strongest kind among ``all``, ``triangular``, ``block`` whose property and ``self`` hold, else ``other``.

    ``holds`` maps a property name to True when it is established (for every ``n`` by z3, or on one mask).
    """
    for prop in ("all", "triangular", "block"):
        if holds(prop) and holds("self"):
            return prop
    return "other"


def mask_property(mask, n: int, prop: str) -> bool:
    """Whether ``prop`` (one of :data:`PROPERTIES`) holds for the concrete ``(n + m) x (n + m)`` mask."""
    mask = np.asarray(mask)
    reads_ = mask[:n, :n]  # reads_[i, j]: example j reads example i
    S = reads_ & reads_.T
    if prop == "self":
        return bool(np.all(np.diag(reads_)))
    if prop == "all":
        return bool(np.all(reads_))
    if prop == "triangular":
        return not bool(np.any(np.tril(reads_, -1)))
    if prop == "symmetric":
        return bool(np.array_equal(reads_, reads_.T))
    if prop == "queries_read_all":
        return bool(np.all(mask[:n, n:]))
    if prop == "whole":  # whoever reads a member of a class of S reads all of it (queries included)
        rows = mask[:n, :].astype(np.int64)
        return not bool(np.any(S & ((rows @ (1 - rows).T) > 0)))
    if prop != "block":
        raise ValueError(f"unknown property {prop!r}; one of {', '.join(PROPERTIES)}")
    if not np.all(np.diag(reads_)):
        return False
    idx = np.arange(n)
    if np.any((idx[:, None] > idx[None, :]) & reads_ & ~S):  # a later example read only one way
        return False
    Si = S.astype(np.int64)
    if np.any(((Si @ Si) > 0) & ~S):  # S not transitive
        return False
    # classes are intervals: S(a, b) with a < b implies S(a, k) for every a <= k <= b
    for a in range(n):
        row = np.flatnonzero(S[a, a:])
        if row.size and row[-1] + 1 != row.size:
            return False
    return True


def mask_facts(mask, n: int) -> dict:
    """Every property of :data:`PROPERTIES` decided on one concrete mask: ``{name: bool}``."""
    return {prop: mask_property(mask, n, prop) for prop in PROPERTIES}


def diagonal_blocks(mask, n: int) -> list[list[int]]:
    """The classes of mutual reading ``S`` at size ``n``, in order: the diagonal blocks of a ``block`` rule."""
    reads_ = np.asarray(mask)[:n, :n]
    S = reads_ & reads_.T
    out: list[list[int]] = []
    start = 0
    while start < n:
        end = start + 1
        while end < n and S[start, end]:
            end += 1
        out.append(list(range(start, end)))
        start = end
    return out


@dataclass(frozen=True)
class Shape:
    """A named attention at ``n`` examples and ``m`` queries, in ``O(n + m)`` numbers.

    ``lo, hi`` : ``(n + m,)``: token ``t`` reads the examples ``lo[t] <= i < hi[t]``.
    ``starts`` : first example of each diagonal block (strongly connected component), in order;
    blocks are full (every member reads all of it) and a block of one is a single example.
    ``kind`` : ``all``, ``triangular`` or ``block`` (:func:`kind_of`).
    """

    spec: str
    n: int
    m: int
    lo: np.ndarray
    hi: np.ndarray
    starts: np.ndarray
    kind: str

    @property
    def stops(self) -> np.ndarray:
        return np.append(self.starts[1:], self.n).astype(np.int64)

    @property
    def sizes(self) -> np.ndarray:
        return self.stops - self.starts

    def readers(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rlo, rhi)``: example ``i`` is read by the examples ``rlo[i] <= j < rhi[i]``.

        ``lo`` and ``hi`` are non-decreasing, so ``{j : lo_j <= i < hi_j}`` is an interval.
        """
        i = np.arange(self.n)
        rlo = np.searchsorted(self.hi[: self.n], i, side="right")
        rhi = np.searchsorted(self.lo[: self.n], i, side="right")
        return rlo.astype(np.int64), rhi.astype(np.int64)

    def counts(self) -> np.ndarray:
        """``|A(t)|`` for every token (the ``count`` normalizer before its 0 -> 1 rule)."""
        return (self.hi - self.lo).astype(float)


#: shapes up to this many tokens are kept once built (an experiment asks for the same small shape per task)
CACHED_TOKENS = 4096


def named_shape(spec: str, n: int, m: int) -> Shape:
    """The :class:`Shape` of a named attention (module doc); checked against ``verify.masks.reads``.

    Small shapes are built once per ``(spec, n, m)`` and shared, their arrays read-only."""
    if n + m <= CACHED_TOKENS:
        return _cached_shape(str(spec), int(n), int(m))
    return _build_shape(spec, n, m)


@functools.lru_cache(maxsize=64)
def _cached_shape(spec: str, n: int, m: int) -> Shape:
    shape = _build_shape(spec, n, m)
    for array in (shape.lo, shape.hi, shape.starts):
        array.setflags(write=False)
    return shape


def _build_shape(spec: str, n: int, m: int) -> Shape:
    name, param = parse_attention(spec)
    j = np.arange(n, dtype=np.int64)
    p = 0 if param is None else int(param)
    zero = np.zeros(n, dtype=np.int64)
    query_lo = 0
    if name == "prefix":
        lo, hi = zero, np.full(n, n, dtype=np.int64)
        starts = np.array([0] if n else [], dtype=np.int64)
    elif name == "causal":
        lo, hi, starts = zero, j + 1, j
    elif name == "sliding":
        lo, hi, starts = np.maximum(0, j - p + 1), j + 1, j
        query_lo = max(0, n - p)
    elif name == "block":
        lo, hi = zero, np.minimum(n, (j // p + 1) * p)
        starts = np.arange(0, n, p, dtype=np.int64)
    else:  # hybrid: the first P examples form one full block, later ones are causal
        lo, hi = zero, np.minimum(n, np.maximum(j + 1, p))
        first = min(max(p, 1), n)
        starts = np.concatenate([[0] if n else [], np.arange(first, n)]).astype(np.int64)
    kind = "all" if starts.size <= 1 and n > 1 else ("triangular" if starts.size == n else "block")
    lo = np.concatenate([lo, np.full(m, query_lo, dtype=np.int64)])
    hi = np.concatenate([hi, np.full(m, n, dtype=np.int64)])
    shape = Shape(str(spec), int(n), int(m), lo, hi, starts, kind)
    _check_ends(shape)
    return shape


def _check_ends(shape: Shape) -> None:
    """Both ends of every interval agree with ``reads`` (the one definition): ``lo`` and ``hi - 1`` are read,
    ``lo - 1`` and ``hi`` are not (the interior is the count certificate, proved for every ``n`` by z3)."""
    t = np.arange(shape.n + shape.m, dtype=np.int64)
    lo, hi, n = shape.lo, shape.hi, shape.n
    ok = bool(np.all(reads(shape.spec, lo, t, n)) and np.all(reads(shape.spec, hi - 1, t, n)))
    ok = ok and not bool(np.any(reads(shape.spec, lo - 1, t, n) & (lo > 0)))
    ok = ok and not bool(np.any(reads(shape.spec, hi, t, n) & (hi < n)))
    if not ok:  # pragma: no cover - a defect of this module, never of the input
        raise AssertionError(f"shapes: the intervals of {shape.spec!r} disagree with verify.masks.reads")
