"""A rescaled frame with exact powers of two, so every result is covariant under scaling (issue 16).

The mathematics is covariant: ``x -> 2^a x``, ``y -> 2^b y`` scales the weights by
``2^(b-a)``, the eigenvalues of ``N = D^{-1} M`` by ``2^(2a)`` (step sizes by
``2^(-2a)``) and predictions by ``2^b``.  Floating point is not: ``x_i^T x_j``
overflows for ``|x| ~ 1e160`` and underflows for ``|x| ~ 1e-170``.  So the
numerics run on ``X_f = 2^(-e_x) X`` with ``e_x`` the binary exponent of
``max |X|`` (``numpy.frexp``: ``max |X_f|`` in ``[1/2, 1)``), and likewise for
``y``, ``Gamma`` and a constant normalizer ``c``.  Multiplying by a power of two
is exact (``numpy.ldexp``), so a prompt and its rescaling have bit-identical
frames and bit-identical answers after mapping back, unless a mapped-back value
leaves the normal float range: then :func:`unscale` refuses it in one line
rather than return an overflowed or flushed-to-zero number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PromptError

TINY = float(np.finfo(float).tiny)
#: what to change when a mapped-back result leaves the float range: every factor of the frame, --scale included
FIX = "bring X, y, the preconditioner or --scale closer to 1"


def exponent(a) -> int:
    """Binary exponent ``e`` with ``max |a| = f 2^e``, ``f`` in ``[1/2, 1)``; 0 for an all-zero or empty array."""
    a = np.asarray(a, dtype=float)
    top = float(np.max(np.abs(a))) if a.size else 0.0
    return int(np.frexp(top)[1]) if top > 0 else 0


@dataclass(frozen=True)
class Frame:
    """Exponents of the data: ``X = 2^x X_f``, ``Y = 2^y Y_f``, ``Gamma = 2^gamma Gamma_f``, ``c = 2^c c_f``."""

    x: int = 0
    y: int = 0
    gamma: int = 0
    c: int = 0

    @property
    def lam(self) -> int:
        """Eigenvalues of ``N = D^{-1} X Gamma X^T`` scale by ``2^lam``; step sizes by ``2^(-lam)``."""
        return 2 * self.x + self.gamma - self.c

    @property
    def weight(self) -> int:
        """Weights ``W`` (``prediction = W x``) scale by ``2^(y - x)``."""
        return self.y - self.x


def frame_of(X, Y, c, gamma=None, constant: bool | None = None) -> Frame:
    """The frame of a prompt: exponents of ``max |X|``, ``max |Y|``, ``max |Gamma|`` and of ``c``.

    ``c`` is rescaled only when it is constant (the ``--scale`` of a constant
    normalizer, which may be as extreme as the data); counts stay as they are.
    """
    c = np.asarray(c, dtype=float)
    if constant is None:
        constant = bool(c.size and np.all(c == c.flat[0]))
    return Frame(exponent(X), exponent(Y), 0 if gamma is None else exponent(gamma),
                 exponent(c) if constant and c.size else 0)


def scaled(a, e: int):
    """``2^(-e) a``, exact (None stays None)."""
    return None if a is None else np.ldexp(np.asarray(a, dtype=float), -e)


def to_frame(frame: Frame, X, Y, c, gamma=None, W0=None, Xq=None):
    """``(X_f, Y_f, c_f, Gamma_f, W0_f, Xq_f)``: the prompt in its frame (``W0`` scales like a weight)."""
    return (scaled(X, frame.x), scaled(Y, frame.y), scaled(c, frame.c), scaled(gamma, frame.gamma),
            scaled(W0, frame.weight), scaled(Xq, frame.x))


def unscale(value, e: int, field: str, allow_inf: bool = False, overflow_is_inf: bool = False):
    """``2^e value``, refused when a finite nonzero value leaves the normal float range.

    Raises PromptError naming ``field`` when the mapped-back value overflows, or when
    the whole (nonzero) output underflows below the normal range (it would lose its
    accuracy relative to its own scale);
    ``allow_inf`` keeps values that were already infinite or NaN (a diverging stack), and
    ``overflow_is_inf`` lets values that overflow become infinite (an unstable stack's result).
    """
    a = np.asarray(value, dtype=float)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(a, e)
    finite = np.isfinite(a)
    if np.any(finite & ~np.isfinite(out)) and not overflow_is_inf:
        raise PromptError(f"{field}: the result overflows a float at this scale of the prompt (about 2^{e} times "
                          "its rescaled value); {FIX}")
    # underflow is judged on the array as a whole: entries far below its largest one may be subnormal
    # without losing accuracy relative to the output's scale, but an output all below the normal range cannot
    top = float(np.max(np.abs(out[finite]), initial=0.0))
    if np.any(finite & (a != 0)) and top < TINY:
        raise PromptError(f"{field}: the result underflows a float at this scale of the prompt (about 2^{e} times "
                          "its rescaled value); {FIX}")
    if not allow_inf and not np.all(finite):
        raise PromptError(f"{field}: the result is not a finite number; {FIX}")
    return float(out) if np.ndim(value) == 0 else out


def scale_eta(eta: float, frame: Frame) -> float:
    """A user's step size in the frame: ``eta_f = 2^lam eta`` (inf when it overflows: no step that large is stable)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(float(eta), frame.lam))
