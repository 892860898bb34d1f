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
exact norm of their power (recomputed by repeated squaring): a full SVD for
small matrices, Lanczos otherwise.  Powers of a lower-triangular ``B`` (every
triangular mask) are multiplied by BLAS ``trmm``, half the dense work.
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


def is_lower(B: np.ndarray) -> bool:
    """True when ``B`` is lower triangular (every triangular mask in its natural order)."""
    return not np.any(np.triu(B, 1))


def product(P: np.ndarray, B: np.ndarray, lower: bool) -> np.ndarray:
    """``P B``; for lower-triangular ``B`` by BLAS ``trmm`` (half the work of a dense product)."""
    if lower and P.shape[0] > LEAF:
        from scipy.linalg.blas import dtrmm

        return dtrmm(1.0, B, P, side=1, lower=1)
    return P @ B


#: a power with an entry above this is bounded at a power-of-two scale (its Gram matrix would overflow)
BIG_ENTRY = 1e75


def unit_scale(P: np.ndarray) -> float:
    """1, or the power of two bringing ``P``'s largest entry near 1 when it exceeds ``BIG_ENTRY`` (exact scaling)."""
    big = float(np.max(np.abs(P), initial=0.0))
    return 1.0 if big <= BIG_ENTRY else float(np.ldexp(1.0, -int(np.frexp(big)[1])))


def cheap_bounds(P: np.ndarray) -> tuple[float, float, float]:
    """``(||P||_F^2, lower, upper)``: ``||P||_F / sqrt(n) <= ||P||_2 <= min(||P||_F, sqrt(||P||_1 ||P||_inf))``."""
    fro2 = float(np.einsum("ij,ij->", P, P))
    absP = np.abs(P)
    upper = min(np.sqrt(fro2), np.sqrt(absP.sum(axis=0).max() * absP.sum(axis=1).max()))
    return fro2, float(np.sqrt(fro2 / max(P.shape[0], 1))), float(upper)


def bounds(P: np.ndarray, V: np.ndarray, steps: int, fro2: float, cheap: float) -> tuple[float, float, np.ndarray]:
    """``(lower, upper, V)`` for ``||P||_2`` after ``steps`` block power steps from ``V`` (module doc)."""
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


#: above this size an exact norm is the top singular value by Lanczos (ARPACK) instead of a full SVD
LANCZOS_MIN = 200


def _exact(P: np.ndarray) -> float:
    """``||P||_2`` to rounding: a full SVD for small ``P``, else Lanczos on ``P^T P`` (ARPACK, tight tolerance),
    which resolves clustered top singular values that defeat block power steps."""
    if P.shape[0] > LANCZOS_MIN:
        from scipy.sparse.linalg import svds

        try:
            return float(svds(P, k=1, tol=1e-14, return_singular_vectors=False, random_state=0)[0])
        except Exception:  # no convergence: the full SVD below
            pass
    return float(np.linalg.svd(P, compute_uv=False)[0])


def power(B: np.ndarray, layer: int, lower: bool) -> np.ndarray:
    """``B^l`` by repeated squaring (``O(log l)`` products)."""
    result, base, e = np.eye(B.shape[0]), B, layer
    while e:
        if e & 1:
            result = product(result, base, lower)
        e >>= 1
        if e:
            base = base @ base
    return result


def start_block(n: int) -> np.ndarray:
    """A fixed orthonormal start block: the all-ones direction and seeded random ones (reproducible)."""
    rng = np.random.default_rng(0)
    V = np.concatenate([np.ones((n, 1)), rng.standard_normal((n, min(BLOCK, n) - 1))], axis=1)
    return np.linalg.qr(V)[0]


def _undecided(lo: float, hi: float, best: float, limit: float | None) -> bool:
    """Whether ``[lo, hi]`` still matters: it may hold the peak (or cross ``limit``), or may end the scan."""
    if hi - lo <= NORM_RTOL * hi:
        return False
    if limit is not None:
        return lo <= limit < hi
    return hi >= best * (1 - TIE_RTOL) or lo <= 1 < hi


