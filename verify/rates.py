"""Rates, stable step sizes and transient growth of the residual iteration (SPEC P4, P5, P11, section 7).

All are read off ``N = D^{-1} M`` (``verify.lemma``).  *Stable at eta* has one meaning
(SPEC section 7): every label vector's example residuals and query predictions converge,
which holds exactly when

(a) every nonzero eigenvalue ``lambda`` of ``N`` has ``|1 - eta lambda| < 1``,
(b) the eigenvalue 0 has no Jordan chain (``rank N^2 = rank N``), and
(c) no query reads a null vector of ``N`` (``sum_{i in A(q)} v_i x_i = 0`` whenever ``N v = 0``).

So zero examples, repeated examples and rank-deficient prompts need no special case:
a null direction nobody sees does not count.  ``rate = max |1 - eta lambda|`` over the
nonzero eigenvalues, ``rate_gap = 1 - rate`` computed without cancellation
(``eta (2 Re lambda - eta |lambda|^2) / (1 + |1 - eta lambda|)``, meaningful where the
rate rounds to 1), ``stable_eta_max = min 2 Re(lambda) / |lambda|^2`` (0 when some
``Re(lambda) <= 0``; ``inf`` when nothing needs to contract).  ``stable`` is decided
from the criterion ``(b), (c)`` and ``0 < eta < stable_eta_max``, never from a rounded
rate.  When (b) or (c) fails, no step size is stable: ``stable_eta_max = 0``, ``rate >= 1``
and ``unstable_because`` says which.

Named attentions are read off their shape in ``O(n d^2)`` (``verify.structured``); a
custom mask goes through the components of ``verify.structure``.
"""
from __future__ import annotations

import numpy as np

from .errors import PromptError
from .frame import Frame, frame_of, scale_eta, to_frame, unscale
from .lemma import first_token_reached, null_space, residual_operator
from .limits import check_array
from .masks import attention_mask
from .peak import LANCZOS_MIN, STACK_FLOATS, peak_norm, stack_peaks, start_block, vector_growth, within
from .structure import blocks, check_dense
from .tolerances import rank_tol

#: what (b) and (c) of the module doc say when they fail
JORDAN = "the eigenvalue 0 of N has a Jordan chain: residuals grow linearly at every step size"
SEEN = "query {q} reads a null vector of N: its prediction drifts by a constant every layer at every step size"


def is_named(attention) -> bool:
    """True for a named attention spec (``prefix``, ``causal``, ...), False for None or ``custom``."""
    return attention not in (None, "custom")


def dense_mask(mask, attention, n: int, m: int):
    """The ``(n + m)^2`` boolean mask, built from a named attention only when a dense path needs it."""
    if isinstance(mask, np.ndarray) or not is_named(attention):
        return np.asarray(mask)
    check_array("PROMPT", (n + m, n + m), itemsize=1, what="the dense attention mask this path needs")
    return attention_mask(attention, n, m)


def spectrum(X, mask, c, gamma=None, attention=None) -> np.ndarray:
    """Eigenvalues that govern convergence: the nonzero eigenvalues of ``N = D^{-1} M``, and one 0 when
    (b) or (c) of the module doc fails (then ``rate_of >= 1`` and ``stable_eta_max_of = 0`` at every eta).

    The eigenvalues come from the diagonal blocks of ``N`` (named attentions: ``verify.structured``;
    a custom mask: the strongly connected components of ``verify.structure``), computed in the
    power-of-two frame of the data (:func:`spectrum_in_frame`) and mapped back exactly.
    """
    lam, e = spectrum_in_frame(X, mask, c, gamma, attention)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(lam.real, e) + 1j * np.ldexp(lam.imag, e)


