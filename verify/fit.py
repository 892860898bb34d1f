"""Fit learned LSA layers to the preconditioned-GD family of SPEC P10 (``derive --fit``, issue 15).

Write a layer's weights in blocks (``d`` inputs, ``k`` outputs)::

    K^T Q = [[A, b], [c^T, e]],     P V = [[F, g], [h^T, s]]

with ``A, F`` ``(d, d)``, ``b, g`` ``(d, k)``, ``c^T, h^T`` ``(k, d)``, ``e, s`` ``(k, k)``.
By P10 the layer keeps tokens ``[x; y - W x]`` and updates
``W <- W + (1/c_j) sum_i r_i x_i^T Gamma`` (preconditioned GD) exactly on two
products of coordinate subspaces (the layer is the identity where they meet):

- ``S1``: only ``A`` and ``s`` non-zero, ``Gamma = -s A``;
- ``S4``: only ``c`` and ``h`` non-zero, ``Gamma = -h c^T``.

Multi-output (``k > 1``): the layer moves a residual ``r_j`` by
``-(1/c_j) sum_i s r_i x_i^T A x_j`` under S1 and by ``(1/c_j) sum_i H^T x_i (C r_i)^T x_j``
under S4.  The first is ``W <- W + (1/c_j) sum_i r_i x_i^T Gamma`` for every ``r`` only when
``s = sigma I_k`` (then ``Gamma = -sigma A``), so for ``k > 1`` S1 is ``{A, s = sigma I_k}``
and its nearest point keeps ``A`` and replaces ``s`` by ``(tr s / k) I_k``.  The second moves
the residual along ``H^T x_i`` rather than ``r_i``; matching coefficients of ``x_p r_q`` forces
``Gamma = 0`` when ``k >= 2``, so S4 is not a candidate for ``k > 1``.

Both members are linear subspaces, so the nearest point (Frobenius norm, each matrix) is the
orthogonal projection: the truncation, and the mean of ``diag(s)`` for ``sigma``.  Since
``(alpha K^T Q, P V / alpha)`` is the same layer, distances are relative to each matrix::

    relative_distance = max(||K^T Q - KQ*||_F / ||K^T Q||_F, ||P V - PV*||_F / ||P V||_F)

A layer with ``K^T Q = 0`` or ``P V = 0`` is the identity: the trivial member (``Gamma = 0``,
distance 0).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import lsa, masks, normalizers  # the model, looked up at call time
from .construction import Construction
from .errors import PromptError
from .masks import parse_attention
from .prompt import split_tokens
from .regression import X_DISTS, TaskDistribution, token_batch

MEMBERS = ("S1", "S4")


@dataclass(frozen=True)
class LayerFit:
    """The nearest preconditioned-GD member of one layer.

    member : "S1" or "S4".
    relative_distance : the module's ``max`` of the two relative Frobenius distances.
    kq_distance, pv_distance : its two terms.
    gamma : ``(d, d)`` preconditioner of the nearest member.
    kq, pv : ``(d+k, d+k)`` the nearest member's ``K^T Q`` and ``P V``.
    """

    member: str
    relative_distance: float
    kq_distance: float
    pv_distance: float
    gamma: np.ndarray
    kq: np.ndarray
    pv: np.ndarray

    def as_dict(self, tol: float) -> dict:
        """The JSON entry of ``derive --fit``: member, distance, Gamma, and whether it is within ``tol``."""
        return {
            "member": self.member,
            "relative_distance": self.relative_distance,
            "kq_distance": self.kq_distance,
            "pv_distance": self.pv_distance,
            "preconditioner": self.gamma.tolist(),
            "implements_preconditioned_gd": bool(self.relative_distance <= tol),
        }


def members(k: int) -> tuple:
    """The candidate members for ``k`` outputs (S4 has no non-trivial GD member for ``k > 1``)."""
    return MEMBERS if k == 1 else ("S1",)


def sigma(s: np.ndarray) -> float:
    """S1's ``sigma`` nearest to the block ``s`` ``(k, k)``: the mean of ``diag(s)``, ``sigma = tr(s) / k``.

    Summed as ``s_11 + mean(diag(s) - s_11)``: equal entries (``s = sigma I_k``, a member) then give ``sigma``
    exactly, so a member projects onto itself with distance 0 (``tr(s) / k`` rounds: ``(0.1 + 0.1 + 0.1) / 3``
    is not ``0.1``), and the shifted sum is the more accurate one when the entries are close.
    """
    diag = np.diag(s)
    return float(diag[0] + np.mean(diag - diag[0]))


def project(kq: np.ndarray, pv: np.ndarray, d: int, member: str):
    """Nearest point ``(KQ*, PV*)`` of ``member`` (Frobenius norm, each matrix separately).

    S1 keeps ``A = KQ[:d, :d]`` and ``s = PV[d:, d:]`` (for ``k > 1``: ``(tr s / k) I_k``, see :func:`sigma`);
    S4 keeps ``c^T = KQ[d:, :d]`` and ``h^T = PV[d:, :d]``; everything else is zero.
    """
    k = kq.shape[0] - d
    kq_star, pv_star = np.zeros_like(kq), np.zeros_like(pv)
    if member == "S1":
        kq_star[:d, :d] = kq[:d, :d]
        pv_star[d:, d:] = sigma(pv[d:, d:]) * np.eye(k)
    elif member == "S4" and k == 1:
        kq_star[d:, :d] = kq[d:, :d]
        pv_star[d:, :d] = pv[d:, :d]
    else:
        raise ValueError(f"unknown member {member!r} for k = {k}; use one of {members(k)}")
    return kq_star, pv_star


def preconditioner(kq: np.ndarray, pv: np.ndarray, d: int, member: str) -> np.ndarray:
    """``Gamma`` of a member: ``-sigma A`` (S1, ``sigma = s`` when ``k = 1``) or ``-h c^T`` (S4)."""
    if member == "S1":
        return -sigma(pv[d:, d:]) * kq[:d, :d]
    return -np.outer(pv[d, :d], kq[d, :d])


def _relative(a: np.ndarray, a_star: np.ndarray) -> float:
    norm = float(np.linalg.norm(a))
    return 0.0 if norm == 0 else float(np.linalg.norm(a - a_star)) / norm


def fit_layer(kq, pv, k: int = 1) -> LayerFit:
    """Nearest member of P10's preconditioned-GD family to the layer ``(K^T Q, P V)``.

    Parameters
    ----------
    kq, pv : ``(d+k, d+k)`` float arrays.
    k : number of outputs (label coordinates).

    Returns the :class:`LayerFit` of the member with the smaller ``relative_distance``
    (S1 on a tie).
    """
    kq, pv = np.asarray(kq, dtype=float), np.asarray(pv, dtype=float)
    d = kq.shape[0] - k
    if np.linalg.norm(kq) == 0 or np.linalg.norm(pv) == 0:
        # the identity layer: every token is unchanged, the trivial member
        zero = np.zeros_like(kq)
        return LayerFit("S1", 0.0, 0.0, 0.0, np.zeros((d, d)), zero, zero.copy())
    best = None
    for member in members(k):
        kq_star, pv_star = project(kq, pv, d, member)
        kq_dist, pv_dist = _relative(kq, kq_star), _relative(pv, pv_star)
        fit = LayerFit(member, max(kq_dist, pv_dist), kq_dist, pv_dist,
                       preconditioner(kq_star, pv_star, d, member), kq_star, pv_star)
        if best is None or fit.relative_distance < best.relative_distance:
            best = fit
    assert best is not None
    return best


def fit_stack(KQ, PV, k: int = 1) -> list:
    """:func:`fit_layer` for every layer of ``KQ, PV`` ``(L, d+k, d+k)``."""
    return [fit_layer(kq, pv, k) for kq, pv in zip(KQ, PV, strict=True)]


# ----------------------------------------------------------------------------- running stacks

def layers(KQ, PV) -> list:
    """The stack as package constructions: ``K = P = I``, ``Q = K^T Q``, ``V = P V`` (same layer)."""
    eye = np.eye(np.shape(KQ)[-1])
    return [Construction(K=eye, Q=np.asarray(kq, dtype=float), V=np.asarray(pv, dtype=float), P=eye)
            for kq, pv in zip(KQ, PV, strict=True)]


#: the layer forms a ``(T, T)`` score matrix per prompt (``T = n + m`` tokens); prompts are run in chunks of at
#: most this many score entries, so long prompts (``n`` in the thousands) do not exhaust memory
SCORE_ENTRIES_PER_CHUNK = 2**24


def stack_predictions(KQ, PV, Z0: np.ndarray, n: int, d: int, mask, c) -> np.ndarray:
    """Query predictions ``(batch, m, k)`` of the stack on tokens ``Z0`` ``(batch, d+k, n+m)``, via verify.lsa."""
    stack = layers(KQ, PV)
    chunk = max(1, SCORE_ENTRIES_PER_CHUNK // Z0.shape[-1] ** 2)
    parts = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, Z0.shape[0], chunk):
            final = lsa.lsa_forward(Z0[start:start + chunk], stack, mask, c)[-1]
            parts.append(split_tokens(final, n, d)[1])
    return np.concatenate(parts)


def relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    """``max_t ||a_t - b_t||_F / max(||a_t||_F, ||b_t||_F)`` over prompts ``t`` (axis 0); 0 when both vanish."""
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = np.linalg.norm(a - b, axis=1)
        scale = np.maximum(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        ratios = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(ratios)) if np.all(np.isfinite(ratios)) else float("inf")


@dataclass(frozen=True)
class Setting:
    """How a stack is run: attention, normalizer and the prompt distribution it was trained on."""

    distribution: TaskDistribution
    attention: str = "prefix"
    normalization: str = "constant"
    scale: float | None = None  # the constant c; None means c = n

    def mask_and_c(self):
        dist = self.distribution
        mask = masks.attention_mask(self.attention, dist.n, dist.m)
        scale = dist.n if self.scale is None else self.scale
        return mask, normalizers.normalizer(self.normalization, mask, scale)


def stack_gap(KQ, PV, fits: list, setting: Setting, prompts: int = 64, seed: int = 0) -> float:
    """Largest relative difference (:func:`relative_gap`) between the learned stack's query predictions
    and the projected stack's (every layer replaced by its nearest member) on ``prompts`` random prompts."""
    dist = setting.distribution
    X, Y, Xq, _ = dist.sample(np.random.default_rng([seed, 15]), prompts)
    Z0 = token_batch(X, Y, Xq)
    mask, c = setting.mask_and_c()
    learned = stack_predictions(KQ, PV, Z0, dist.n, dist.d, mask, c)
    projected = stack_predictions([f.kq for f in fits], [f.pv for f in fits], Z0, dist.n, dist.d, mask, c)
    return relative_gap(learned, projected)