def norm_bounds(B: np.ndarray, layers: int, limit: float | None = None):
    """Lower and upper bounds on ``||B^l||_2`` for ``l = 0..L``, tight where the peak may be.

    Without ``limit`` the bounds are made tight (``NORM_RTOL``) at every layer that
    may hold the peak.  With ``limit`` they only decide whether every norm is at most
    ``limit``, and the scan stops at the first layer whose lower bound exceeds it.
    The scan also stops at the first layer ``l >= 1`` with ``||B^l||_2 <= 1`` (every
    later power is bounded by an earlier one).  Returns ``(lower, upper, stopped_at,
    direction)`` with ``direction`` the unit vector ``B^l`` stretched most at the layer
    of the best lower bound (a witness to reuse at nearby step sizes).
    """
    B = np.asarray(B, dtype=float)
    n = B.shape[0]
    lower, upper = np.zeros(layers + 1), np.zeros(layers + 1)
    lower[0] = upper[0] = 1.0
    if n == 0:
        return np.ones(layers + 1), np.ones(layers + 1), layers, np.zeros((0, 1))
    lower_triangular = is_lower(B)
    V = start_block(n)
    direction = V[:, :1]
    rounds = 20 if n <= LANCZOS_MIN else 3
    best, P, stop = 1.0, None, layers
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(1, layers + 1):
            P = B.copy() if P is None else product(P, B, lower_triangular)
            if not np.all(np.isfinite(P)):
                lower[layer] = upper[layer] = np.inf
                stop = int(layer)
                break
            # the bounds square P twice: a power near overflow is bounded at a power-of-two scale (exact)
            scale = unit_scale(P)
            Ps = P * scale if scale != 1.0 else P
            fro2, lo, hi = cheap_bounds(Ps)
            lo, hi = lo / scale, hi / scale
            if hi <= 1 or (limit is not None and hi <= limit):  # decided without a power step
                lower[layer], upper[layer] = lo, hi
                if hi <= 1:
                    stop = int(layer)
                    break
                continue
            cheap = hi * scale
            lo, hi, V = bounds(Ps, V, 2, fro2, cheap)
            lo, hi = lo / scale, hi / scale

            if _undecided(lo, hi, best, limit):
                for _ in range(rounds):
                    lo, hi, V = bounds(Ps, V, 4, fro2, cheap)
                    lo, hi = lo / scale, hi / scale
                    if not _undecided(lo, hi, best, limit):
                        break
                if _undecided(lo, hi, best, limit) and (n <= LANCZOS_MIN or limit is not None or lo <= 1 < hi):
                    lo = hi = _exact(P)
            lower[layer], upper[layer] = lo, hi
            if lo > best:
                _, _, right = np.linalg.svd(P @ V, full_matrices=False)
                direction = V @ right[:1].T
            best = max(best, lo)
            if hi <= 1 or (limit is not None and lo > limit):
                stop = int(layer)
                break
    if limit is None:  # layers left undecided that could still hold the peak: exact, from a recomputed power
        with np.errstate(invalid="ignore"):  # inf - inf at an overflowed layer: decided (inf), not undecided
            gaps = upper[: stop + 1] - lower[: stop + 1] > NORM_RTOL * upper[: stop + 1]
        for undecided in np.flatnonzero(gaps):
            if upper[undecided] >= best * (1 - TIE_RTOL) and np.isfinite(upper[undecided]):
                lower[undecided] = upper[undecided] = _exact(power(B, int(undecided), lower_triangular))
                best = max(best, lower[undecided])
    return lower, upper, stop, direction


def peak_norm(B: np.ndarray, layers: int):
    """``(peak, peak_layer, norms)`` of ``||B^l||_2``, ``l <= L`` (see ``verify.rates.transient``)."""
    B = np.asarray(B, dtype=float)
    if np.array_equal(B, B.T):
        norms = symmetric_norms(B[None], layers)[0]
    else:
        lower, upper, stop, _ = norm_bounds(B, layers)
        norms = lower.copy()
        norms[stop + 1:] = 0.0
    peak, layer = peaks_of(norms[None])
    return float(peak[0]), int(layer[0]), norms


