"""What divides: the normalizer ``c_j`` of each target token (SPEC section 2).

- ``constant``: ``c_j = c`` for every token (the reference code: ``c = 1``).
- ``count``: ``c_j = |A(j)|``, the number of tokens ``j`` reads.
"""
from __future__ import annotations

import numpy as np

from .errors import PromptError

KINDS = ("constant", "count")


def normalizer(kind: str, mask: np.ndarray, scale=1.0) -> np.ndarray:
    """Vector ``c`` of length ``n + m`` (one entry per target token).

    ``constant`` gives ``c_j = scale``; ``count`` gives ``c_j = |A(j)|`` =
    ``mask[:, j].sum()`` (``scale`` is ignored).  A token that reads nothing
    gets ``c_j = 1``: its sum is empty, so any value leaves it unchanged.
    """
    size = mask.shape[1]
    if kind == "constant":
        if np.ndim(scale) == 0 and isinstance(scale, (int, float, np.floating, np.integer)):
            if not np.isfinite(scale) or scale <= 0:
                raise PromptError(f"scale: the constant normalizer needs a finite c > 0, got {scale}")
            return np.full(size, float(scale))
        return np.array([scale] * size, dtype=object)  # symbolic c
    if kind == "count":
        counts = mask.sum(axis=0).astype(float)
        counts[counts == 0] = 1.0
        return counts
    raise PromptError(f"normalization: unknown normalizer {kind!r}; use constant or count")
