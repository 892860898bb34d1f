"""Theorem P11 (finite-depth transient growth): its status is computed, its witness is
exact and re-checked here independently, and wrong setups or wrong formulas make it fail."""
from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

import proofs.p11 as p11
from proofs.registry import MUTATIONS, Setup, run
from verify.construction import Construction, paper

PARTS = (p11.part_a, p11.part_b, p11.part_c, p11.part_d)


def _scale_p(eta, d, k=1, gamma=None):
    con = paper(eta, d, k, gamma)
    return Construction(con.K, con.Q, con.V, con.P * 3 / 2)  # exact for SymPy, 1.5 for numpy


WRONG_SETUPS = {**MUTATIONS, "scale-p-3/2": Setup(construction=_scale_p)}


@pytest.fixture(scope="module")
def entry():
    return run(p11.THEOREM, Setup())


def test_p11_is_conditional_on_named_results(entry):
    assert entry["status"] == "conditional", entry.get("detail")
    assert entry["id"] == "P11"
    assert entry["depends_on"] == [p11.LEMMA_ID, "P4", "P5"]
    assert entry["assumes"] == ["spectral-theorem", "submultiplicativity", "nonnegative-norm-monotone"]
    for part in ("(a)", "(b)", "(c)", "(d)"):
        assert part in entry["detail"]


def test_witness_is_exact_and_independently_rechecked(entry):
    """Rebuild the iteration from SPEC section 6 with Fractions from the witness strings and redo ``B^l e``."""
    w = entry["witness"]
    x = [Fraction(row[0]) for row in w["X"]]  # d = 1
    e = [Fraction(v) for v in w["e"]]
    eta, c = Fraction(w["eta"]), Fraction(w["c"])
    n = len(x)
    assert len(e) == n and any(e)
    top = 2 * c / max(v * v for v in x)  # the causal stable bound 2c / max ||x_j||^2 (SPEC P5)
    assert 0 < eta < top and Fraction(w["stable_eta_max"]) == top
    assert Fraction(w["rate"]) == max(abs(1 - eta * v * v / c) for v in x) < 1
    r = list(e)
    for _ in range(w["layer"]):
        # r_j <- r_j - (eta/c) sum_{i <= j} r_i x_i x_j   (causal A(j) = {1..j})
        r = [r[j] - eta / c * sum(r[i] * x[i] * x[j] for i in range(j + 1)) for j in range(n)]
    growth_squared = sum(v * v for v in r) / sum(v * v for v in e)
    assert growth_squared == Fraction(w["growth_squared"])
    assert growth_squared >= Fraction(10) ** 12
    assert w["below_1_again_by_layer"] is not None and w["below_1_again_by_layer"] > w["layer"]


@pytest.mark.parametrize("name", sorted(WRONG_SETUPS))
def test_wrong_setup_fails(name):
    setup = WRONG_SETUPS[name]
    assert run(p11.THEOREM, setup)["status"] == "failed"


@pytest.mark.parametrize("part", PARTS, ids=lambda f: f.__name__)
def test_every_part_reads_the_setup(part):
    """Each part on its own fails when V has the wrong sign (it reads B off the layer)."""
    assert part(Setup())[0] is True
    assert part(WRONG_SETUPS["flip-v"])[0] is False


def test_wrong_closed_form_fails(monkeypatch):
    def wrong_geometric_sum(l, p, q):
        return sp.Piecewise((l * p ** (l - 1), sp.Eq(p, q)), ((p ** l - q ** l) / (p + q), True))

    monkeypatch.setattr(p11, "geometric_sum", wrong_geometric_sum)
    assert p11.part_b(Setup())[0] is False


def test_wrong_coupling_sign_fails(monkeypatch):
    original = p11.n2_entries

    def wrong_entries(x1, x2, eta, c1=1, c2=None):
        p, q, s = original(x1, x2, eta, c1, c2)
        return p, q, -s

    monkeypatch.setattr(p11, "n2_entries", wrong_entries)
    assert p11.part_b(Setup())[0] is False


def test_wrong_bound_fails(monkeypatch):
    def asymptotic_only(X, eta, c=1.0, layers=100):  # rho^l: the rate of SPEC P5, not a bound at finite depth
        from verify.transient import causal_parts

        return max(causal_parts(X, eta, c)[0] ** l for l in range(layers + 1))

    monkeypatch.setattr(p11, "causal_peak_bound", asymptotic_only)
    assert p11.part_c(Setup())[0] is False


@pytest.mark.parametrize("eta, why", [(Fraction(2), "edge of the stable range"),
                                      (Fraction(1, 10), "too small to grow")])
def test_witness_must_be_stable_and_grow(monkeypatch, eta, why):
    monkeypatch.setattr(p11, "WITNESS", {**p11.WITNESS, "eta": eta})
    ok, detail, _ = p11.part_d(Setup())
    assert ok is False, why


def test_symbolic_building_blocks_can_fail():
    assert p11.triangular_power_block() and p11.causal_pair_step(Setup())
    assert not p11.causal_pair_step(Setup(construction=_scale_p))
    assert not p11.triangular_power_block(lower=False)  # not triangular: the pair's block of B^l is not B_22^l