def symmetric_norms(B: np.ndarray, layers: int) -> np.ndarray:
    """``||B^l||_2 = max |mu|^l`` (spectral theorem) for a stack ``(k, n, n)`` of symmetric matrices, ``(k, L + 1)``;
    0 after the first power of norm <= 1 (:func:`verify.rates.transient`)."""
    mu = np.abs(np.linalg.eigvalsh(B)).max(axis=-1, initial=0.0)
    with np.errstate(over="ignore"):
        norms = mu[:, None] ** np.arange(layers + 1, dtype=float)[None, :]
    norms[:, 0] = 1.0
    small = norms[:, 1:] <= 1
    norms[:, 1:][np.cumsum(small, axis=1) - small > 0] = 0.0  # after the first power of norm <= 1
    return norms


def peaks_of(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(peak, first layer within TIE_RTOL of it)`` per row of ``norms (k, L + 1)`` (an infinite peak: its layer)."""
    peak = norms.max(axis=1)
    layer = np.argmax(norms >= np.where(np.isfinite(peak), peak * (1 - TIE_RTOL), np.inf)[:, None], axis=1)
    return peak, layer


def within(B: np.ndarray, layers: int, max_growth: float) -> tuple[bool, np.ndarray]:
    """``(safe, direction)``: safe when ``||B^l||_2 <= max_growth`` for every ``l <= layers``.

    Stops at the first layer decided either way (a lower bound above the limit, or a
    power of norm at most 1).  ``direction`` is the unit vector stretched most (see
    :func:`norm_bounds`), a witness for nearby step sizes.
    """
    B = np.asarray(B, dtype=float)
    if np.array_equal(B, B.T):  # symmetric: the peak is max(1, max |mu|^L), no powers needed
        mu, vectors = np.linalg.eigh(B)
        top = float(np.max(np.abs(mu), initial=0.0))
        with np.errstate(over="ignore"):
            peak = max(1.0, top ** layers) if layers else 1.0
        return bool(peak <= max_growth), vectors[:, [int(np.argmax(np.abs(mu)))]] if mu.size else np.zeros((0, 1))
    lower, upper, stop, direction = norm_bounds(B, layers, max_growth)
    return bool(np.all(lower[: stop + 1] <= max_growth)), direction


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


#: a stack of this many floats (``T n^2``: only the current power of each matrix is kept) is handled all at once
STACK_FLOATS = 3e7
#: block size and block power steps on ``G = P^T P`` per layer (warm-started from the previous layer's block)
STACK_BLOCK, STACK_STEPS = 6, 2
#: extra rounds of ``STACK_STEPS`` steps for the matrices whose bounds leave them undecided, before an SVD
STACK_ROUNDS = 4
#: rounding allowance on ``||E||_F^2 = ||G||_F^2 - ||A||_F^2 - 2 ||C||_F^2`` (a difference of computed sums), in units
#: of ``n eps ||G||_F^2``: the bound on ``lambda_max(E)`` stays an upper bound in floating point
GRAM_SLACK = 64
#: ``||P||_F^2`` above which a power's norm is taken by an SVD (the Gram bounds square it once more)
HUGE = 1e150


def _gram_bounds(G: np.ndarray, V: np.ndarray, steps: int, fro2: np.ndarray, g2: np.ndarray, cheap: np.ndarray):
    """``(lower, upper, V)`` for ``||P_t||_2`` from the Gram matrices ``G = P^T P`` and orthonormal blocks ``V``.

    After ``steps`` block power steps, Rayleigh-Ritz: Ritz values ``theta_1 >= theta_2 >= ...``
    and vectors ``v_1, V_r`` of ``A = V^T G V`` (``theta_1 <= ||P||_2^2``: the lower bound), with
    residuals ``c_1 = G v_1 - theta_1 v_1`` and ``C_r = G V_r - V_r Theta_r`` (both orthogonal to
    ``V``).  In the basis ``[v_1, V_r, V_perp]``
    ``G = [[theta_1, 0, c_1^T], [0, Theta_r, C_r^T], [c_1, C_r, E]]`` with ``E`` positive
    semidefinite, ``lambda_max(E) <= e = min(||E||_F, trace(E))``,
    ``||E||_F^2 = ||G||_F^2 - sum theta^2 - 2 ||C||_F^2``, ``trace(E) = ||P||_F^2 - sum theta``.
    For a unit vector ``(a, b, z)``, ``x^T G x <= y^T M y`` with ``y = (|a|, |b|, |z|)`` and
    ``M = [[theta_1, 0, |c_1|], [0, theta_2, ||C_r||_F], [|c_1|, ||C_r||_F, e]]``, so
    ``||P||_2^2 <= lambda_max(M)``: the upper bound, within about ``|c_1|^2 / (theta_1 - ...)``
    of the lower one -- only the top Ritz vector needs to converge.
    """
    for _ in range(steps):
        V = np.linalg.qr(G @ V)[0]
    GV = G @ V
    A = np.swapaxes(V, -1, -2) @ GV
    theta, U = np.linalg.eigh((A + np.swapaxes(A, -1, -2)) / 2)
    theta, U = theta[..., ::-1], U[..., ::-1]
    V, GV = V @ U, GV @ U  # Ritz vectors, the top one first (the next layer's start)
    C = GV - V * theta[..., None, :]
    c2 = np.einsum("tij,tij->tj", C, C)  # squared residual per Ritz vector
    top = np.maximum(theta[..., 0], 0.0)
    slack = GRAM_SLACK * G.shape[-1] * np.finfo(float).eps * g2
    e = np.minimum(np.sqrt(np.maximum(g2 - np.einsum("ti,ti->t", theta, theta) - 2 * c2.sum(axis=-1), 0.0) + slack),
                   np.maximum(fro2 - theta.sum(axis=-1), 0.0) + np.sqrt(slack))
    M = np.zeros(top.shape + (3, 3))
    M[..., 0, 0], M[..., 2, 2] = top, e
    M[..., 0, 2] = M[..., 2, 0] = np.sqrt(c2[..., 0])
    if theta.shape[-1] > 1:
        M[..., 1, 1] = theta[..., 1]
        M[..., 1, 2] = M[..., 2, 1] = np.sqrt(c2[..., 1:].sum(axis=-1))
    upper2 = np.linalg.eigvalsh(M)[..., -1]
    return np.sqrt(top), np.minimum(cheap, np.sqrt(np.maximum(upper2, top))), V


def _vector_bounds(P: np.ndarray, v: np.ndarray, fro2: np.ndarray, cheap: np.ndarray):
    """One power step on ``P^T P`` from unit vectors ``v`` (batched): ``(lower, upper, v)`` for ``||P_t||_2``.

    ``lower = ||P v||`` after the step; ``upper`` is the module doc's bound with one vector
    (``beta = ||P||_F^2 - ||P v||^2`` for the rest), loose unless one singular value dominates.
    """
    PT = np.swapaxes(P, -1, -2)
    v = PT @ (P @ v)
    v /= np.maximum(np.linalg.norm(v, axis=-2, keepdims=True), 1e-300)
    w = P @ v
    top = np.einsum("tik,tik->t", w, w)
    gamma = np.linalg.norm((PT @ w - top[:, None, None] * v)[..., 0], axis=-1)
    beta = np.maximum(fro2 - top, 0.0)
    upper = np.minimum(cheap, np.sqrt((top + beta) / 2 + np.hypot((top - beta) / 2, gamma)))
    return np.sqrt(top), upper, v


def stack_peaks(B: np.ndarray, layers: int):
    """:func:`peak_norm` for a stack ``(T, n, n)`` of small matrices, all at once, layer by layer.

    Each matrix keeps only its current power ``P = B^l``, a unit vector and an
    orthonormal block, both warm-started from earlier layers (the top singular
    vectors move little from one power to the next).  At every layer one batched
    power step on the vectors gives a lower bound for all active matrices (and a
    cheap upper bound); only the matrices that may hold the peak (upper bound at
    least the best lower bound so far) or whose scan may end here (lower bound
    <= 1 < upper bound) get the block bounds of :func:`_gram_bounds`, and an SVD
    when ``STACK_ROUNDS`` rounds of those leave them undecided.  A matrix leaves the
    scan at its first power of norm at most 1 (:func:`verify.rates.transient`), so
    no work is spent after it.  Symmetric matrices are read off their eigenvalues.
    Returns ``(peak (T,), peak_layer (T,), norms (T, L + 1))``.
    """
    B = np.asarray(B, dtype=float)
    T, n = B.shape[0], B.shape[-1]
    norms = np.zeros((T, layers + 1))
    norms[:, 0] = 1.0
    symmetric = np.all(B == np.swapaxes(B, -1, -2), axis=(-2, -1))
    if symmetric.any():  # no powers at all
        norms[symmetric] = symmetric_norms(B[symmetric], layers)
    active = np.flatnonzero(~symmetric)
    Ba = B[active]  # the matrices still scanned, and their B
    best = np.ones(T)
    P = np.broadcast_to(np.eye(n), Ba.shape)
    start = start_block(n)
    v = np.broadcast_to(start[:, :1], (active.size, n, 1)).copy()
    V = np.broadcast_to(start[:, :STACK_BLOCK], (active.size, n, min(STACK_BLOCK, n))).copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(1, layers + 1):
            if active.size == 0:
                break
            P = P @ Ba
            fro2 = np.einsum("tij,tij->t", P, P)
            finite = np.isfinite(fro2)  # an inf or nan entry makes the sum of squares inf or nan
            if not finite.all():  # an overflowing power: its norm is inf, and the scan ends there
                finite[~finite] = np.all(np.isfinite(P[~finite]), axis=(-2, -1))
                norms[active[~finite], layer] = np.inf
                active, Ba, P, v, V, fro2 = active[finite], Ba[finite], P[finite], v[finite], V[finite], fro2[finite]
            # powers this large (norm > 1e75) would overflow ||P^T P||_F^2 in the bounds: the SVD below (it scales)
            huge = ~(fro2 <= HUGE)
            if huge.any():
                v[huge], V[huge] = start[:, :1], start[:, : V.shape[-1]]
            absP = np.abs(P)
            cheap = np.minimum(np.sqrt(fro2), np.sqrt(absP.sum(axis=-2).max(axis=-1) * absP.sum(axis=-1).max(axis=-1)))
            lo, hi, v = _vector_bounds(P, v, fro2, cheap)
            if huge.any():
                lo[huge] = hi[huge] = np.linalg.svd(P[huge], compute_uv=False)[:, 0]
                v[huge] = start[:, :1]
            for round_ in range(STACK_ROUNDS + 1):
                open_ = (hi - lo > NORM_RTOL * hi) & ((hi >= best[active] * (1 - TIE_RTOL)) | ((lo <= 1) & (hi > 1)))
                if not open_.any():
                    break
                k = np.flatnonzero(open_)
                if round_ == 0:
                    Pk = P[k]
                    G = np.swapaxes(Pk, -1, -2) @ Pk
                    g2 = np.einsum("tij,tij->t", G, G)
                    place = np.full(active.size, -1)
                    place[k] = np.arange(k.size)
                if round_ < STACK_ROUNDS:
                    at = place[k]
                    lo_k, hi_k, V[k] = _gram_bounds(G[at], V[k], STACK_STEPS, fro2[k], g2[at], cheap[k])
                    lo[k], hi[k] = np.maximum(lo[k], lo_k), np.minimum(hi[k], hi_k)
                else:  # still undecided: exact
                    lo[k] = hi[k] = np.linalg.svd(P[k], compute_uv=False)[:, 0]
            norms[active, layer] = lo
            best[active] = np.maximum(best[active], lo)
            going = hi > 1  # a power of norm <= 1 ends the scan: later norms stay 0
            if not going.all():
                active, Ba, P, v, V = active[going], Ba[going], P[going], v[going], V[going]
    return (*peaks_of(norms), norms)


# ----------------------------------------------------------------------------- structured operators (issue 21)

#: power rounds on ``(B^l)^T B^l`` at the best layer found by the start block
KRYLOV_ROUNDS = 3
#: layers at which the vector is sharpened (the best layer, then the best layer of the sharpened vector)
KRYLOV_REFINE = 2
#: columns of the start block of the structured transient
KRYLOV_BLOCK = 4


def _powers(op, eta: float, V: np.ndarray, layers: int) -> np.ndarray:
    """``max_col ||B^l v|| / ||v||`` for ``l = 0..L``, ``B = I - eta N`` applied through ``op.matvec``."""
    V = V / np.linalg.norm(V, axis=0, keepdims=True)
    out = np.ones(layers + 1)
    W = V
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(1, layers + 1):
            W = W - eta * op.matvec(W)
            norms = np.sqrt(np.einsum("ij,ij->j", W, W))
            out[layer] = float(np.max(norms)) if np.all(np.isfinite(norms)) else np.inf
            if not np.isfinite(out[layer]):
                out[layer:] = np.inf
                break
    return out


def krylov_peak(op, eta: float, layers: int) -> tuple[float, int, np.ndarray]:
    """A lower bound on ``max_{l <= L} ||(I - eta N)^l||_2`` from explicit vectors, with ``N`` a structured operator.

    ``op`` has ``matvec`` / ``rmatvec`` (``N V``, ``N^T V``; ``O(n d)`` per column, ``verify.structured``).
    A start block (the all-ones direction and seeded random ones) gives ``||B^l v||`` for every
    layer; then ``KRYLOV_ROUNDS`` power steps on ``(B^{l*})^T B^{l*}`` at the best layer ``l*``
    sharpen the vector, which is run through every layer again.  Every value is
    ``||B^l v|| / ||v||`` for an explicit ``v``: a lower bound, exact when ``v`` is the top
    right singular vector.  Returns ``(peak, peak_layer, v)``.
    """
    n = op.n
    if n == 0 or layers == 0:
        return 1.0, 0, np.ones((n, 1))
    V = start_block(n)[:, :KRYLOV_BLOCK]
    norms = _powers(op, eta, V, layers)
    v = V[:, [0]]
    tried: set = set()
    for _ in range(KRYLOV_REFINE):
        best = int(np.argmax(norms[1:])) + 1  # layer 0 has norm 1 for every vector: sharpen at a later one
        if best in tried or not np.isfinite(norms[best]):
            break
        tried.add(best)
        v = _power_vector(op, eta, V if len(tried) == 1 else np.concatenate([v, V], axis=1), best)
        norms = np.maximum(norms, _powers(op, eta, v, layers))
    peak = float(np.max(norms))
    layer = int(np.argmax(norms >= peak * (1 - TIE_RTOL))) if np.isfinite(peak) else int(np.argmax(norms))
    return peak, layer, v


def _power_vector(op, eta: float, V: np.ndarray, layer: int) -> np.ndarray:
    """The column of ``V`` that ``B^l`` stretches most, after ``KRYLOV_ROUNDS`` power steps on ``(B^l)^T B^l``."""
    W = V.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(layer):
            W = W - eta * op.matvec(W)
        v = V[:, [int(np.argmax(np.einsum("ij,ij->j", W, W)))]]
        for _ in range(KRYLOV_ROUNDS):
            W = v
            for _ in range(layer):
                W = W - eta * op.matvec(W)
            for _ in range(layer):
                W = W - eta * op.rmatvec(W)
            size = np.linalg.norm(W)
            if not np.isfinite(size) or size == 0:
                break
            v = W / size
    return v


#: bisection steps of the structured depth search (each runs one vector through every layer)
DEPTH_STEPS = 16


def krylov_depth_safe_eta(op, top: float, layers: int, max_growth: float, witness: np.ndarray,
                          rtol: float = 1e-2) -> float:
    """An estimate of the largest ``eta`` in ``(0, top]`` whose transient peak stays within ``max_growth``.

    Bisection on ``eta`` (at most ``DEPTH_STEPS`` steps, to a relative ``rtol``) with the
    growth of one explicit vector, ``witness`` (the vector :func:`krylov_peak` sharpened):
    a step size whose vector grows beyond the limit is proven unsafe, one whose vector
    stays within it is *not* proven safe (the norm may be larger).  So the answer is an
    estimate, from above, of the depth-safe step sizes.
    """
    if not np.isfinite(top) or top <= 0:
        return float(top) if top == 0 else float("inf")
    def safe(eta: float) -> bool:
        return bool(np.max(_powers(op, eta, witness, layers)) <= max_growth)

    if safe(top):
        return float(top)
    # down by factors of 4 to a safe step size, then bisect: DEPTH_STEPS runs in all (0 if none was found)
    lo, hi, steps = 0.0, top, 0
    while steps < DEPTH_STEPS and lo == 0:
        steps += 1
        if safe(hi / 4):
            lo = hi / 4
        else:
            hi = hi / 4
    while steps < DEPTH_STEPS and hi - lo > rtol * hi and lo > 0:
        steps += 1
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if safe(mid) else (lo, mid)
    return float(lo)
