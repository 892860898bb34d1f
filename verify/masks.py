"""Who attends to whom: attention sets ``A(j)`` as boolean masks.

A mask is a boolean array of shape ``(n + m, n + m)`` over tokens (examples
first, then queries) with ``mask[i, j]`` true when target token ``j`` reads
source token ``i``.  Queries never read queries; examples never read queries.

Named attentions (SPEC sections 2, 5 and 7): each is a rule in FlexAttention's ``mask_mod``
convention (:mod:`verify.rule`: ``q_idx`` reads ``kv_idx``, examples ``0..n-1``, a query at
``q_idx = n``), compiled by :func:`verify.rule.parse_rule` -- the one definition:

=============  ==============================================  ==========================
spec           rule (an example ``q_idx`` reads ``kv_idx``)    query rule
=============  ==============================================  ==========================
``prefix``     ``True``                                         ``True``
``causal``     ``kv_idx <= q_idx``                              ``True``
``sliding:K``  ``kv_idx <= q_idx and q_idx - kv_idx < K``       ``kv_idx > n - 1 - K``
``block:B``    ``kv_idx // B <= q_idx // B``                    ``True``
``hybrid:P``   ``kv_idx <= q_idx or kv_idx < P``                ``True``
=============  ==============================================  ==========================
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from .backend import (
    index_pair,
    index_positions,
    is_concrete,
    maximum,
    minimum,
)
from .errors import PromptError
from .limits import check_array

NAMED = ("prefix", "causal", "sliding:K", "block:B", "hybrid:P")
#: the named attentions in a sentence, for ``--help`` (the module table in words; queries read every example
#: except under sliding:K)
ATTENTION_HELP = ("prefix (every example reads all n), causal (example j reads 1..j), sliding:K (the last K up to j; "
                  "queries the last K), block:B (full inside consecutive blocks of B examples, causal across "
                  "blocks), hybrid:P (the first P examples read each other in full, later ones are causal)")


def parse_attention(spec: str) -> tuple[str, int | None]:
    """Split ``'sliding:4'`` into ``('sliding', 4)``; check the name and the parameter."""
    name, _, param = str(spec).partition(":")
    if name in ("prefix", "causal") and not param:
        return name, None
    if name in ("sliding", "block", "hybrid") and param:
        try:
            value = int(param)
        except ValueError:
            value = -1
        low = 0 if name == "hybrid" else 1
        if value < low:
            raise PromptError(f"attention: {spec!r} needs an integer parameter >= {low}, e.g. {name}:4")
        return name, value
    raise PromptError(f"attention: unknown attention {spec!r}; use one of {', '.join(NAMED)}")


#: each named attention's rule and query rule (``{K}``, ``{B}``, ``{P}``: the parameter)
RULE_TEXTS = {
    "prefix": ("True", "True"),
    "causal": ("kv_idx <= q_idx", "True"),
    "sliding": ("kv_idx <= q_idx and q_idx - kv_idx < {p}", "kv_idx > n - 1 - {p}"),
    "block": ("kv_idx // {p} <= q_idx // {p}", "True"),
    "hybrid": ("kv_idx <= q_idx or kv_idx < {p}", "True"),
}


def rule_texts(spec: str) -> tuple[str, str]:
    """``(rule, query rule)`` of a named attention, e.g. ``sliding:4`` -> ``('kv_idx <= q_idx and ...', ...)``."""
    name, param = parse_attention(spec)
    example, query = RULE_TEXTS[name]
    return example.format(p=param), query.format(p=param)


@lru_cache(maxsize=256)
def named_rule(spec: str):
    """The compiled :class:`verify.rule.Rule` of a named attention (divisors are positive constants)."""
    from .rule import parse_rule

    example, query = rule_texts(spec)
    return parse_rule(example, check_divisors=False, query=query)


def named_spec_of(rule) -> str | None:
    """The named attention a :class:`verify.rule.Rule` spells exactly (its rule and query rule parse to the
    named attention's trees, e.g. ``kv_idx <= q_idx`` is ``causal``), else None: the numeric commands then
    run the named attention's own code path, so ``--rule`` and ``--attention`` give the same numbers."""
    candidates = ["prefix", "causal"] + [f"{name}:{p}" for name in ("sliding", "block", "hybrid")
                                         for p in rule.literals if p >= 1]
    for spec in candidates:
        named = named_rule(spec)
        if (named.tree, named.query_tree) == (rule.tree, rule.query_tree):
            return spec
    return None


def reads(spec: str, i, j, n):
    """True when token ``j`` reads token ``i`` under the named attention ``spec``.

    The one definition of every named attention: its rule text (module table) compiled by
    :mod:`verify.rule`; examples are ``0..n-1``, queries ``n, n+1, ...``.  Nothing reads a
    query (``i >= n``).  With ``E(j) = [j < n]``::

        reads(i, j) = [i < n] & ( E(j) & rule(q_idx=j, kv_idx=i) | ~E(j) & query_rule(q_idx=n, kv_idx=i) )

    ``i``, ``j``, ``n`` may be Python ints (a ``bool``), numpy integer arrays
    (broadcast boolean arrays; ``attention_mask`` is built this way), SymPy integer
    symbols (a SymPy Boolean, which the proofs read at symbolic ``n``) or z3 integers.
    """
    return named_rule(spec).reads(i, j, n)


def read_interval(spec: str, j, n) -> tuple:
    """The examples a token reads as an interval: ``((lo, hi) for an example j, (lo, hi) for a query)``.

    Every named attention reads, from token ``j``, exactly the examples ``lo <= i <= hi``
    (inclusive, 0-based, never empty).  The same expressions serve two readers:
    ``verify.normalizers.count_certificate`` checks them against :func:`reads` with z3 for
    every ``n`` (SymPy ``j``, ``n``), and :class:`NamedMask` evaluates them on integer arrays
    (``O(n)`` counts and the associative form of ``verify.linear``).  Only candidates until
    checked: the tests compare them with ``reads`` at many sizes too.
    """
    name, parsed = parse_attention(spec)
    param = 0 if parsed is None else parsed  # prefix and causal take no parameter
    zero = 0 * j  # 0 of the right kind: a SymPy zero or an integer array
    query = (zero, n - 1)
    if name == "prefix":
        return (zero, n - 1), query
    if name == "causal":
        return (zero, j), query
    if name == "sliding":
        return (maximum(0, j - param + 1), j), (maximum(0, n - param), n - 1)
    if name == "block":
        return (zero, minimum(n - 1, param * (j // param) + param - 1)), query
    if name == "hybrid":
        return (zero, minimum(n - 1, maximum(j, param - 1))), query
    raise PromptError(f"attention: no interval form for {name!r}")  # pragma: no cover


@dataclass(frozen=True)
class NamedMask:
    """A named attention's mask at integer sizes, kept as its rule: ``mask[i, j] = reads(spec, i, j, n)``.

    Nothing of size ``(n + m)^2`` is formed unless asked: ``mask[rows, cols]`` evaluates
    :func:`reads` on those index ranges (numpy indexing rules: slices, integers and integer
    arrays), :meth:`bounds` gives every token's interval of examples in ``O(n + m)``
    (:func:`read_interval`), and :meth:`dense` (or ``numpy.asarray(mask)``) builds the whole
    boolean matrix, refused above ``verify.limits.MAX_ARRAY_BYTES``.  ``verify.lsa`` runs the
    layer on it through the associative form of linear attention (``verify.linear``).
    """

    spec: str
    n: int
    m: int

    def __post_init__(self):
        parse_attention(self.spec)

    @property
    def shape(self) -> tuple:
        return (self.n + self.m, self.n + self.m)

    @cached_property
    def _bounds(self) -> tuple:
        j = np.arange(self.n + self.m, dtype=np.int64)
        (lo, hi), (qlo, qhi) = read_interval(self.spec, j, self.n)
        example = j < self.n
        lo, hi = np.where(example, lo, qlo), np.where(example, hi, qhi)
        lo.flags.writeable = hi.flags.writeable = False
        return lo, hi

    def bounds(self) -> tuple:
        """``(lo, hi)``, two int64 arrays over the ``n + m`` tokens: token ``j`` reads examples ``lo_j..hi_j``."""
        return self._bounds

    def counts(self) -> np.ndarray:
        """``|A(j)| = hi_j - lo_j + 1`` for every token, in ``O(n + m)`` (the ``count`` normalizer)."""
        lo, hi = self.bounds()
        return (hi - lo + 1).astype(float)

    def dense(self) -> np.ndarray:
        """The whole ``(n + m, n + m)`` boolean mask (:func:`attention_mask`, read-only, built once per mask);
        refused when too large for the dense methods that ask for it (they hold float matrices of this shape)."""
        check_array("PROMPT", self.shape, what="the dense attention matrices of n + m tokens")
        return self._dense

    @cached_property
    def _dense(self) -> np.ndarray:
        dense = attention_mask(self.spec, self.n, self.m)
        dense.flags.writeable = False
        return dense

    def __array__(self, dtype=None, copy=None):
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        index = index_pair(index)
        (rows, row_array), (cols, col_array) = (index_positions(ix, size)
                                                for ix, size in zip(index, self.shape, strict=True))
        if row_array and col_array:
            rows, cols = np.broadcast_arrays(rows, cols)
        elif row_array:
            rows = rows.reshape(rows.shape + (1,))
        elif col_array:
            rows = rows.reshape((-1,) + (1,) * cols.ndim)
        else:
            rows = rows[:, None]
        check_array("mask", np.broadcast_shapes(rows.shape, cols.shape), itemsize=1, what="a slice of the mask")
        return np.asarray(reads(self.spec, rows, cols, self.n), dtype=bool)


def named_mask(spec: str, n, m):
    """The mask of a named attention kept as its rule: a :class:`NamedMask` at integer sizes,
    a :class:`SymbolicMask` at SymPy sizes."""
    parse_attention(spec)
    return NamedMask(spec, int(n), int(m)) if is_concrete(n, m) else SymbolicMask(spec, n, m)


@dataclass(frozen=True)
class SymbolicMask:
    """A named attention's mask at symbolic sizes: ``mask[i, j]`` is ``reads(spec, i, j, n)``
    as a SymPy Boolean.  What ``attention_mask`` returns when ``n`` or ``m`` is a SymPy symbol;
    ``verify.normalizers.normalizer`` derives the ``count`` normalizer from it."""

    spec: str
    n: Any
    m: Any

    @property
    def shape(self) -> tuple:
        return (self.n + self.m, self.n + self.m)

    def __getitem__(self, index):
        i, j = index
        return reads(self.spec, i, j, self.n)


def attention_mask(spec: str, n, m):
    """The ``(n + m, n + m)`` boolean mask of a named attention: ``mask[i, j] = reads(spec, i, j, n)``.

    Integer sizes give a numpy array; SymPy sizes give a :class:`SymbolicMask` (the same rule).
    """
    parse_attention(spec)
    if not is_concrete(n, m):
        return SymbolicMask(spec, n, m)
    tokens = np.arange(n + m)
    mask = np.empty((n + m, n + m), dtype=bool)
    for start in range(0, n + m, 1024):  # a block of rows at a time: bounded temporaries on long prompts
        rows = tokens[start:start + 1024, None]
        mask[start:start + 1024] = np.asarray(reads(spec, rows, tokens[None, :], n), dtype=bool)
    return mask


def check_mask(mask, n: int, m: int, field: str = "attention-mask") -> np.ndarray:
    """Validate a user's mask: boolean, ``(n + m, n + m)``, nobody reads a query,
    every query reads at least one example."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise PromptError(f"{field}: expected a boolean array, got dtype {mask.dtype}; save it with dtype=bool")
    if mask.shape != (n + m, n + m):
        raise PromptError(f"{field}: expected shape ({n + m}, {n + m}) for n = {n} examples and m = {m} queries, "
                          f"got {mask.shape}")
    if mask[n:, :].any():
        raise PromptError(f"{field}: a token reads a query (rows {n}.. must be false); queries are never sources")
    if m and not mask[:n, n:].any(axis=0).all():
        q = int(np.flatnonzero(~mask[:n, n:].any(axis=0))[0])
        raise PromptError(f"{field}: query {q} reads no example; give every query column at least one true entry "
                          f"in rows 0..{n - 1}")
    return mask


def load_mask(path: str, n: int, m: int) -> np.ndarray:
    """Read and validate a ``.npy`` mask file (``allow_pickle=False``)."""
    try:
        mask = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PromptError(f"attention-mask: file {path!r} not found; give the path of a boolean .npy array") from None
    except Exception:
        raise PromptError(f"attention-mask: {path!r} is not a readable .npy array of booleans; "
                          "write it with numpy.save") from None
    return check_mask(mask, n, m)


def is_symmetric_on_examples(mask: np.ndarray, n: int) -> bool:
    """True when example ``j`` reads ``i`` exactly when ``i`` reads ``j``."""
    block = np.asarray(mask)[:n, :n]
    tile = 1024  # compared tile by tile: cache-friendly, and a non-symmetric mask stops at its first tile
    for i in range(0, n, tile):
        for j in range(0, i + 1, tile):
            if not np.array_equal(block[i:i + tile, j:j + tile], block[j:j + tile, i:i + tile].T):
                return False
    return True
