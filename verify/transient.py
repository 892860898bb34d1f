"""Finite-depth transient growth of the residual iteration, in closed form and bounded (SPEC P11).

The causal iteration ``B = I - eta D^{-1} T`` (``T_{ji} = x_i^T x_j`` for ``i <= j``)
is lower triangular and far from normal: ``||B^l||_2`` can grow by orders of
magnitude before the asymptotic rate ``rho`` (SPEC P5) takes over.  This module
gives the pieces of theorem P11 as pure functions:

- ``n = 2``: ``B = [[p, 0], [s, q]]`` with ``p = 1 - eta |x_1|^2 / c_1``,
  ``q = 1 - eta |x_2|^2 / c_2``, ``s = -eta x_1^T x_2 / c_2``, and
  ``B^l = [[p^l, 0], [s S_l, q^l]]``, ``S_l = sum_{k<l} p^k q^(l-1-k)``
  ``= (p^l - q^l) / (p - q)`` (``l p^(l-1)`` when ``p = q``);
  its 2-norm is ``sqrt((F + sqrt(F^2 - 4 (pq)^(2l))) / 2)`` with
  ``F = p^(2l) + q^(2l) + s^2 S_l^2``.
- every ``n``: with ``B = Lambda - E`` (``Lambda`` diagonal, ``E`` strictly lower
  triangular), ``||B^l||_2 <= sum_{k=0}^{min(l, n-1)} C(l, k) rho^(l-k) eps^k`` where
  ``rho = max_j |Lambda_jj|`` and ``eps = || |E| ||_2`` (entrywise absolute value).
- sharper, for any ``B``: ``||B^l||_2 <= || |B|^l ||_2 <= ||(rho I + |E|)^l||_2``.
- a lower bound for every ``n``: the principal ``2 x 2`` block of ``B^l`` on two
  consecutive examples ``(j, j+1)`` is the ``l``-th power of that block of ``B``
  (a lower-triangular path from ``j`` to ``j+1`` cannot leave ``{j, j+1}``), so
  ``||B^l|| >= max_j ||B_{(j, j+1)}^l||``.

Functions take numbers (or numpy arrays of layers ``l``); ``geometric_sum`` and
``n2_entries`` also accept SymPy expressions and then return SymPy expressions.
"""
from __future__ import annotations

import math

import numpy as np

#: below this relative gap |p - q| / max(|p|, |q|) the closed form (p^l - q^l)/(p - q)
#: loses about eps / gap relative accuracy to cancellation, more than summing the
#: l terms directly (about l eps); above it the closed form is within 100 eps
_NEAR_EQUAL = 1e-2


def _symbolic(*values) -> bool:
    return any(not isinstance(v, (int, float, np.integer, np.floating, np.ndarray)) for v in values)


def n2_entries(x1, x2, eta, c1=1, c2=None):
    """``(p, q, s)`` of the causal ``n = 2`` iteration ``B = [[p, 0], [s, q]]``.

    ``p = 1 - eta x_1^T x_1 / c_1``, ``q = 1 - eta x_2^T x_2 / c_2``,
    ``s = -eta x_1^T x_2 / c_2`` (``c2`` defaults to ``c1``: constant normalizer;
    ``c1 = 1, c2 = 2`` is the count normalizer).  ``x1, x2`` are sequences of
    numbers or SymPy expressions.
    """
    c2 = c1 if c2 is None else c2
    a = sum(u * u for u in x1)
    b = sum(v * v for v in x2)
    g = sum(u * v for u, v in zip(x1, x2))
    return 1 - eta * a / c1, 1 - eta * b / c2, -eta * g / c2


def geometric_sum(l, p, q):
    """``S_l = sum_{k=0}^{l-1} p^k q^(l-1-k)`` in closed form.

    ``(p^l - q^l) / (p - q)`` for ``p != q`` and ``l p^(l-1)`` for ``p = q``.
    SymPy arguments give a ``Piecewise``; numeric ``l`` may be an integer array.
    Near ``p = q`` the closed form cancels catastrophically, so there the terms
    are summed directly (same value in exact arithmetic).
    """
    if _symbolic(l, p, q):
        import sympy as sp

        return sp.Piecewise((l * p ** (l - 1), sp.Eq(p, q)), ((p ** l - q ** l) / (p - q), True))
    l = np.asarray(l)
    p, q = float(p), float(q)
    scale = max(abs(p), abs(q))
    if scale == 0:
        return np.where(l == 1, 1.0, 0.0)
    if abs(p - q) > _NEAR_EQUAL * scale:
        with np.errstate(over="ignore", invalid="ignore"):
            return (np.power(p, l) - np.power(q, l)) / (p - q)
    return np.vectorize(lambda m: math.fsum(p ** k * q ** (m - 1 - k) for k in range(int(m))), otypes=[float])(l)


