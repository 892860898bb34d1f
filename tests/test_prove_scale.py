"""``prove --scale c``: the variant claims' statuses do not depend on the constant normalizer c.

With ``c_j = c``, ``N(c) = N(1) / c`` and ``I - eta N(c) = I - (eta / c) N(1)`` (docs/SPEC.md section 7), so a
claim is refuted at ``c`` iff at 1.  The searches propose at ``c = 1`` and map their witness exactly
(``proofs.variants.scaling``).  Here: the statuses at 1e-90, 2^-200, 1e90 (and 10^-400 past the float range)
equal those at 1; every witness reported at ``c`` is re-verified at ``c`` with an oracle written here from
SPEC (``N_ji = [j reads i] x_i^T x_j / c``), and is the ``c = 1`` witness with ``eta`` times ``c``.  Mutation
checks: a search run at the requested ``c`` (the old behaviour) and a map that forgets to rescale are caught.
"""
from __future__ import annotations

import math
from fractions import Fraction as F
from functools import cache

import pytest
import sympy as sp
from helpers import run_json
from hypothesis import find as find_example
from hypothesis import given
from hypothesis import strategies as st
from test_variants import positive_definite, spec7_stable, unstable_evidence

from proofs.variants import _attention, _construction, claims, run_claims, scaling
from verify.rule import parse_rule

