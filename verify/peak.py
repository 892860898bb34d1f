"""``||B^l||_2`` over layers without an SVD per power: bounds decide, exact norms only where they cannot (issue 13).

For a power ``P = B^l`` and an orthonormal block ``V`` (``n x p``, warm-started
from the previous layer, refined by a few block power steps on ``P^T P``):

- lower bound ``sigma_max(P V) <= ||P||_2``;
- upper bound: in the basis ``[V, V_perp]``, ``P^T P = [[A, C^T], [C, E]]`` with
  ``A = (PV)^T PV``, ``||C||_2 = ||P^T P V - V A||_2 <= gamma`` (Frobenius) and
  ``lambda_max(E) <= trace(E) = ||P||_F^2 - trace(A) = beta``, so
  ``||P||_2^2 <= lambda_max([[lambda_max(A), gamma], [gamma, beta]])``; with
  ``||P||_2 <= min(||P||_F, sqrt(||P||_1 ||P||_inf))`` too.

The upper bound closes on the lower one quadratically in the residual ``gamma``
when a few singular values dominate (a large transient is close to rank one), so
most layers are decided by bounds: a layer whose upper bound is below the best
lower bound so far cannot hold the peak.  Layers that remain undecided get an
exact SVD of their power, recomputed by repeated squaring.  Powers of a block
lower-triangular ``B`` (every mask, in topological order) are multiplied block
by block, about a third of the dense work.
"""
from __future__ import annotations

import numpy as np

#: relative accuracy of a norm that may be the peak (the peak and its first layer are exact to this)
NORM_RTOL = 1e-12
#: a layer within this relative distance of the peak counts as attaining it (ties of exact arithmetic)
TIE_RTOL = 1e-9
#: block size of the power iteration
BLOCK = 6
#: dense products below this size (recursion leaf of the block-triangular product)
LEAF = 96


def cuts(B: np.ndarray) -> np.ndarray:
    """Sizes ``s`` with ``B[:s, s:] = 0`` (``0 < s < n``): split points of a block lower-triangular ``B``."""
    n = B.shape[0]
    nonzero = B != 0
    last = np.where(nonzero.any(axis=1), n - 1 - np.argmax(nonzero[:, ::-1], axis=1), -1)
    reach = np.maximum.accumulate(last)
    return np.flatnonzero(reach[:-1] < np.arange(1, n)) + 1


