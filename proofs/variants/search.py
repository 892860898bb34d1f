"""Counterexample search for the variant claims V2 and V5, and the exact re-checks of their witnesses
(V3 and V4: :mod:`.refute`).

The search is deterministic (a fixed list of small integer prompts, fixed fractions of
the stable bound), so the same variant always gets the same answer.  Floating point
only *proposes* (a step size, a layer, a vector); a witness is reported only after
:func:`check_v2` or :func:`check_v5` re-derive every number from the
witness itself in exact rational arithmetic, through the package's own layer.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import exact as ex
from . import stability as st
from .scaling import nearby

#: prompts per size (see :func:`sizes`), fractions of the stable bound and deepest layer the search tries
PER_SIZE = 12
FRACTIONS = (Fraction(1, 2), Fraction(9, 10), Fraction(3, 4), Fraction(1, 4), Fraction(99, 100))
MAX_LAYER = 60
#: a numeric norm must exceed 1 by this much before an exact check is attempted (a proposal only)
PROPOSAL_MARGIN = 1e-9


@dataclass
class Case:
    """One prompt of the search with its exact residual operator ``N`` (at ``eta = 1``)."""

    X: list
    y: list
    Xq: list
    N: list

    @property
    def charpoly(self) -> list:
        """``det(t I - N)``, computed once per prompt (every step size's stability test reuses it)."""
        if not hasattr(self, "_charpoly"):
            self._charpoly = ex.charpoly(self.N)
        return self._charpoly


def prompts(d: int, extra_sizes=()):
    """The deterministic prompt list: hand-picked shifted inputs first, then seeded small integers."""
    F = Fraction
    picked = []
    if d == 1:
        picked = [([[1], [3]], [1, 1], [[1]]), ([[2], [1]], [1, 2], [[1]]), ([[1], [2], [3]], [1, 0, 2], [[1]])]
    elif d >= 2:
        base = [[1, 2], [2, 1], [3, 1]]
        picked = [([row + [1] * (d - 2) for row in base[:2]], [1, 2], [[1] * d]),
                  ([row + [1] * (d - 2) for row in base], [1, 0, 2], [[1] + [0] * (d - 1)])]
    for X0, y0, Xq0 in picked:
        yield [[F(a) for a in r] for r in X0], [F(v) for v in y0], [[F(a) for a in r] for r in Xq0]
    rng = random.Random(20230806 + d)
    for n in sizes(d) + [n for n in extra_sizes if n not in sizes(d)]:
        for t in range(PER_SIZE if d <= 2 else PER_SIZE // 3):
            shift = (0, 2, 1)[t % 3]
            X = [[F(rng.randint(-2, 2) + shift) for _ in range(d)] for _ in range(n)]
            y = [F(rng.randint(-2, 2)) for _ in range(n)]
            Xq = [[F(rng.randint(-2, 2) or 1) for _ in range(d)] for _ in range(2)]
            if all(any(a != 0 for a in row) for row in X):  # claims are about nonzero examples
                yield X, y, Xq


def sizes(d: int) -> list:
    """The example counts tried at dimension ``d``: ``1..d + 2`` for ``d <= 2``; from ``d >= 3`` on
    (only reached when smaller ``d`` gave nothing) ``d + 1``, ``d + 2``, ``d``: a full block of ``d``
    examples followed by others is what the smaller dimensions could not realize."""
    return list(range(1, d + 3)) if d <= 2 else [d + 1, d + 2, d]


#: residual operators already derived from the layer, keyed by the model's ``key`` and the prompt
_OPERATORS: dict = {}


def operator(mod_for, X) -> list:
    """``N``, remembered per model and prompt (V2 and V5 share prompts): from the general lemma's formula
    ``N_ji = [i in A(j)] x_i^T Gamma_0 x_j / c_j`` (exact, python-flint) when the model carries P10's
    ``Gamma_0``, else :func:`exact.residual_operator` through the layer.  Only a proposal either way:
    every witness is re-checked through the layer (:func:`check_v2`, :func:`check_v5`)."""
    key = getattr(mod_for, "key", None)
    if key is None:
        return ex.residual_operator(mod_for(len(X), 1), X)
    full = (key, tuple(map(tuple, X)))
    if full not in _OPERATORS:
        if len(_OPERATORS) > 20000:
            _OPERATORS.clear()
        gamma0 = getattr(mod_for, "gamma0", None)
        _OPERATORS[full] = (ex.residual_operator(mod_for(len(X), 1), X) if gamma0 is None
                            else _lemma_operator(mod_for(len(X), 1), X, gamma0))
    return _OPERATORS[full]


def _lemma_operator(mod: ex.Model, X, gamma0) -> list:
    n = len(X)
    Xm = st.fmat(X)
    gram = st.to_fractions(Xm * st.fmat([[ex.frac(a) for a in row] for row in gamma0.tolist()]) * Xm.transpose())
    zero = Fraction(0)
    return [[gram[i][j] / mod.c[j] if mod.mask[i, j] else zero for i in range(n)] for j in range(n)]


def cases(mod_for, d: int, limit: int | None = None, extra_sizes=()):
    """``Case`` objects for :func:`prompts` (``mod_for(n, m)`` builds the exact model)."""
    for count, (X, y, Xq) in enumerate(prompts(d, extra_sizes)):
        if limit is not None and count >= limit:
            return
        yield Case(X, y, Xq, operator(mod_for, X))


def read_out(mod_for, X) -> list:
    """The query read-out ``R`` (``d`` rows, ``n`` columns) through the layer: column ``i`` is ``c_q`` times
    the prediction change of queries ``e_1..e_d`` when example ``i`` carries residual 1 (``eta = 1``)."""
    n, d = len(X), len(X[0])
    mod = mod_for(n, d)
    E = [[Fraction(int(a == b)) for b in range(d)] for a in range(d)]
    cols = [ex.query_increment(mod, X, [Fraction(int(a == i)) for a in range(n)], E) for i in range(n)]
    return [[cols[i][k] * mod.c[n + k] for i in range(n)] for k in range(d)]


def exact_operator(mod_for, X, N: list) -> st.Operator:
    """``N`` with its read-out, needed only when ``N`` is singular (otherwise (c) holds trivially): from the
    lemma's formula ``R[k][i] = [i in A(q)] (x_i^T Gamma_0)_k`` when the model carries ``Gamma_0`` (a
    proposal; :func:`check_v5` re-derives it through the layer), else through the layer."""
    if not N or st.fmat(N).det() != 0:
        return st.Operator(N, [])
    gamma0 = getattr(mod_for, "gamma0", None)
    if gamma0 is None:
        return st.Operator(N, read_out(mod_for, X))
    mask, n = mod_for(len(X), 1).mask, len(X)
    xg = st.to_fractions(st.fmat(X) * st.fmat([[ex.frac(a) for a in row] for row in gamma0.tolist()]))
    return st.Operator(N, [[xg[i][k] if mask[i, n] else Fraction(0) for i in range(n)] for k in range(len(X[0]))])


def stable_etas(op: st.Operator):
    """Rational step sizes at fixed fractions of the numeric bound that are stable exactly (docs/SPEC.md
    section 7: (a), (b) and (c), :func:`proofs.variants.stability.decide`)."""
    from .refute import numeric_bound

    if not op.structural.stable:
        return
    bound = numeric_bound(op)
    if not (0 < bound < np.inf):
        return
    seen = set()
    for f in FRACTIONS:
        eta = nearby(Fraction(bound) * f, 1000)
        if eta > 0 and eta not in seen and st.decide(op, eta).stable:
            seen.add(eta)
            yield eta


# ----------------------------------------------------------------------------- V2


def find_v2(mod_for, d: int, extra_sizes=()):
    """A prompt whose stationary query predictions differ from the minimum-norm least squares."""
    tried = 0
    for case in cases(mod_for, d, extra_sizes=extra_sizes):
        tried += 1
        if case.charpoly[-1] == 0 or not ex.right_half_plane(case.N, case.charpoly):
            continue  # det(N) = +-p_N(0): singular; or some eigenvalue with Re <= 0
        eta = next(stable_etas(st.Operator(case.N, [])), None)
        if eta is None:
            continue
        witness = v2_witness(mod_for, case, eta)
        if witness is not None and check_v2(mod_for, witness):
            return witness, tried
    return None, tried


def stationary_predictions(mod_for, X, y, Xq, N) -> list | None:
    """``lim_L`` of the query predictions: the layer's query increment with ``s = N^{-1} y``
    (``sum_l eta r^(l) = (eta N)^{-1} eta y`` when ``I - eta N`` is stable)."""
    s = ex.solve(N, y)
    return None if s is None else ex.query_increment(mod_for(len(X), len(Xq)), X, s, Xq)


def v2_witness(mod_for, case: Case, eta: Fraction) -> dict | None:
    stationary = stationary_predictions(mod_for, case.X, case.y, case.Xq, case.N)
    ls = ex.least_squares_predictions(case.X, case.y, case.Xq)
    if stationary is None or stationary == ls:
        return None
    return {"X": ex.texts(case.X), "y": ex.texts(case.y), "Xq": ex.texts(case.Xq), "eta": ex.text(eta),
            "stationary_predictions": ex.texts(stationary), "least_squares_predictions": ex.texts(ls)}


def check_v2(mod_for, w: dict) -> bool:
    """Exact re-check: ``eta`` stable, predictions recomputed through the layer, and they differ."""
    X, y, Xq = [[ex.parse(a) for a in r] for r in w["X"]], [ex.parse(v) for v in w["y"]], \
        [[ex.parse(a) for a in r] for r in w["Xq"]]
    N = ex.residual_operator(mod_for(len(X), len(Xq)), X)
    if not ex.schur_stable(ex.iteration(N, ex.parse(w["eta"]))):
        return False
    stationary = stationary_predictions(mod_for, X, y, Xq, N)
    ls = ex.least_squares_predictions(X, y, Xq)
    return (stationary is not None and stationary != ls
            and [ex.parse(v) for v in w["stationary_predictions"]] == stationary
            and [ex.parse(v) for v in w["least_squares_predictions"]] == ls)


# ----------------------------------------------------------------------------- V4


def prefix_stable(NP: list, eta: Fraction) -> bool:
    """``eta`` is stable for prefix attention: every non-zero eigenvalue ``l`` of ``N_P`` has
    ``|1 - eta l| < 1``.  ``N_P`` symmetric (PSD): iff ``(2/eta) I - N_P`` is positive definite
    (Sylvester); otherwise the stronger ``rho(I - eta N_P) < 1`` is required."""
    if eta <= 0:
        return False
    if ex.is_symmetric(NP):
        return ex.positive_definite(ex.sub(ex.scale(ex.identity(len(NP)), 2 / eta), NP))
    return ex.schur_stable(ex.iteration(NP, eta))


# ----------------------------------------------------------------------------- V5


def find_v5(mod_for, d: int, extra_sizes=()):
    """A stable ``eta``, a layer ``l`` and a vector ``v`` with ``||B^l v||^2 > ||v||^2``."""
    tried = 0
    for case in cases(mod_for, d, extra_sizes=extra_sizes):
        tried += 1
        for eta in stable_etas(exact_operator(mod_for, case.X, case.N)):
            witness = v5_witness(case, eta)
            if witness is not None and check_v5(mod_for, witness):
                return witness, tried
    return None, tried


def v5_witness(case: Case, eta: Fraction) -> dict | None:
    B = ex.to_float(ex.iteration(case.N, eta))
    power = np.eye(len(B))
    top, layer, v = 1 + PROPOSAL_MARGIN, 0, np.zeros(len(B))
    for power_of in range(1, MAX_LAYER + 1):
        power = power @ B
        _, sv, vt = np.linalg.svd(power)
        if sv[0] > top:
            top, layer, v = float(sv[0]), power_of, vt[0]
    if layer == 0:
        return None
    v = v / np.max(np.abs(v))
    Bl = ex.power(ex.iteration(case.N, eta), layer)
    for denominator in (1, 10, 1000):  # the simplest rational direction that still grows
        vector = [Fraction(float(a)).limit_denominator(denominator) for a in v]
        image = ex.matvec(Bl, vector)
        if ex.sq(image) > ex.sq(vector):
            break
    else:
        return None
    return {"X": ex.texts(case.X), "eta": ex.text(eta), "layer": layer, "vector": ex.texts(vector),
            "squared_norms": {"v": ex.text(ex.sq(vector)), "B^l v": ex.text(ex.sq(image))},
            "operator": ex.texts(case.N)}


def check_v5(mod_for, w: dict) -> bool:
    """Exact re-check: ``eta`` stable (docs/SPEC.md section 7) and ``||B^l v||^2 > ||v||^2`` for the witness."""
    X = [[ex.parse(a) for a in r] for r in w["X"]]
    eta, layer, v = ex.parse(w["eta"]), int(w["layer"]), [ex.parse(a) for a in w["vector"]]
    N = ex.residual_operator(mod_for(len(X), 1), X)
    B = ex.iteration(N, eta)
    if not st.decide(st.Operator(N, read_out(mod_for, X)), eta).stable or ex.texts(N) != w["operator"]:
        return False
    return ex.sq(ex.matvec(ex.power(B, layer), v)) > ex.sq(v)
