"""What K, Q, V, P are: the weights of one LSA layer (SPEC section 2).

The paper's construction is ``K = Q = [[I_d, 0], [0, 0]]``,
``V = [[0, 0], [0, -I_k]]``, ``P = eta I_{d+k}``; a preconditioner ``Gamma``
replaces ``Q``'s top-left block so that ``K^T Q = [[Gamma, 0], [0, 0]]``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import PromptError


@dataclass(frozen=True)
class Construction:
    """The four matrices of one layer; numpy arrays or SymPy matrices."""

    K: Any
    Q: Any
    V: Any
    P: Any

    @property
    def kq(self):
        """``K^T Q``: the bilinear form of the attention scores ``z_i^T K^T Q z_j``."""
        return self.K.T @ self.Q

    @property
    def pv(self):
        """``P V``: the map applied to the attended sum."""
        return self.P @ self.V


def _is_symbolic(*values) -> bool:
    return any(v is not None and not isinstance(v, (int, float, np.ndarray, np.floating, np.integer)) for v in values)


def paper(eta, d, k: int = 1, gamma=None) -> Construction:
    """The paper's construction ``K = [[I_d, 0], [0, 0]]``, ``Q = [[Gamma, 0], [0, 0]]``,
    ``V = [[0, 0], [0, -I_k]]``, ``P = eta I_{d+k}`` (``Gamma = I_d`` unless given).

    One definition at every size: an int ``d`` with numeric ``eta`` gives numpy arrays;
    an int ``d`` with a SymPy ``eta`` or ``gamma`` gives explicit SymPy matrices; a SymPy
    symbol ``d`` gives ``BlockMatrix`` expressions in ``d`` (blocks ``d x d``, ``d x k``,
    ``k x d``, ``k x k``; ``gamma`` then a ``d x d`` matrix expression or None), which the
    proofs run through ``verify.lsa`` at symbolic sizes.  Substituting an int for ``d``
    and calling ``.as_explicit()`` gives the explicit matrices.
    """
    if not isinstance(d, (int, np.integer)):
        return _paper_blocks(eta, d, k, gamma)
    d = int(d)
    if _is_symbolic(eta, gamma):
        import sympy as sp

        zeros, eye = sp.zeros, sp.eye
        gamma = eye(d) if gamma is None else sp.Matrix(gamma)
        K = sp.diag(eye(d), zeros(k, k))
        Q = sp.diag(gamma, zeros(k, k))
        V = sp.diag(zeros(d, d), -eye(k))
        return Construction(K, Q, V, eta * eye(d + k))
    gamma = np.eye(d) if gamma is None else np.asarray(gamma, dtype=float)
    K = np.zeros((d + k, d + k))
    K[:d, :d] = np.eye(d)
    Q = np.zeros((d + k, d + k))
    Q[:d, :d] = gamma
    V = np.zeros((d + k, d + k))
    V[d:, d:] = -np.eye(k)
    return Construction(K, Q, V, float(eta) * np.eye(d + k))


def _paper_blocks(eta, d, k: int, gamma) -> Construction:
    """``paper`` at a symbolic dimension ``d``: 2 x 2 block matrices over ``(d, k)``."""
    from sympy import BlockMatrix, Identity, ZeroMatrix

    def blocks(top_left, bottom_right):
        return BlockMatrix([[top_left, ZeroMatrix(d, k)], [ZeroMatrix(k, d), bottom_right]])

    gamma = Identity(d) if gamma is None else gamma
    K = blocks(Identity(d), ZeroMatrix(k, k))
    Q = blocks(gamma, ZeroMatrix(k, k))
    V = blocks(ZeroMatrix(d, d), -Identity(k))
    P = blocks(eta * Identity(d), eta * Identity(k))
    return Construction(K, Q, V, P)


def eta_schedule(eta=None, schedule: Sequence[float] | None = None, layers: int | None = None) -> list:
    """Per-layer step sizes ``eta_l``: ``layers`` copies of ``eta``, or the given schedule.

    Raises PromptError when a step size is not a finite positive number or the
    schedule's length disagrees with ``layers``.
    """
    if schedule is not None:
        etas = list(schedule)
        if layers is not None and len(etas) != layers:
            raise PromptError(f"eta-schedule: has {len(etas)} step sizes but --layers is {layers}; give one per layer")
    else:
        if eta is None:
            raise PromptError("eta: no step size given; pass --eta E (or --eta-schedule)")
        etas = [eta] * (layers or 0)
        _check_eta(eta, "eta")
    for e in etas:
        _check_eta(e, "eta-schedule" if schedule is not None else "eta")
    return etas


def _check_eta(e, field: str) -> None:
    if isinstance(e, (int, float, np.floating, np.integer)) and not (np.isfinite(e) and e > 0):
        raise PromptError(f"{field}: step size must be a finite number > 0, got {e}")