def spectrum_in_frame(X, mask, c, gamma=None, attention=None) -> tuple[np.ndarray, int]:
    """``(lam_f, e)``: the eigenvalues of :func:`spectrum` are ``2^e lam_f``, ``lam_f`` from the rescaled prompt."""
    lam, e, defect = stability_in_frame(X, mask, c, gamma, attention)
    return (np.concatenate([lam, np.zeros(1, dtype=complex)]) if defect else lam), e


def stability_in_frame(X, mask, c, gamma=None, attention=None) -> tuple[np.ndarray, int, str | None]:
    """``(lam_f, e, defect)``: nonzero eigenvalues ``2^e lam_f`` of ``N`` and which of (b), (c) fails (None)."""
    X = np.asarray(X, dtype=float)
    frame = frame_of(X, np.zeros(1), c, gamma)
    Xf, _, cf, gf, _, _ = to_frame(frame, X, np.zeros(1), c, gamma)
    if is_named(attention):
        from .shapes import named_shape
        from .structured import NotStructured, check_blocks, tilde
        from .structured import spectrum as structured_spectrum

        try:
            Xt, _ = tilde(Xf, gf)
            shape = named_shape(attention, X.shape[0], len(cf) - X.shape[0])
            check_blocks(shape, cf)
            lam, _ = structured_spectrum(shape, Xt, cf)
            return lam.astype(complex), frame.lam, None  # (b) and (c) hold by structure (verify.structured)
        except NotStructured:
            mask = dense_mask(mask, attention, X.shape[0], len(cf) - X.shape[0])
    lam, defect = _stability(Xf, mask, cf, gf)
    return lam, frame.lam, defect


def _stability(X, mask, c, gamma=None) -> tuple[np.ndarray, str | None]:
    n = X.shape[0]
    parts = blocks(X, mask, c, gamma)
    lam = np.concatenate([b.lam for b in parts]) if parts else np.zeros(0, dtype=complex)
    if all(b.zeros == 0 or (b.semisimple and not b.visible) for b in parts):
        # block null vectors that no token reads partly are null vectors of N that no query sees
        return lam, None
    check_dense(n, "a singular iteration whose null space couples components")
    found = null_space(residual_operator(X, mask, c, gamma))
    if found is None:
        return lam, JORDAN
    q = first_token_reached(found[1], X, mask, c, gamma, first=n)
    return lam, (None if q is None else SEEN.format(q=q - n))


def rate_of(lam: np.ndarray, eta: float) -> float:
    """``max |1 - eta lambda|`` (0 when there is nothing to contract)."""
    return float(np.max(np.abs(1 - eta * lam))) if lam.size else 0.0