# ----------------------------------------------------------------------------- weight files

#: metadata ``icl-verify train`` stores beside the weights (0-d arrays), with the defaults used without it
METADATA = {"attention": "prefix", "normalization": "constant", "scale": None, "n": 20, "m": 8, "k": 1,
            "x_dist": "normal", "mu_x": 0.0, "noise": 0.0}


def _real_array(name: str, a: np.ndarray) -> np.ndarray:
    """A weight array as finite floats (the prompt's rule: real dtype, no NaN or inf)."""
    from .prompt import _float_array

    return _float_array(f"fit: array {name}", a)


def _read_npz(path: str) -> dict:
    if not os.path.isfile(path):
        raise PromptError(f"fit: file {path!r} not found; give the path of an .npz file with arrays KQ and PV")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception:
        raise PromptError(f"fit: {path!r} is not a readable .npz file; write it with numpy.savez") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise PromptError(f"fit: {path!r} is a single array, not an .npz archive; save KQ and PV with numpy.savez")
    try:
        with data:
            return {key: data[key] for key in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise PromptError(f"fit: {path!r} holds object arrays; save KQ and PV as float arrays") from None
        raise PromptError(f"fit: {path!r} is not a readable .npz file; write it with numpy.savez") from None
    except Exception:
        raise PromptError(f"fit: {path!r} is not a readable .npz file; write it with numpy.savez") from None


def _products(arrays: dict):
    """``K^T Q`` and ``P V`` per layer from ``K, Q`` ``(L, h, D)``, ``V`` ``(L, h', D)``, ``P`` ``(L, D, h')``."""
    K, Q, V, P = (_real_array(name, arrays[name]) for name in "KQVP")
    for name, a in zip("KQVP", (K, Q, V, P), strict=True):
        if a.ndim != 3:
            raise PromptError(f"fit: array {name} has shape {a.shape}; expected (L, d+k, d+k), one matrix per layer")
    L, _, D = Q.shape
    if K.shape != Q.shape or V.shape[0] != L or V.shape[2] != D or P.shape != (L, D, V.shape[1]):
        raise PromptError(f"fit: shapes K {K.shape}, Q {Q.shape}, V {V.shape}, P {P.shape} do not fit together; "
                          "expected K, Q, V, P of shape (L, d+k, d+k)")
    built = [Construction(K[i], Q[i], V[i], P[i]) for i in range(L)]
    return np.stack([b.kq for b in built]), np.stack([b.pv for b in built])


def _metadata(arrays: dict, path: str) -> dict:
    meta = dict(METADATA)
    for key, default in METADATA.items():
        if key not in arrays:
            continue
        value = arrays[key]
        if value.shape != ():
            raise PromptError(f"fit: metadata {key} in {path!r} must be a scalar, got shape {value.shape}")
        if isinstance(default, str):
            if value.dtype.kind != "U":
                raise PromptError(f"fit: metadata {key} in {path!r} must be a string, got dtype {value.dtype}")
            meta[key] = str(value)
        elif key in ("n", "m", "k"):
            if value.dtype.kind not in "iu":
                raise PromptError(f"fit: metadata {key} in {path!r} must be an integer, got dtype {value.dtype}")
            meta[key] = int(value)
        else:
            meta[key] = float(_real_array(key, value))
    if meta["x_dist"] not in X_DISTS:
        raise PromptError(f"fit: metadata x_dist in {path!r} is {meta['x_dist']!r}; use normal or uniform")
    return meta


def load_weights(path: str, k: int | None = None):
    """Read a weights file: ``KQ``, ``PV`` ``(L, d+k, d+k)`` float arrays, or ``K, Q, V, P``.

    Returns ``(KQ, PV, meta)`` with ``meta`` the stored training metadata (module
    :data:`METADATA` defaults where absent); ``k`` overrides the stored ``k``.

    Raises
    ------
    PromptError
        Missing file or arrays, object or non-real arrays, NaN/inf, wrong shapes.
    """
    path = os.fspath(path)
    arrays = _read_npz(path)
    meta = _metadata(arrays, path)
    has_products, has_factors = {"KQ", "PV"} & arrays.keys(), set("KQVP") & arrays.keys()
    if has_products and has_factors:
        raise PromptError(f"fit: {path!r} has both KQ/PV and K/Q/V/P arrays; keep one of the two forms")
    if has_factors:
        missing = [name for name in "KQVP" if name not in arrays]
        if missing:
            raise PromptError(f"fit: {path!r} lacks array(s) {', '.join(missing)}; "
                              "give all of K, Q, V, P (or KQ and PV)")
        KQ, PV = _products(arrays)
    else:
        missing = [name for name in ("KQ", "PV") if name not in arrays]
        if missing:
            raise PromptError(f"fit: {path!r} lacks array(s) {', '.join(missing)}; "
                              "save KQ and PV of shape (L, d+k, d+k)")
        KQ, PV = _real_array("KQ", arrays["KQ"]), _real_array("PV", arrays["PV"])
        if KQ.ndim != 3 or KQ.shape[1] != KQ.shape[2] or KQ.shape != PV.shape:
            raise PromptError(f"fit: KQ has shape {KQ.shape} and PV {PV.shape}; both must be (L, d+k, d+k)")
    if KQ.shape[0] == 0:
        raise PromptError(f"fit: {path!r} has no layers (L = 0); save at least one layer")
    if k is not None:
        meta["k"] = k
    if meta["k"] < 1 or KQ.shape[1] - meta["k"] < 1:
        raise PromptError(f"k: {meta['k']} outputs leave d = {KQ.shape[1] - meta['k']} inputs for matrices of size "
                          f"{KQ.shape[1]}; give --k between 1 and {KQ.shape[1] - 1}")
    return KQ, PV, meta


def setting_from(meta: dict, d: int, attention: str | None = None, n: int | None = None) -> Setting:
    """The :class:`Setting` of stored metadata (``attention`` and ``n`` override it)."""
    attention = attention or meta["attention"]
    parse_attention(attention)
    dist = TaskDistribution(d=d, n=n or meta["n"], m=meta["m"], k=meta["k"], x_dist=meta["x_dist"],
                            mu_x=meta["mu_x"], noise=meta["noise"])
    return Setting(dist, attention, meta["normalization"], meta["scale"])
