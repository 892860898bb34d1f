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

from .frame import frame_of, scale_eta, to_frame, unscale
from .lemma import first_token_reached, is_symmetric_iteration, null_space, residual_operator, zero_example
from .peak import STACK_FLOATS, peak_norm, stack_peaks, start_block, vector_growth, within
from .structure import blocks, check_dense
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

    The eigenvalues come from the diagonal blocks of ``N`` in the topological order of
    the mask's strongly connected components (``verify.structure``), computed in the
    power-of-two frame of the data (:func:`spectrum_in_frame`) and mapped back exactly.
    """
    lam, e = spectrum_in_frame(X, mask, c, gamma)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(lam.real, e) + 1j * np.ldexp(lam.imag, e)


def spectrum_in_frame(X, mask, c, gamma=None) -> tuple[np.ndarray, int]:
    """``(lam_f, e)``: the eigenvalues of :func:`spectrum` are ``2^e lam_f``, ``lam_f`` from the rescaled prompt."""
    X = np.asarray(X, dtype=float)
    frame = frame_of(X, np.zeros(1), c, gamma)
    Xf, _, cf, gf, _, _ = to_frame(frame, X, np.zeros(1), c, gamma)
    return _spectrum(Xf, mask, cf, gf), frame.lam


def _spectrum(X, mask, c, gamma=None) -> np.ndarray:
    n = X.shape[0]
    parts = blocks(X, mask, c, gamma)
    lam = np.concatenate([b.lam for b in parts]) if parts else np.zeros(0, dtype=complex)
    zeros = sum(b.zeros for b in parts)
    if zeros == 0:
        return lam
    symmetric = is_symmetric_iteration(mask, c, n, gamma)
    keep = (not symmetric and zero_example(X) is not None) or not all(b.semisimple for b in parts)
    if not keep and any(b.zeros and b.visible for b in parts):
        keep = _dense_reached(X, mask, c, gamma)
    return np.concatenate([lam, np.zeros(zeros, dtype=complex)]) if keep else lam


def _dense_reached(X, mask, c, gamma=None) -> bool:
    """Whether the whole null space of ``N`` reaches a token (null spaces that couple components)."""
    check_dense(X.shape[0], "a singular iteration whose null space couples components")
    N = residual_operator(X, mask, c, gamma)
    found = null_space(N)
    return found is None or first_token_reached(found[1], X, mask, c, gamma) is not None


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
    Norms come from bounds (``verify.peak``): exact to ``1e-12`` relative at every
    layer that could hold the peak, lower bounds elsewhere; a symmetric ``B`` is
    read off its eigenvalues.
    """
    B = np.asarray(B, dtype=float)
    batch = B.shape[:-2]
    if not batch:
        return peak_norm(B, layers)
    flat: np.ndarray = B.reshape((-1, *B.shape[-2:]))
    if flat.shape[0] * (layers + 1) * flat.shape[-1] ** 2 <= STACK_FLOATS:
        peak, layer, norms = stack_peaks(flat, layers)
        return peak.reshape(batch), layer.reshape(batch), norms.reshape(batch + (layers + 1,))
    results = [peak_norm(b, layers) for b in flat]
    peak = np.array([r[0] for r in results]).reshape(batch)
    layer = np.array([r[1] for r in results]).reshape(batch)
    norms = np.stack([r[2] for r in results]).reshape(batch + (layers + 1,))
    return peak, layer, norms


def within_growth(B: np.ndarray, layers: int, max_growth: float) -> bool:
    """True when ``||B^l||_2 <= max_growth`` for every ``l <= layers`` (``verify.peak.within``)."""
    return within(np.asarray(B, dtype=float), layers, max_growth)[0]


#: relative precision of ``depth_safe_eta`` (the returned step size is checked safe by exact norms)
DEPTH_SAFE_RTOL = 1e-4