def rate_gap_of(lam: np.ndarray, eta: float) -> float:
    """``1 - rate`` without cancellation: ``min_lambda eta (2 Re lambda - eta |lambda|^2) / (1 + |1 - eta lambda|)``.

    ``1 - |1 - z| = (1 - |1 - z|^2) / (1 + |1 - z|)`` and ``1 - |1 - z|^2 = 2 Re z - |z|^2``
    (``z = eta lambda``): exact to rounding even when ``|1 - z|`` rounds to 1.  1 when
    there is nothing to contract.
    """
    if lam.size == 0:
        return 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        z = eta * lam
        gap = (2 * z.real - np.abs(z) ** 2) / (1 + np.abs(1 - z))
    return float(np.min(gap))


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
    n = flat.shape[-1]
    if flat.shape[0] == 0 or n > LANCZOS_MIN:  # large matrices one at a time (trmm products, Lanczos norms)
        results = [peak_norm(b, layers) for b in flat]
        peak = np.array([r[0] for r in results], dtype=float).reshape(batch)
        layer = np.array([r[1] for r in results], dtype=int).reshape(batch)
        norms = np.array([r[2] for r in results], dtype=float).reshape(batch + (layers + 1,))
        return peak, layer, norms
    # the batched scan keeps a few arrays of the stack's size: chunks of at most STACK_FLOATS numbers
    size = max(1, int(STACK_FLOATS // max(n**2, 1)))
    parts = [stack_peaks(flat[a:a + size], layers) for a in range(0, flat.shape[0], size)]
    peak, layer, norms = (np.concatenate([part[i] for part in parts]) for i in range(3))
    return peak.reshape(batch), layer.reshape(batch), norms.reshape(batch + (layers + 1,))


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


def schedule_verdict(X, mask, c, etas, gamma=None, attention=None) -> dict:
    """``stable``, ``rate`` and ``rate_gap`` of a stack with one step size per layer (``simulate``'s keys).

    The eigenvalues are computed once; ``stable`` is True when every step size is stable by the
    criterion of the module doc (never from a rounded rate), ``rate`` the largest per-layer
    rate and ``rate_gap`` the smallest gap; ``unstable_because`` when (b) or (c) fails.
    """
    lam_f, e, defect = stability_in_frame(X, mask, c, gamma, attention)
    top = 0.0 if defect else stable_eta_max_of(lam_f)
    etas_f = [scale_eta(eta, Frame(c=-e)) for eta in etas]
    rates = [rate_of(lam_f, eta) for eta in etas_f]
    gaps = [rate_gap_of(lam_f, eta) for eta in etas_f]
    rate, gap = (max(rates) if rates else 0.0), (min(gaps) if gaps else 1.0)
    out: dict = {"stable": bool(defect is None and all(0 < eta < top for eta in etas_f)), "rate": rate, "rate_gap": gap}
    if defect:
        out.update(rate=max(rate, 1.0), rate_gap=min(gap, 0.0), unstable_because=defect)
    return out


#: dense transient work (``L`` powers of an ``n x n`` matrix, and the depth-safe search) in units of ``n^3 L / 3``
#: multiply-adds admitted up front: n = 1000, L = 100 (3.3e10; `rate --layers 100`, causal, with the depth-safe
#: search) took 17 s on the idle 2-core machine, 31 s with both cores busy (session 4)
MAX_DENSE_WORK = 5e10
#: structured transient work in column-products times ``n d`` (one product costs about 1e-7 s per ``n d`` on a
#: busy 2-core machine, 1e-8 s idle): about a minute at the limit, busy
MAX_KRYLOV_WORK = 6e8
#: column-products per layer of the structured transient, at most: start block 4, two sharpenings of at most
#: 12 each (verify.peak.krylov_peak), the depth search 17 (verify.peak.krylov_depth_safe_eta)
KRYLOV_PRODUCTS = 45


def transient_method(n: int, d: int, layers: int, named: bool) -> tuple[str, float]:
    """``(method, work)``: ``dense`` (exact peaks from powers) when ``n^3 L / 3 <= MAX_DENSE_WORK``, else for a
    named attention ``krylov`` (explicit vectors through the structured operator, ``O(L n d)``); the work is
    in the unit of its limit.  Raises PromptError naming the figure when neither fits."""
    dense = n**3 * layers / 3
    if dense <= MAX_DENSE_WORK:
        return "dense", dense
    krylov = KRYLOV_PRODUCTS * layers * n * max(d, 1)
    if named and krylov <= MAX_KRYLOV_WORK:
        return "krylov", krylov
    if named:
        limit = int(MAX_KRYLOV_WORK / (KRYLOV_PRODUCTS * n * max(d, 1)))
        raise PromptError(f"layers: {layers} layers of the structured operator at n = {n}, d = {d} need about "
                          f"{krylov:.1e} column-products x n d, above the limit of {MAX_KRYLOV_WORK:.0e} "
                          f"(at most {limit} layers here); give a smaller --layers")
    limit = int(MAX_DENSE_WORK * 3 / max(n, 1) ** 3)
    raise PromptError(f"layers: {layers} powers of a {n} x {n} matrix need about {dense:.1e} multiply-adds, above the "
                      f"limit of {MAX_DENSE_WORK:.0e} (at most {limit} layers at n = {n}); give a smaller --layers, "
                      "or a named --attention (a structured operator)")


def analyse(X, mask, c, eta: float, gamma=None, layers: int | None = None, max_growth: float = 10.0,
            attention=None) -> dict:
    """Rate, stable range and (with ``layers``) transient growth of the iteration ``I - eta D^{-1} M``.

    Keys ``rate``, ``rate_gap``, ``stable_eta_max``, ``stable`` (module doc), and
    ``unstable_because`` when (b) or (c) fails.  With ``layers = L`` also
    ``transient_peak``, ``transient_peak_kind``, ``peak_layer``, ``depth_safe_eta`` and
    ``depth_safe_eta_kind`` (:func:`transient_method` chooses exact powers or explicit
    vectors).  Everything is computed in the power-of-two frame of the data
    (``verify.frame``): step sizes map back exactly, and one that overflows or underflows
    a float is refused.  ``attention`` (a named spec) selects the structured path; ``mask``
    is then not read unless that path does not apply.
    """
    X = np.asarray(X, dtype=float)
    lam_f, e, defect = stability_in_frame(X, mask, c, gamma, attention)
    frame = Frame(x=0, y=0, gamma=0, c=-e)  # only the exponent of the eigenvalues matters here
    eta_f = scale_eta(eta, frame)
    top = 0.0 if defect else stable_eta_max_of(lam_f)
    rho = rate_of(lam_f, eta_f)
    gap = rate_gap_of(lam_f, eta_f)
    if defect:
        rho, gap = max(rho, 1.0), min(gap, 0.0)
    result = {
        "rate": rho,
        "rate_gap": gap,
        "stable_eta_max": top if top in (0.0, float("inf")) else unscale(top, -e, "stable_eta_max"),
        "stable": bool(defect is None and 0 < eta_f < top),
    }
    if defect:
        result["unstable_because"] = defect
    if layers is None:
        return result
    n, d = X.shape
    method, _ = transient_method(n, d, layers, is_named(attention))
    frame_full = frame_of(X, np.zeros(1), c, gamma)
    Xf, _, cf, gf, _, _ = to_frame(frame_full, X, np.zeros(1), c, gamma)
    if method == "krylov":
        from .peak import krylov_depth_safe_eta, krylov_peak
        from .shapes import named_shape
        from .structured import Operator, tilde

        Xt, _ = tilde(Xf, gf)  # a named attention admitted to krylov has a structured operator (else NotStructured)
        shape = named_shape(attention, n, len(cf) - n)
        if shape.kind == "all" and bool(np.all(cf[:n] == cf[0])):
            # prefix: N is symmetric, ||B^l|| = max |1 - eta lambda|^l (zero eigenvalues give 1): exact
            peak, layer, _ = peak_norm(np.diag(np.concatenate([1 - eta_f * lam_f.real, [1.0]])), layers)
            safe, kinds = (top if rate_of(lam_f, top) ** layers <= max_growth else depth_safe_eta(
                np.diag(lam_f.real), lam_f, layers, max_growth)), ("exact", "certified")
        else:
            op = Operator(shape, Xt, cf)
            peak, layer, witness = krylov_peak(op, eta_f, layers)
            safe = krylov_depth_safe_eta(op, top, layers, max_growth, witness)
            kinds = ("lower_bound", "estimate")
    else:
        N = residual_operator(Xf, dense_mask(mask, attention, n, len(cf) - n), cf, gf)
        peak, layer, _ = transient(np.eye(n) - eta_f * N, layers)
        safe = depth_safe_eta(N, np.zeros(1) if defect else lam_f, layers, max_growth)
        kinds = ("exact", "certified")
    result.update({
        "transient_peak": peak,
        "transient_peak_kind": kinds[0],
        "peak_layer": layer,
        "depth_safe_eta": safe if safe in (0.0, float("inf")) else unscale(safe, -e, "depth_safe_eta"),
        "depth_safe_eta_kind": kinds[1],
    })
    return result