def n2_offdiag(l, p, q, s):
    """The ``(2, 1)`` entry of ``[[p, 0], [s, q]]^l``: ``s S_l`` (see :func:`geometric_sum`)."""
    return s * geometric_sum(l, p, q)


def n2_power(l: int, p, q, s) -> np.ndarray:
    """``[[p, 0], [s, q]]^l = [[p^l, 0], [s S_l, q^l]]`` as a numeric ``2 x 2`` array."""
    return np.array([[p ** l, 0.0], [float(n2_offdiag(l, p, q, s)), q ** l]])


def n2_norm(l, p, q, s):
    """``||[[p, 0], [s, q]]^l||_2 = sqrt((F + sqrt(F^2 - 4 det^2)) / 2)``.

    ``F = p^(2l) + q^(2l) + (s S_l)^2`` is the squared Frobenius norm and
    ``det = (p q)^l``: the squared singular values are the roots of
    ``t^2 - F t + det^2``.  ``F^2 - 4 det^2`` is evaluated as
    ``(F - 2|det|)(F + 2|det|)``, which is ``>= 0`` term by term
    (``F >= p^(2l) + q^(2l) >= 2 |pq|^l``).
    """
    l = np.asarray(l)
    with np.errstate(over="ignore", invalid="ignore"):
        off = n2_offdiag(l, p, q, s)
        F = np.power(float(p), 2 * l) + np.power(float(q), 2 * l) + off ** 2
        det = np.abs(np.power(float(p * q), l))
        return np.sqrt((F + np.sqrt(np.maximum(F - 2 * det, 0.0) * (F + 2 * det))) / 2)


def n2_peak(p, q, s, layers: int) -> tuple[float, int]:
    """``max_{0 <= l <= L} ||[[p, 0], [s, q]]^l||_2`` and the first layer attaining it."""
    norms = n2_norm(np.arange(layers + 1), p, q, s)
    peak = float(np.max(norms))
    return peak, int(np.flatnonzero(norms >= peak * (1 - 1e-12))[0])


def n2_offdiag_argmax(p, q):
    """The real ``l* > 0`` maximizing ``l -> |S_l|`` when ``0 < |p|, |q| < 1`` have the same sign.

    With ``u = ln|p|``, ``v = ln|q|``: ``|S_l| = (e^(ul) - e^(vl)) / (|p| - |q|)`` has
    derivative zero exactly where ``e^((u-v) l) = v / u``, i.e.
    ``l* = ln(v/u) / (u - v)`` (``-1/u`` when ``p = q``).  ``e^((u-v) l)`` is strictly
    monotone, so this is the only critical point; ``S_0 = 0``, ``S_l > 0`` for
    ``l > 0`` and ``S_l -> 0``, so it is the maximum, and the integer maximum is at
    ``floor(l*)`` or ``ceil(l*)``.  Same-sign negative ``p, q``: ``|S_l|`` is the
    same function of ``|p|, |q|``.  Returns ``None`` when ``p, q`` have opposite
    signs or are not strictly inside ``(-1, 1)``; returns ``1.0`` when one is 0
    (``|S_l| = max(|p|,|q|)^(l-1)``).
    """
    p, q = float(p), float(q)
    if not (abs(p) < 1 and abs(q) < 1) or p * q < 0:
        return None
    if p == 0 or q == 0:
        return 1.0
    u, v = math.log(abs(p)), math.log(abs(q))
    if u == v:
        return -1.0 / u
    return math.log(v / u) / (u - v)


def n2_offdiag_peak(p, q, s, layers: int) -> tuple[float, int]:
    """``max_{0 <= l <= L} |s S_l|`` and the first layer attaining it.

    Uses :func:`n2_offdiag_argmax` (unimodal: the integer maximum over ``l <= L``
    is at ``floor(l*)``, ``ceil(l*)`` or ``L``) when it applies, else scans every layer.
    """
    star = n2_offdiag_argmax(p, q)
    if star is None:
        candidates = np.arange(layers + 1)
    else:
        candidates = np.unique(np.clip([0, math.floor(star), math.ceil(star)], 0, layers))
    values = np.abs(n2_offdiag(candidates, p, q, s))
    best = int(np.argmax(values))
    return float(values[best]), int(candidates[best])


def _normalizers(c, n: int) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    return np.full(n, float(c)) if c.ndim == 0 else c[:n]


def causal_parts(X, eta: float, c=1.0) -> tuple[float, float]:
    """``(rho, eps)`` for the causal iteration ``B = Lambda - E`` of the prompt ``X : (n, d)``.

    ``Lambda_jj = 1 - eta |x_j|^2 / c_j``, ``E_ji = eta x_i^T x_j / c_j`` for ``i < j``;
    ``rho = max_j |Lambda_jj|`` (the asymptotic rate, SPEC P5) and
    ``eps = || |E| ||_2``.  ``c`` is a scalar or one normalizer per example.
    """
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    c = _normalizers(c, n)
    G = X @ X.T
    rho = float(np.max(np.abs(1 - eta * np.diag(G) / c))) if n else 0.0
    E = np.abs(np.tril(G, -1)) * (eta / c)[:, None]
    eps = float(np.linalg.norm(E, 2)) if n > 1 else 0.0
    return rho, eps