#: the variants and the rule as SPEC reads them (``reads(j, i, n)``: example j reads i; queries read ``query(i, n)``)
VARIANTS = {
    "causal": (lambda j, i, n: i <= j, lambda i, n: True),
    "sliding:3": (lambda j, i, n: j - 3 < i <= j, lambda i, n: i >= n - 3),
    # V3 and V4 refuted by the exact searches of proofs.variants.refute (a visible null vector)
    "kv_idx // 4 == q_idx // 4 or (kv_idx < q_idx and kv_idx % 4 == 0)":
        (lambda j, i, n: i // 4 == j // 4 or (i < j and i % 4 == 0), lambda i, n: True),
    # V4 refuted with an eigenvalue witness (minimal polynomial, isolating interval)
    "q_idx - kv_idx <= 1 and kv_idx - q_idx <= 1": (lambda j, i, n: abs(i - j) <= 1, lambda i, n: True),
}
SCALES = {"1e-90": F(1, 10**90), "2^-200": F(1, 2**200), "1e90": F(10**90)}
#: every scale for causal and sliding:3; the rules (V3/V4 witnesses of each kind) at one scale each
CASES = [(spec, name) for spec in ("causal", "sliding:3") for name in SCALES] + [
    (spec, "1e-90") for spec in list(VARIANTS)[2:]]


def attention(spec: str):
    return _attention(spec if spec in ("causal",) or spec.startswith("sliding") else parse_rule(spec))


@cache
def claims_at(spec: str, scale: F) -> tuple:
    """V1-V5 at ``c = scale`` (V1's lemma status stubbed: it does not involve c, and the lemma runs elsewhere)."""
    return tuple(run_claims(attention(spec), "constant", scale, _construction(None), lemma_status=lambda: "proved"))


def statuses(entries) -> list:
    return [c["status"] for c in entries]


# ----------------------------------------------------------------------------- the oracle (SPEC, at c)


def oracle_N(spec: str, X, c: F):
    reads = VARIANTS[spec][0]
    n = len(X)
    return [[sum((a * b for a, b in zip(X[i], X[j], strict=False)), F(0)) / c if reads(j, i, n) else F(0)
             for i in range(n)] for j in range(n)]


def query_read(spec: str, X, v):
    query, n = VARIANTS[spec][1], len(X)
    return [sum((v[i] * X[i][k] for i in range(n) if query(i, n)), F(0)) for k in range(len(X[0]))]


def witness_holds(spec: str, cid: str, w: dict, c: F) -> bool:
    """The witness of ``cid``, re-derived at ``c`` from its own numbers by the oracle."""
    X, eta = [[F(a) for a in r] for r in w["X"]], F(w["eta"])
    N, n = oracle_N(spec, X, c), len(X)
    R = [[X[i][k] if VARIANTS[spec][1](i, n) else F(0) for i in range(n)] for k in range(len(X[0]))]
    if cid == "V5":
        v = [F(a) for a in w["vector"]]
        image = v
        for _ in range(int(w["layer"])):
            image = [a - eta * b for a, b in zip(image, [sum(x * y for x, y in zip(row, image, strict=False))
                                                           for row in N], strict=False)]
        return spec7_stable(N, eta, R) and sum(a * a for a in image) > sum(a * a for a in v)
    if cid == "V2":
        y = [F(a) for a in w["y"]]
        s = sp.Matrix(N).solve(sp.Matrix(y))  # sum_l eta r^(l) at a stable eta
        Xq = [[F(a) for a in r] for r in w["Xq"]]
        stationary = [sum((F(str(s[i])) * sum(a * b for a, b in zip(X[i], xq, strict=False))
                           for i in range(n) if VARIANTS[spec][1](i, n)), F(0)) / c for xq in Xq]
        return spec7_stable(N, eta, R) and [F(a) for a in w["stationary_predictions"]] == stationary
    NP = oracle_N_prefix(X, c)
    prefix_ok = not w.get("prefix_stable") or positive_definite(
        [[F(int(a == b)) * 2 / eta - NP[a][b] for b in range(n)] for a in range(n)])
    return prefix_ok and unstable_evidence(N, eta, w, lambda v: query_read(spec, X, v))


def oracle_N_prefix(X, c: F):
    return [[sum((a * b for a, b in zip(xi, xj, strict=False)), F(0)) / c for xi in X] for xj in X]


# ----------------------------------------------------------------------------- the property


@pytest.mark.parametrize("spec, name", CASES)
def test_statuses_at_scale_equal_those_at_one_and_witnesses_recheck_at_scale(spec, name):
    scale = SCALES[name]
    unit, scaled = claims_at(spec, F(1)), claims_at(spec, scale)
    assert statuses(scaled) == statuses(unit)
    assert any(c["status"] == "refuted" for c in unit)  # the property has something to keep
    for one, at_c in zip(unit, scaled, strict=True):
        if "witness" not in one or one["id"] == "V1":
            continue
        w = at_c["witness"]
        assert witness_holds(spec, at_c["id"], w, scale), (at_c["id"], w)
        assert F(w["eta"]) == F(one["witness"]["eta"]) * scale  # the c = 1 witness, eta mapped exactly


def test_past_the_float_range_statuses_stay_and_the_engine_note_says_where_it_ran():
    tiny = F(1, 10**400)
    scaled = claims_at("causal", tiny)
    assert statuses(scaled) == statuses(claims_at("causal", F(1)))
    v3 = next(c for c in scaled if c["id"] == "V3")
    assert "engine ran at c = 1" in v3["scope"]
    assert witness_holds("causal", "V5", next(c for c in scaled if c["id"] == "V5")["witness"], tiny)


def test_prove_cli_scale_keeps_the_statuses(capsys):
    default = run_json(capsys, "prove", "--attention", "causal", "--no-progress")
    tiny = run_json(capsys, "prove", "--attention", "causal", "--scale", "1e-90", "--no-progress")
    assert statuses(tiny["claims"]) == statuses(default["claims"])
    assert "refuted" in statuses(default["claims"])


# ----------------------------------------------------------------------------- the map


def test_to_scale_maps_eigenvalues_and_refuses_unknown_fields():
    c = F(3, 7)
    t = sp.Symbol("t")
    f = [F(1), F(-5), F(6)]  # roots 2 and 3
    w = {"eta": "1/2", "operator": [["2", "0"], ["1", "3"]],
         "eigenvalue": {"minimal_polynomial": [str(a) for a in f], "value": "3", "interval": ["5/2", "7/2"]}}
    mapped = scaling.to_scale(w, c)
    roots = sp.Poly([sp.Rational(a) for a in mapped["eigenvalue"]["minimal_polynomial"]], t).all_roots()
    assert sorted(roots) == sorted(sp.Rational(r) / sp.Rational(c.numerator, c.denominator) for r in (2, 3))
    assert F(mapped["eta"]) * F(mapped["eigenvalue"]["value"]) == F(1, 2) * 3  # eta l is invariant
    assert [F(a) for a in mapped["eigenvalue"]["interval"]] == [F(5, 2) / c, F(7, 2) / c]
    assert F(mapped["operator"][1][0]) == 1 / c
    with pytest.raises(ValueError, match="new_field"):
        scaling.to_scale({"new_field": "1"}, c)


#: a step size's size and a power of two that keeps it a normal float
SIZES = st.tuples(st.floats(1e-100, 1e100), st.integers(-300, 300))


def homogeneous(rounding, size) -> bool:
    """``rounding(2^k x) = 2^k rounding(x)``: the proposal scales with the bound (so with ``c``)."""
    x, k = size
    return rounding(math.ldexp(x, k), 1000) == rounding(x, 1000) * F(2) ** k


@given(SIZES)
def test_step_size_rounding_commutes_with_powers_of_two(size):
    assert homogeneous(scaling.nearby, size)


def test_mutation_absolute_rounding_is_not_homogeneous():
    find_example(SIZES, lambda size: not homogeneous(lambda x, den: F(x).limit_denominator(den), size))


# ----------------------------------------------------------------------------- mutation checks


def test_mutation_a_search_at_the_requested_scale_is_caught(monkeypatch):
    """The old behaviour (search at c itself, step sizes rounded on an absolute grid) weakens refuted to checked
    at 1e-90; searching at c itself with relative rounding still breaks past the float range (10^-400)."""
    from proofs.variants import refute, search

    def mutant(scale):
        try:
            return statuses(run_claims(attention("causal"), "constant", scale, _construction(None),
                                       lemma_status=lambda: "proved"))
        except OverflowError:  # the floats of N / c
            return None

    unit = statuses(claims_at("causal", F(1)))
    monkeypatch.setattr(claims.Context, "at_unit_scale", lambda self: self)
    assert mutant(F(1, 10**400)) != unit
    for module in (search, refute):
        monkeypatch.setattr(module, "nearby", lambda x, den: F(x).limit_denominator(den))
    assert mutant(F(1, 10**90)) != unit


def test_mutation_a_map_that_forgets_eta_is_caught_and_reported_failed(monkeypatch):
    """A witness mapped without rescaling eta (unstable at c = 1e-90) does not re-check at c: the claim is
    failed with one line saying so -- never refuted on a witness that does not hold, never silently checked."""
    real = scaling.to_scale
    monkeypatch.setattr(scaling, "to_scale", lambda w, c: {**real(w, c), "eta": w["eta"]})
    tiny = F(1, 10**90)
    mutant = run_claims(attention("causal"), "constant", tiny, _construction(None), lemma_status=lambda: "proved")
    unit = claims_at("causal", F(1))
    assert statuses(mutant) != statuses(unit)
    for one, bad in zip(unit, mutant, strict=True):
        if one["status"] == "refuted":
            assert not witness_holds("causal", bad["id"], bad["witness"], tiny)
            assert bad["status"] == "failed" and "failed its exact re-check" in bad["scope"]


# ----------------------------------------------------------------------------- the construction's own scale


def construction_statuses(g) -> list:
    """V2-V5 for causal with ``K^T Q = diag(g, 0)``, ``P V = diag(0, -eta)``: ``Gamma_0 = g``, so ``N`` scales as g."""
    kq, pv = sp.Matrix([[g, 0], [0, 0]]), sp.Matrix([[0, 0], [0, -sp.Symbol("eta", real=True)]])
    return statuses(run_claims(attention("causal"), "constant", F(1), _construction((kq, pv)),
                               lemma_status=lambda: "proved"))[1:]


def test_a_construction_scaled_by_1e90_keeps_the_statuses():
    """``Gamma_0 = 10^90`` acts like ``c = 10^-90``: the step-size proposals are rounded relative to the stable
    bound (``scaling.nearby``), not on an absolute grid that rounds ``eta ~ 1e-90`` to 0."""
    assert construction_statuses(sp.Integer(10)**90) == construction_statuses(sp.Integer(1))


def test_mutation_absolute_rounding_of_the_step_size_is_caught(monkeypatch):
    from proofs.variants import search

    monkeypatch.setattr(search, "nearby", lambda x, den: F(x).limit_denominator(den))
    assert construction_statuses(sp.Integer(10)**90) != construction_statuses(sp.Integer(1))
