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

from .backend import is_number, matrices
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


def paper(eta, d, k: int = 1, gamma=None) -> Construction:
    """The paper's construction ``K = [[I_d, 0], [0, 0]]``, ``Q = [[Gamma, 0], [0, 0]]``,
    ``V = [[0, 0], [0, -I_k]]``, ``P = eta I_{d+k}`` (``Gamma = I_d`` unless given).

    One definition at every size, written against the matrix family of ``verify.backend.matrices``:
    a SymPy symbol ``d`` gives ``BlockMatrix`` expressions in ``d`` (blocks ``d x d``, ``d x k``,
    ``k x d``, ``k x k``; ``gamma`` then a ``d x d`` matrix expression or None), which the proofs
    run through ``verify.lsa`` at symbolic sizes; an int ``d`` with a SymPy ``eta`` or ``gamma``
    gives explicit SymPy matrices; an int ``d`` with numbers gives numpy arrays.  Substituting an
    int for ``d`` and calling ``.as_explicit()`` gives the explicit matrices; ``proofs/conformance.py``
    (E0) checks that the numeric instance is that substitution.
    """
    mats = matrices(d, eta, gamma)
    top_left = mats.eye(d) if gamma is None else mats.matrix(gamma, d)
    K = mats.diag(mats.eye(d), mats.zeros(k, k))
    Q = mats.diag(top_left, mats.zeros(k, k))
    V = mats.diag(mats.zeros(d, d), -mats.eye(k))
    P = mats.diag(mats.scale(eta, mats.eye(d)), mats.scale(eta, mats.eye(k)))
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
    if is_number(e) and not (np.isfinite(e) and e > 0):
        raise PromptError(f"{field}: step size must be a finite number > 0, got {e}")