def expansion_bound(layers: int, n: int, rho: float, eps: float) -> np.ndarray:
    """``b_l = sum_{k=0}^{min(l, n-1)} C(l, k) rho^(l-k) eps^k`` for ``l = 0..L``.

    Summed in log space (``C(l, k)`` overflows long before the bound does);
    ``inf`` where the bound itself exceeds the float range.
    """
    l = np.arange(layers + 1)[:, None]
    k = np.arange(max(n, 1))[None, :]
    valid = k <= l
    lgamma = np.vectorize(math.lgamma, otypes=[float])
    log_binom = lgamma(l + 1.0) - lgamma(k + 1.0) - lgamma(np.maximum(l - k, 0) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0^0 = 1: a zero base raised to the power 0 contributes nothing to the log
        log_rho = np.where(l - k == 0, 0.0, (l - k) * np.log(rho) if rho > 0 else -np.inf)
        log_eps = np.where(k == 0, 0.0, k * np.log(eps) if eps > 0 else -np.inf)
    logs = np.where(valid, log_binom + log_rho + log_eps, -np.inf)
    top = np.max(logs, axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.exp(top[:, 0]) * np.sum(np.exp(logs - np.where(np.isfinite(top), top, 0.0)), axis=1)
    return np.where(np.isfinite(top[:, 0]), total, np.where(top[:, 0] > 0, np.inf, 0.0))


def causal_peak_bound(X, eta: float, c=1.0, layers: int = 100) -> float:
    """Upper bound on ``max_{l <= L} ||(I - eta D^{-1} T)^l||_2`` for the causal mask, any ``n``.

    ``max_l sum_{k=0}^{min(l, n-1)} C(l, k) rho^(l-k) eps^k`` with ``(rho, eps)`` from
    :func:`causal_parts`.  Why it holds: ``|B^l| <= (|Lambda| + |E|)^l <= (rho I + |E|)^l``
    entrywise; ``rho I`` commutes with ``|E|``, so the binomial theorem expands the
    power, and ``|E|^k = 0`` for ``k >= n`` (strictly lower triangular); finally
    ``||A||_2 <= || |A| ||_2`` and the 2-norm is monotone on non-negative matrices.
    """
    X = np.asarray(X, dtype=float)
    rho, eps = causal_parts(X, eta, c)
    return float(np.max(expansion_bound(layers, X.shape[0], rho, eps)))


def majorant_peak_bound(B, layers: int = 100) -> float:
    """``max_{l <= L} || |B|^l ||_2``: an upper bound on ``max_l ||B^l||_2`` for any ``B``.

    ``|B^l| <= |B|^l`` entrywise and the 2-norm is monotone on non-negative
    matrices; for the causal ``B = Lambda - E`` it is the first step of
    :func:`causal_peak_bound` (``|B| <= rho I + |E|``), so it lies between the
    transient peak and that bound, and is much sharper than the latter.
    """
    A = np.abs(np.asarray(B, dtype=float))
    power, peak = np.eye(A.shape[0]), 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(layers):
            power = power @ A
            if not np.all(np.isfinite(power)):
                return float("inf")
            peak = max(peak, float(np.linalg.norm(power, 2)))
    return peak


def causal_peak_lower_bound(X, eta: float, c=1.0, layers: int = 100) -> tuple[float, int]:
    """``max_j max_{l <= L} ||B_{(j, j+1)}^l||_2`` over consecutive example pairs, and the pair ``j``.

    A lower bound on the causal transient peak (module doc); for ``n = 1`` it is
    ``max(1, |1 - eta |x_1|^2 / c|^L)``.  ``c`` is a scalar or one normalizer per example.
    """
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    c = _normalizers(c, n)
    if n == 1:
        p = 1 - eta * float(X[0] @ X[0]) / c[0]
        return max(1.0, abs(p) ** layers), 0
    best, where = -1.0, 0
    for j in range(n - 1):
        p, q, s = n2_entries(X[j], X[j + 1], eta, c[j], c[j + 1])
        peak, _ = n2_peak(p, q, s, layers)
        if peak > best:
            best, where = peak, j
    return best, where


def prefix_norms(X, eta: float, c: float = 1.0, layers: int = 100) -> np.ndarray:
    """``||(I - (eta/c) X X^T)^l||_2 = max_i |1 - eta lambda_i / c|^l`` (symmetric: spectral theorem)."""
    X = np.asarray(X, dtype=float)
    lam = np.linalg.eigvalsh(X @ X.T)
    mu = float(np.max(np.abs(1 - eta * lam / c)))
    return mu ** np.arange(layers + 1)
