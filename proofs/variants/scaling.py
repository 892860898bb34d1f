"""The constant normalizer ``c`` only rescales the step size (docs/SPEC.md section 7): searches run at ``c = 1``.

With ``c_j = c`` for every token the residual operator is ``N(c) = N(1) / c``, while the query read-out
``R`` (``R[k][i] = [i in A(q)] (x_i^T Gamma_0)_k``) and the stationary predictions do not depend on ``c``.
So ``I - eta N(c) = I - (eta / c) N(1)``: ``eta`` is stable at ``c`` exactly when ``eta / c`` is stable at
``1``, every layer's residuals and predictions agree, and each claim V2-V5 holds at ``c`` iff it holds at
``1``.  The counterexample searches therefore propose in the frame ``c = 1`` (where their floating point
and their fixed rational grids see numbers of size about 1, whatever ``c`` is), and a witness found there
is mapped exactly (:func:`to_scale`: ``eta -> c eta``, ``N -> N / c``, eigenvalues ``l -> l / c``) and then
re-checked at the requested ``c`` by the claim's own exact checker.  A witness whose re-check at ``c``
fails is never reported as a refutation (the claim is ``failed``, with one line saying so).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from . import exact as ex

#: witness fields that ``c`` leaves unchanged (data, labels, layer counts, vectors, norms, predictions,
#: ``R v``); every other field is mapped by :func:`to_scale` or refused there
INVARIANT = frozenset({"X", "y", "Xq", "stationary_predictions", "least_squares_predictions", "layer", "vector",
                       "squared_norms", "reason", "blocks", "prefix_stable", "null_vector"})


def nearby(x, denominator: int) -> Fraction:
    """A simple rational near ``x`` relative to its size: ``2^e (x / 2^e).limit_denominator(denominator)`` with
    ``2^e <= |x| < 2^(e+1)``, so ``nearby(2^k x) = 2^k nearby(x)`` (an absolute ``limit_denominator`` rounds a
    step size of ``1e-90`` to 0 and ignores every digit of ``1e90``'s)."""
    power = Fraction(2) ** (math.frexp(float(x))[1] - 1)
    return (Fraction(x) / power).limit_denominator(denominator) * power


def _over(values, c: Fraction):
    return ex.texts([[ex.parse(a) / c for a in row] for row in values] if values and isinstance(values[0], list)
                    else [ex.parse(a) / c for a in values])


def to_scale(witness: dict, c: Fraction) -> dict:
    """A witness found at ``c = 1`` as the witness at ``c`` (exact rationals, so nothing over- or underflows).

    ``eta -> c eta``; ``operator``, ``prefix_operator`` (``N``, ``N_P``) and ``N v`` of a Jordan chain
    ``-> / c``; an eigenvalue's minimal polynomial ``t^k + a_1 t^(k-1) + ... + a_k`` (roots ``l``) ``->``
    ``t^k + (a_1 / c) t^(k-1) + ... + a_k / c^k`` (roots ``l / c``), its ``value``, isolating ``interval``
    and isolating ``box`` (``[[re_lo, re_hi], [im_lo, im_hi]]``; ``c > 0`` keeps the order) ``-> / c``.
    Raises ValueError for a field whose dependence on ``c`` is not known here.
    """
    c = Fraction(c)
    out: dict = {}
    for key, value in witness.items():
        if key == "eta":
            out[key] = ex.text(ex.parse(value) * c)
        elif key in ("operator", "prefix_operator"):
            out[key] = _over(value, c)
        elif key == "eigenvalue":
            e = dict(value)
            coefficients = value["minimal_polynomial"]
            e["minimal_polynomial"] = ex.texts([ex.parse(a) / c ** j for j, a in enumerate(coefficients)])
            for field in ("value", "interval", "box"):
                if field in value:
                    e[field] = ex.text(ex.parse(value[field]) / c) if field == "value" else _over(value[field], c)
            out[key] = e
        elif key == "jordan_chain":
            out[key] = {**value, "N_vector": _over(value["N_vector"], c)}
        elif key in INVARIANT:
            out[key] = value
        else:
            raise ValueError(f"witness field {key!r}: how it depends on the normalizer c is not known")
    return out


def search(ctx, find: Callable, recheck: Callable) -> tuple:
    """Run ``find(unit)`` in the frame ``c = 1`` and map its witness to ``ctx``'s ``c``.

    ``unit`` is ``ctx`` at ``c = 1`` (``ctx`` itself for ``c = 1`` or the count normalizer, where the search's
    own re-check already ran at the requested normalizer).  ``find`` returns ``(witness or None, what was
    searched)``; ``recheck(ctx, witness)`` is the claim's exact checker.  Returns ``(witness, searched,
    rechecked, note)``: the mapped witness, True when it re-checked at ``c``, and a note for the scope
    (empty at ``c = 1``).
    """
    unit = ctx.at_unit_scale()
    witness, searched = find(unit)
    if unit is ctx:
        return witness, searched, True, ""
    c = ex.text(ctx.scale)
    if witness is None:
        return None, searched, True, f"searched at c = 1: N scales as 1/c and stable step sizes as c, so the " \
                                     f"same search covers c = {c}"
    try:
        mapped = to_scale(witness, ctx.scale)
        ok = bool(recheck(ctx, mapped))
    except (ValueError, ArithmeticError) as exc:
        return witness, searched, False, (f"the witness found at c = 1 (shown) could not be mapped to c = {c}: "
                                          f"{exc}")
    if not ok:
        return mapped, searched, False, (f"the witness found at c = 1, mapped to c = {c} (eta -> c eta, N -> N/c), "
                                         "failed its exact re-check at c: the model is not invariant in c")
    return mapped, searched, True, (f"found at c = 1 and mapped exactly to c = {c} (eta -> c eta, N -> N/c); "
                                    "re-checked at c")