def product(P: np.ndarray, B: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """``P B`` for ``P``, ``B`` block lower triangular with the same split points.

    ``[[P11, 0], [P21, P22]] [[B11, 0], [B21, B22]] = [[P11 B11, 0], [P21 B11 + P22 B21, P22 B22]]``,
    recursively at the split nearest the middle.
    """
    n = P.shape[0]
    if n <= LEAF or splits.size == 0:
        return P @ B
    s = int(splits[np.argmin(np.abs(splits - n / 2))])
    left, right = splits[splits < s], splits[splits > s] - s
    out = np.zeros_like(P)
    out[:s, :s] = product(P[:s, :s], B[:s, :s], left)
    out[s:, :s] = P[s:, :s] @ B[:s, :s] + P[s:, s:] @ B[s:, :s]
    out[s:, s:] = product(P[s:, s:], B[s:, s:], right)
    return out


def bounds(P: np.ndarray, V: np.ndarray, steps: int) -> tuple[float, float, np.ndarray]:
    """``(lower, upper, V)`` for ``||P||_2`` after ``steps`` block power steps from ``V`` (module doc)."""
    fro2 = float(np.einsum("ij,ij->", P, P))
    cheap = min(np.sqrt(fro2), np.sqrt(np.abs(P).sum(axis=0).max() * np.abs(P).sum(axis=1).max()))
    for _ in range(steps):
        V, _ = np.linalg.qr(P.T @ (P @ V))
    W = P @ V
    A = W.T @ W
    top = float(np.linalg.eigvalsh((A + A.T) / 2)[-1])
    G = P.T @ W - V @ A
    gamma = float(np.sqrt(np.einsum("ij,ij->", G, G)))
    beta = max(fro2 - float(np.trace(A)), 0.0)
    upper2 = (top + beta) / 2 + np.hypot((top - beta) / 2, gamma)
    return float(np.sqrt(max(top, 0.0))), float(min(cheap, np.sqrt(upper2))), V


def _exact(P: np.ndarray) -> float:
    return float(np.linalg.svd(P, compute_uv=False)[0])


def power(B: np.ndarray, layer: int, splits: np.ndarray) -> np.ndarray:
    """``B^l`` by repeated squaring (``O(log l)`` products)."""
    result, base, e = np.eye(B.shape[0]), B, layer
    while e:
        if e & 1:
            result = product(result, base, splits)
        e >>= 1
        if e:
            base = product(base, base, splits)
    return result


def start_block(n: int) -> np.ndarray:
    """A fixed orthonormal start block: the all-ones direction and seeded random ones (reproducible)."""
    rng = np.random.default_rng(0)
    V = np.concatenate([np.ones((n, 1)), rng.standard_normal((n, min(BLOCK, n) - 1))], axis=1)
    return np.linalg.qr(V)[0]


def norm_bounds(B: np.ndarray, layers: int, decide=None):
    """Lower and upper bounds on ``||B^l||_2`` for ``l = 0..L``, tight where the peak may be.

    ``decide(l, lower, upper, best)`` may stop the scan early (returns True to stop);
    the scan also stops at the first layer ``l >= 1`` with ``||B^l||_2 <= 1`` (every later
    power is bounded by an earlier one).  Returns ``(lower, upper, stopped_at)``.
    """
    B = np.asarray(B, dtype=float)
    n = B.shape[0]
    lower, upper = np.zeros(layers + 1), np.zeros(layers + 1)
    lower[0] = upper[0] = 1.0
    if n == 0:
        return np.ones(layers + 1), np.ones(layers + 1), layers
    splits = cuts(B)
    V = start_block(n)
    best, P, stop = 1.0, None, layers
    with np.errstate(over="ignore", invalid="ignore"):
        for l in range(1, layers + 1):
            P = B.copy() if P is None else product(P, B, splits)
            if not np.all(np.isfinite(P)):
                lower[l] = upper[l] = np.inf
                stop = l
                break
            lo, hi, V = bounds(P, V, 2)
            if hi >= best * (1 - TIE_RTOL) and hi - lo > NORM_RTOL * hi:
                for _ in range(20):
                    lo, hi, V = bounds(P, V, 4)
                    if hi - lo <= NORM_RTOL * hi:
                        break
                if hi - lo > NORM_RTOL * hi and n <= 200:
                    lo = hi = _exact(P)
            lower[l], upper[l] = lo, hi
            best = max(best, lo)
            if hi <= 1 or (decide is not None and decide(l, lo, hi, best)):
                stop = l
                break
    # layers left undecided that could still hold the peak: exact, from a recomputed power
    for l in np.flatnonzero(upper[: stop + 1] - lower[: stop + 1] > NORM_RTOL * upper[: stop + 1]):
        if upper[l] >= best * (1 - TIE_RTOL) and np.isfinite(upper[l]):
            lower[l] = upper[l] = _exact(power(B, int(l), splits))
            best = max(best, lower[l])
    return lower, upper, stop


def peak_norm(B: np.ndarray, layers: int):
    """``(peak, peak_layer, norms)`` of ``||B^l||_2``, ``l <= L`` (see ``verify.rates.transient``)."""
    B = np.asarray(B, dtype=float)
    if np.array_equal(B, B.T):  # symmetric: ||B^l|| = max |mu|^l (spectral theorem)
        mu = float(np.max(np.abs(np.linalg.eigvalsh(B)), initial=0.0))
        with np.errstate(over="ignore"):
            norms = mu ** np.arange(layers + 1, dtype=float)
        norms[0] = 1.0
        stop = next((l for l in range(1, layers + 1) if norms[l] <= 1), layers)
        norms[stop + 1:] = 0.0
    else:
        lower, upper, stop = norm_bounds(B, layers)
        norms = lower.copy()
        norms[stop + 1:] = 0.0
    peak = float(np.max(norms))
    if not np.isfinite(peak):
        return peak, int(np.argmax(norms)), norms
    layer = int(np.argmax(norms >= peak * (1 - TIE_RTOL)))
    return peak, layer, norms


def within(B: np.ndarray, layers: int, max_growth: float) -> bool:
    """True when ``||B^l||_2 <= max_growth`` for every ``l <= layers``: stops at the first layer decided
    either way (a lower bound above the limit, or a power of norm at most 1)."""
    verdict = {"safe": True}

    def decide(l, lo, hi, best):
        if lo > max_growth:
            verdict["safe"] = False
            return True
        return False

    lower, upper, stop = norm_bounds(B, layers, decide)
    return bool(verdict["safe"] and np.all(lower[: stop + 1] <= max_growth))


def vector_growth(B: np.ndarray, V: np.ndarray, layers: int, max_growth: float) -> bool:
    """True when some column of ``V`` (unit vectors) grows beyond ``max_growth`` under ``B^l``, ``l <= L``:
    a cheap certificate that a step size is not depth-safe (``O(L n^2 p)``)."""
    W = V
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(layers):
            W = B @ W
            norms = np.sqrt(np.einsum("ij,ij->j", W, W))
            if not np.all(np.isfinite(norms)) or norms.max() > max_growth:
                return True
            if norms.max() < 1e-300:
                return False
    return False
