"""Rates, stable step sizes and transient growth of the residual iteration (SPEC P4, P5, P11).

All are read off ``N = D^{-1} M`` (``verify.lemma``), so every mask and normalizer
is covered by the same code:

- ``rate = max |1 - eta lambda|`` over the eigenvalues ``lambda`` of ``N`` that
  move the weights: for a symmetric iteration (prefix) the zero eigenvalues are
  dropped -- the Gram null space never reaches the weights, hence SPEC P4's
  ``lambda_min^+``; for a non-symmetric one (causal and the other masks) every
  eigenvalue counts, as in SPEC P5, so a zero example gives rate 1.
- ``stable_eta_max = min 2 Re(lambda) / |lambda|^2`` over the same eigenvalues
  (``2c / lambda_max`` for prefix, ``2c / max_j ||x_j||^2`` for causal); it is 0
  when some eigenvalue has ``Re(lambda) <= 0`` (no step size is stable) and
  ``inf`` when there is no eigenvalue to control.
- ``transient_peak = max_{0 <= l <= L} ||(I - eta N)^l||_2`` (SPEC P11).
"""
from __future__ import annotations

import numpy as np

from .lemma import first_token_reached, is_symmetric_iteration, null_space, residual_operator, zero_example
from .tolerances import rank_tol


def spectrum(X, mask, c, gamma=None) -> np.ndarray:
    """Eigenvalues of ``N = D^{-1} M`` that govern convergence of the weights.

    Zero eigenvalues are dropped when they cannot move any weight: the zero
    eigenvalue is semisimple and its null space reaches no token's read-out
    (``verify.lemma.null_space`` / ``first_token_reached``) -- e.g. the Gram null
    space of prefix attention with ``n > d`` (SPEC P4's ``lambda_min^+``), or of a
    full block with ``B > d``.  They are kept, so the rate is at least 1, when some
    weight drifts along them, and for a zero example under a non-symmetric mask:
    SPEC P5 counts ``1 - (eta/c)||x_j||^2 = 1`` there, since that example is never fitted.
    """
    n = X.shape[0]
    N = residual_operator(X, mask, c, gamma)
    symmetric = is_symmetric_iteration(mask, c, n, gamma)
    lam = np.linalg.eigvalsh((N + N.T) / 2).astype(complex) if symmetric else np.linalg.eigvals(N)
    found = null_space(N, symmetric)
    if found is None:
        return lam
    zeros = int(round(float(np.trace(found[1])))) if n else 0  # trace of a projector = its rank
    if zeros == 0 or (not symmetric and zero_example(X) is not None):
        return lam
    if first_token_reached(found[1], X, mask, c, gamma) is not None:
        return lam
    return lam[np.argsort(np.abs(lam))[zeros:]]


def rate_of(lam: np.ndarray, eta: float) -> float:
    """``max |1 - eta lambda|`` (0 when there is nothing to contract)."""
    return float(np.max(np.abs(1 - eta * lam))) if lam.size else 0.0


def stable_eta_max_of(lam: np.ndarray) -> float:
    """Supremum of the step sizes with ``|1 - eta lambda| < 1`` for every ``lambda``."""
    if lam.size == 0:
        return float("inf")
    if np.any(lam.real <= rank_tol(np.abs(lam).max() if lam.size else 0.0)):
        return 0.0
    return float(np.min(2 * lam.real / np.abs(lam) ** 2))