def depth_safe_eta(N: np.ndarray, lam: np.ndarray, layers: int, max_growth: float, grid: int = 64) -> float:
    """Largest ``eta`` in ``(0, stable_eta_max]`` whose transient peak over ``layers`` is ``<= max_growth``.

    The peak need not be monotone in ``eta``: a grid scan from the stable bound
    down finds the largest grid point that passes the screen below, then
    bisection refines between it and the point above it (relative precision
    ``DEPTH_SAFE_RTOL``).
    Work is shared across step sizes: every exact check (``verify.peak.within``,
    bounds on every power) leaves the direction its powers stretch most, and a
    step size is first screened by these directions -- their growth beyond the
    limit proves it unsafe in ``O(L n^2)``.  The scan and bisection trust the screen, and
    the result is then checked exactly; should the check fail, the failed run's
    growth direction joins the screen and bisection runs again below (or it steps
    down by a relative ``1e-4``, ``4e-4``, ...), until an exact check passes.  So the
    returned step size is always safe.
    """
    top = stable_eta_max_of(lam)
    if not np.isfinite(top) or top <= 0:
        return float(top) if top == 0 else float("inf")
    N = np.asarray(N, dtype=float)
    n = N.shape[0]
    eye = np.eye(n)
    witnesses = [start_block(n)] if n else []

    def screened_unsafe(eta: float) -> bool:
        # the start block and the three latest growth directions: the screen costs O(L n^2) per column
        recent = witnesses[:1] + witnesses[1:][-3:]
        return bool(n) and vector_growth(eye - eta * N, np.concatenate(recent, axis=1), layers, max_growth)

    def exact(eta: float) -> bool:
        if screened_unsafe(eta):
            return False
        ok, direction = within(eye - eta * N, layers, max_growth)
        if n:
            witnesses.append(direction)
        return ok

    def refine(lo: float, hi: float, check) -> tuple[float, float]:
        while hi - lo > DEPTH_SAFE_RTOL * hi:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if check(mid) else (lo, mid)
        return lo, hi

    if exact(top):
        return float(top)
    # grid scan from the top and bisection, both on the screen (a full exact run costs L products)
    safe, above = 0.0, top
    for eta in top * np.arange(grid - 1, 0, -1) / grid:
        if not screened_unsafe(eta):
            safe = eta
            break
        above = eta
    lo, hi = refine(safe, above, lambda eta: not screened_unsafe(eta))
    # the screen only bounds the peak from below, so lo may sit just above the true limit: step down
    # geometrically with exact checks (a few full runs, not a bisection of them); the peak tends to 1
    # as eta -> 0, so this ends
    step = DEPTH_SAFE_RTOL
    while lo > 0 and not exact(lo):
        # the failed run left a witness of its growth: bisect again below lo with the sharper screen
        below, _ = refine(0.0, lo, lambda eta: not screened_unsafe(eta))
        if below < lo * (1 - step):
            lo = below
        else:
            lo = lo * (1 - step) if step < 0.5 else lo / 2
            step *= 4
    return float(lo)


def analyse(X, mask, c, eta: float, gamma=None, layers: int | None = None, max_growth: float = 10.0) -> dict:
    """Rate, stable range and (with ``layers``) transient growth of the iteration ``I - eta D^{-1} M``.

    Keys ``rate``, ``stable_eta_max``, ``stable``; with ``layers = L`` also
    ``transient_peak``, ``peak_layer`` and ``depth_safe_eta`` (they cost powers of
    an ``n x n`` matrix, so they are computed only when asked for).  Everything is
    computed in the power-of-two frame of the data (``verify.frame``): step sizes
    map back exactly, and one that overflows or underflows a float is refused.
    """
    X = np.asarray(X, dtype=float)
    lam_f, e = spectrum_in_frame(X, mask, c, gamma)
    from .frame import Frame

    frame = Frame(x=0, y=0, gamma=0, c=-e)  # only the exponent of the eigenvalues matters here
    eta_f = scale_eta(eta, frame)
    rho = rate_of(lam_f, eta_f)
    top = stable_eta_max_of(lam_f)
    result = {
        "rate": rho,
        "stable_eta_max": top if top in (0.0, float("inf")) else unscale(top, -e, "stable_eta_max"),
        "stable": bool(rho < 1),
    }
    if layers is None:
        return result
    frame_full = frame_of(X, np.zeros(1), c, gamma)
    Xf, _, cf, gf, _, _ = to_frame(frame_full, X, np.zeros(1), c, gamma)
    N = residual_operator(Xf, mask, cf, gf)
    n = X.shape[0]
    peak, layer, _ = transient(np.eye(n) - eta_f * N, layers)
    safe = depth_safe_eta(N, lam_f, layers, max_growth)
    result.update({
        "transient_peak": peak,
        "peak_layer": layer,
        "depth_safe_eta": safe if safe in (0.0, float("inf")) else unscale(safe, -e, "depth_safe_eta"),
    })
    return result
