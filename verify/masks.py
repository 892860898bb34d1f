"""Who attends to whom: attention sets ``A(j)`` as boolean masks.

A mask is a boolean array of shape ``(n + m, n + m)`` over tokens (examples
first, then queries) with ``mask[i, j]`` true when target token ``j`` reads
source token ``i``.  Queries never read queries; examples never read queries.

Named attentions (SPEC sections 2 and 5, 1-based example indices):

=============  ==========================================  ======================
spec           example ``j`` reads                          query reads
=============  ==========================================  ======================
``prefix``     ``1..n``                                     ``1..n``
``causal``     ``1..j``                                     ``1..n``
``sliding:K``  ``max(1, j-K+1)..j``                         ``n-K+1..n``
``block:B``    its own block of size ``B`` and all earlier  ``1..n``
``hybrid:P``   ``1..max(j, P)``                             ``1..n``
=============  ==========================================  ======================
"""
from __future__ import annotations

import numpy as np

from .errors import PromptError

NAMED = ("prefix", "causal", "sliding:K", "block:B", "hybrid:P")


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


def example_reads(name: str, param: int | None, n: int) -> np.ndarray:
    """``(n, n)`` boolean: ``[i, j]`` true when example ``j`` reads example ``i``."""
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    if name == "prefix":
        return np.ones((n, n), dtype=bool)
    if name == "causal":
        return i <= j
    if name == "sliding":
        return (i <= j) & (i > j - param)
    if name == "block":
        return (i // param) <= (j // param)
    if name == "hybrid":
        return i <= np.maximum(j, param - 1)
    raise PromptError(f"attention: unknown attention {name!r}; use one of {', '.join(NAMED)}")


def query_reads(name: str, param: int | None, n: int) -> np.ndarray:
    """``(n,)`` boolean: which examples every query reads."""
    reads = np.ones(n, dtype=bool)
    if name == "sliding":
        reads[: max(n - param, 0)] = False
    return reads


def attention_mask(spec: str, n: int, m: int) -> np.ndarray:
    """The ``(n + m, n + m)`` boolean mask of a named attention (see module table)."""
    name, param = parse_attention(spec)
    mask = np.zeros((n + m, n + m), dtype=bool)
    mask[:n, :n] = example_reads(name, param, n)
    mask[:n, n:] = query_reads(name, param, n)[:, None]
    return mask


def check_mask(mask, n: int, m: int, field: str = "attention-mask") -> np.ndarray:
    """Validate a user's mask: boolean, ``(n + m, n + m)``, nobody reads a query,
    every query reads at least one example."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise PromptError(f"{field}: expected a boolean array, got dtype {mask.dtype}; save it with dtype=bool")
    if mask.shape != (n + m, n + m):
        raise PromptError(f"{field}: expected shape ({n + m}, {n + m}) for n = {n} examples and m = {m} queries, got {mask.shape}")
    if mask[n:, :].any():
        raise PromptError(f"{field}: a token reads a query (rows {n}.. must be false); queries are never sources")
    if m and not mask[:n, n:].any(axis=0).all():
        q = int(np.flatnonzero(~mask[:n, n:].any(axis=0))[0])
        raise PromptError(f"{field}: query {q} reads no example; give every query column at least one true entry in rows 0..{n - 1}")
    return mask


def load_mask(path: str, n: int, m: int) -> np.ndarray:
    """Read and validate a ``.npy`` mask file (``allow_pickle=False``)."""
    try:
        mask = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PromptError(f"attention-mask: file {path!r} not found; give the path of a boolean .npy array") from None
    except Exception:
        raise PromptError(f"attention-mask: {path!r} is not a readable .npy array of booleans; write it with numpy.save") from None
    return check_mask(mask, n, m)


def is_symmetric_on_examples(mask: np.ndarray, n: int) -> bool:
    """True when example ``j`` reads ``i`` exactly when ``i`` reads ``j``."""
    block = mask[:n, :n]
    return bool(np.array_equal(block, block.T))
