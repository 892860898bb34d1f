"""P10 (the family of constructions): status, wrong setups, and that each check can fail."""
from __future__ import annotations

import dataclasses

import sympy as sp
from sympy import Identity, MatrixSymbol

import proofs.p10 as p10
from proofs import registry
from proofs.registry import MUTATIONS, Setup, run
from proofs.symbolic import D
from verify.construction import Construction, paper


def leaky_v(eta, d, k=1, gamma=None):
    """V with a non-zero top-left block: the x part of every token moves (at every d, symbolic too)."""
    con = paper(eta, d, k, gamma)
    if isinstance(d, int):
        return Construction(con.K, con.Q, con.V + sp.diag(sp.eye(d), sp.zeros(k, k)), con.P)
    leak = sp.BlockMatrix([[Identity(d), sp.ZeroMatrix(d, k)], [sp.ZeroMatrix(k, d), sp.ZeroMatrix(k, k)]])
    return Construction(con.K, con.Q, con.V + leak, con.P)


def test_p10_is_proved_with_gamma_eta_I():
    entry = run(p10.THEOREM, Setup())
    assert entry["status"] == "proved", entry.get("detail")
    eta = "eta"
    assert entry["witness"]["gamma_d2"] == [[eta, "0"], ["0", eta]]
    assert "d = 1, 2, 3" in entry["scope"] and "symbolic d" in entry["scope"]


def test_gradient_ascent_and_scaled_p_fail():
    ascent = run(p10.THEOREM, MUTATIONS["flip-v"])
    assert ascent["status"] == "failed"
    assert ascent["witness"]["gamma_d1"] == [["-eta"]]
    scaled = run(p10.THEOREM, MUTATIONS["double-p"])
    assert scaled["status"] == "failed"
    assert scaled["witness"]["gamma_d1"] == [["2*eta"]]


def test_setup_that_moves_x_fails_without_a_gamma():
    entry = run(p10.THEOREM, Setup(construction=leaky_v))
    assert entry["status"] == "failed" and entry["witness"]["gamma_d1"] is None


def test_block_identities_can_fail(monkeypatch):
    setup = Setup()
    generic = p10.blocks()
    form = p10.blocks(zero=("F", "g", "b", "e"))
    assert p10.gd_identity(setup, form)
    # the transposed preconditioner -(s A^T + h c^T) and the sign-flipped one are both wrong
    assert not p10.gd_identity(setup, form, lambda B: -(B["s"] * B["A"].T + B["h"] * B["c"].T))
    assert not p10.gd_identity(setup, form, lambda B: B["s"] * B["A"] + B["h"] * B["c"].T)
    # (I2) needs F = g = 0; F1 is not GD with +s A
    assert not p10.example_identity(setup, generic)
    f1 = p10.blocks(zero=("F", "g", "b", "e", "h", "c"))
    assert not p10.family_update(setup, f1, f1["s"] * f1["A"])
    # (I1) with a score that forgets the b block
    monkeypatch.setattr(p10, "sigma", lambda B, x, r, w: x.T * B["A"] + r * B["c"].T - r * B["e"] * Identity(1) * w)
    assert not p10.query_identity(setup, generic)


def test_vanishes_is_not_vacuous():
    x, h = MatrixSymbol("x", D, 1), MatrixSymbol("h", D, 1)
    assert p10.vanishes(x.T * h - h.T * x)        # a 1 x 1 product equals its transpose
    assert not p10.vanishes(x.T * h + h.T * x)
    assert not p10.vanishes(x * h.T - h * x.T)    # outer products are not symmetric


def test_exhaustive_check_catches_a_wrong_characterization(monkeypatch):
    assert p10.exhaustive(1) == (True, "")
    # too narrow: forgets the form-only members (c or h non-zero with A, s)
    monkeypatch.setattr(p10, "characterized", lambda kq, pv: all(t == 0 for t in kq) or all(t == 0 for t in pv))
    ok, why = p10.exhaustive(1)
    assert not ok and "outside the family" in why


def test_characterized_examples():
    eta = sp.Symbol("eta")
    con = paper(eta, 2)
    assert p10.characterized(con.kq, con.pv)
    assert not p10.characterized(con.kq + sp.diag(0, 0, 1), con.pv)


def test_a_wrong_characterization_makes_the_theorem_fail(monkeypatch):
    """The characterization is the formula: a stated Gamma with the wrong sign is checked, and fails."""
    B = p10.blocks(zero=("F", "g", "b", "e"))
    wrong = [p10.FORMAL[0], sp.Eq(p10.GAMMA, B["s"] * B["A"] + B["h"] * B["c"].T), p10.FORMAL[2]]
    monkeypatch.setattr(p10, "THEOREM", dataclasses.replace(p10.THEOREM, formal=wrong))
    entry = run(next(t for t in registry.theorems() if t.id == "P10"), Setup())
    assert entry["status"] == "failed" and "(I3)" in entry["detail"]


def test_necessity_is_checked_at_d1_only():
    entry = run(p10.NECESSITY, Setup())
    assert entry["status"] == "checked" and "d = 1" in entry["scope"], entry
    assert run(p10.NECESSITY, MUTATIONS["do-nothing"])["status"] == "failed"