def transient(B: np.ndarray, layers: int):
    """``||B^l||_2`` for ``l = 0..L``; returns ``(peak, peak_layer, norms)``.

    ``B`` is ``(n, n)`` or a stack ``(..., n, n)`` (then ``peak`` and ``peak_layer``
    are arrays over the leading axes and ``norms`` has the layer axis last).
    ``peak_layer`` is the first layer within a relative ``1e-9`` of the peak, so
    ties that are equal in exact arithmetic (prefix: every layer has norm 1)
    resolve to the earliest layer.  A matrix stops at the first layer
    ``l_0 >= 1`` with ``||B^{l_0}||_2 <= 1``: every later power is then bounded by
    an earlier one (``||B^{q l_0 + r}|| <= ||B^{l_0}||^q ||B^r|| <= ||B^r||``), so
    neither its peak nor its first layer can change; its later ``norms`` are 0.
    """
    B = np.asarray(B, dtype=float)
    batch = B.shape[:-2]
    power = np.broadcast_to(np.eye(B.shape[-1]), B.shape).copy()
    norms = [np.ones(batch)]
    done = np.zeros(batch, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(layers):
            power = power @ B
            finite = np.all(np.isfinite(power), axis=(-2, -1))
            safe = np.where(finite[..., None, None], power, 0.0)
            norm = np.where(finite, np.linalg.svd(safe, compute_uv=False)[..., 0], np.inf)
            norms.append(np.where(done, 0.0, norm))
            done |= (norm <= 1) | ~finite
            if done.all():
                break
    norms = np.stack(norms, axis=-1)
    peak = norms.max(axis=-1)
    layer = np.argmax(norms >= np.where(np.isfinite(peak), peak * (1 - 1e-9), np.inf)[..., None], axis=-1)
    if not batch:
        return float(peak), int(layer), norms
    return peak, layer, norms


def within_growth(B: np.ndarray, layers: int, max_growth: float) -> bool:
    """True when ``||B^l||_2 <= max_growth`` for every ``l <= layers``.

    Stops at the first violation, and at the first ``||B^{l_0}||_2 <= 1`` (later
    powers are bounded by earlier ones, see :func:`transient`).  Cheap bounds
    decide most layers without an SVD: ``||P||_F / sqrt(n) <= ||P||_2 <=
    min(||P||_F, sqrt(||P||_1 ||P||_inf))``.
    """
    power = np.eye(B.shape[0])
    root_n = np.sqrt(B.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(layers):
            power = power @ B
            frob = np.linalg.norm(power)
            if not np.isfinite(frob) or frob / root_n > max_growth:
                return False
            upper = min(frob, np.sqrt(np.abs(power).sum(axis=0).max() * np.abs(power).sum(axis=1).max()))
            norm = upper if upper <= max_growth else np.linalg.norm(power, 2)
            if norm > max_growth:
                return False
            if norm <= 1:
                return True
    return True


def depth_safe_eta(N: np.ndarray, lam: np.ndarray, layers: int, max_growth: float, grid: int = 64) -> float:
    """Largest ``eta`` in ``(0, stable_eta_max]`` whose transient peak over ``layers`` is ``<= max_growth``.

    The peak need not be monotone in ``eta``: a grid scan from the stable bound
    down finds the largest safe grid point, then bisection refines between it
    and the unsafe grid point above it (relative precision about ``1e-9``).
    """
    top = stable_eta_max_of(lam)
    if not np.isfinite(top) or top <= 0:
        return float(top) if top == 0 else float("inf")
    eye = np.eye(N.shape[0])

    def safe(eta: float) -> bool:
        return within_growth(eye - eta * N, layers, max_growth)

    def refine(lo: float, hi: float) -> float:
        while hi - lo > 1e-9 * hi:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if safe(mid) else (lo, mid)
        return float(lo)

    if safe(top):
        return float(top)
    above = top
    for eta in top * np.arange(grid - 1, 0, -1) / grid:
        if safe(eta):
            return refine(eta, above)
        above = eta
    return refine(0.0, above)  # the peak tends to 1 as eta -> 0, so safe step sizes exist below the grid


def analyse(X, mask, c, eta: float, gamma=None, layers: int = 100, max_growth: float = 10.0) -> dict:
    """Rate, stable range and transient growth of the iteration ``I - eta D^{-1} M``."""
    n = X.shape[0]
    N = residual_operator(X, mask, c, gamma)
    lam = spectrum(X, mask, c, gamma)
    rho = rate_of(lam, eta)
    peak, layer, _ = transient(np.eye(n) - eta * N, layers)
    return {
        "rate": rho,
        "stable_eta_max": stable_eta_max_of(lam),
        "stable": bool(rho < 1),
        "transient_peak": peak,
        "peak_layer": layer,
        "depth_safe_eta": depth_safe_eta(N, lam, layers, max_growth),
    }
