"""Variant claims V1-V5 (``prove --attention/--rule``, ``proofs.variants``).

Every refutation's witness is re-verified here in exact arithmetic written independently
of the tool: the attention rules are re-read from SPEC sections 5 and 7 as Python
lambdas, ``D^{-1} M`` is formed from its definition (not from the layer the tool runs),
stability is shown by a power of ``I - eta N`` with infinity norm < 1, positive
definiteness by an LDL^T factorization, least squares by the normal equations.
"""
from __future__ import annotations

import json
from fractions import Fraction as F
from functools import cache

import numpy as np
import pytest
import sympy as sp
from helpers import engine_meets_spec7, run_cli, spec7_stable

import proofs.variants as variants
from proofs.variants import prove_variant, search
from proofs.variants.structure import BRUTE_N, Structure, custom, decide, named
from verify.rule import parse_rule

ETA = sp.Symbol("eta", real=True)

# ----------------------------------------------------------------------------- independent model

#: the attention rules as SPEC reads them (0-based examples): (example rule, query rule)
TRIANGULAR_RULE = "kv_idx <= q_idx and (q_idx - kv_idx) % 2 == 0"
INDEPENDENT = {
    "prefix": (lambda i, j, n: True, lambda i, n: True),
    "causal": (lambda i, j, n: i <= j, lambda i, n: True),
    "sliding:2": (lambda i, j, n: j - 2 < i <= j, lambda i, n: i >= n - 2),
    "sliding:3": (lambda i, j, n: j - 3 < i <= j, lambda i, n: i >= n - 3),
    "block:2": (lambda i, j, n: i // 2 <= j // 2, lambda i, n: True),
    "block:3": (lambda i, j, n: i // 3 <= j // 3, lambda i, n: True),
    "hybrid:2": (lambda i, j, n: i <= j or i < 2, lambda i, n: True),
    TRIANGULAR_RULE: (lambda i, j, n: i <= j and (j - i) % 2 == 0, lambda i, n: True),
    "q_idx - 1 <= kv_idx and kv_idx <= q_idx": (lambda i, j, n: j - 1 <= i <= j, lambda i, n: True),
}
PRECONDITIONED = (sp.Matrix([[2, 1, 0], [1, 1, 0], [0, 0, 0]]), sp.Matrix([[0, 0, 0], [0, 0, 0], [0, 0, -ETA]]))
GAMMAS = {None: None, "preconditioned": [[F(2), F(1)], [F(1), F(1)]]}


def fr(text) -> F:
    return F(text)


def gram(x, z, gamma):
    if gamma is None:
        return sum((a * b for a, b in zip(x, z, strict=False)), F(0))
    return sum((x[a] * gamma[a][b] * z[b] for a in range(len(x)) for b in range(len(z))), F(0))


def normalizers(spec, kind, n, scale=F(1)):
    rule, query = INDEPENDENT[spec]
    if kind == "constant":
        return [scale] * n, scale
    counts = [F(sum(bool(rule(i, j, n)) for i in range(n))) for j in range(n)]
    return counts, F(sum(bool(query(i, n)) for i in range(n)))


def operator(spec, kind, X, gamma=None, scale=F(1)):
    """``N = D^{-1} M``, ``M_ji = [j reads i] x_i^T Gamma x_j`` (SPEC section 6)."""
    n = len(X)
    rule = INDEPENDENT[spec][0]
    c, _ = normalizers(spec, kind, n, scale)
    return [[gram(X[i], X[j], gamma) / c[j] if rule(i, j, n) else F(0) for i in range(n)] for j in range(n)]


def matmul(A, B):
    return [[sum((A[r][k] * B[k][c] for k in range(len(B))), F(0)) for c in range(len(B[0]))] for r in range(len(A))]


def stable(N, eta, X=None, spec=None) -> bool:
    """docs/SPEC.md section 7 (:func:`helpers.spec7_stable`), with the queries of ``spec`` reading ``X``."""
    n = len(N)
    R = []
    if X is not None:
        query = INDEPENDENT[spec][1]
        R = [[X[i][k] if query(i, n) else F(0) for i in range(n)] for k in range(len(X[0]))]
    return spec7_stable(N, eta, R)


def det(A):
    A = [list(r) for r in A]
    n, out = len(A), F(1)
    for c in range(n):
        p = next((r for r in range(c, n) if A[r][c] != 0), None)
        if p is None:
            return F(0)
        if p != c:
            A[c], A[p] = A[p], A[c]
            out = -out
        out *= A[c][c]
        for r in range(c + 1, n):
            f = A[r][c] / A[c][c]
            A[r] = [a - f * b for a, b in zip(A[r], A[c], strict=False)]
    return out


def solve(A, b):
    n = len(A)
    M = [list(A[r]) + [b[r]] for r in range(n)]
    for c in range(n):
        p = next(r for r in range(c, n) if M[r][c] != 0)
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c:
                f = M[r][c] / M[c][c]
                M[r] = [a - f * e for a, e in zip(M[r], M[c], strict=False)]
    return [M[r][n] / M[r][r] for r in range(n)]


def positive_definite(A) -> bool:
    """LDL^T without pivoting: every pivot > 0."""
    A = [list(r) for r in A]
    for c in range(len(A)):
        if A[c][c] <= 0:
            return False
        for r in range(c + 1, len(A)):
            f = A[r][c] / A[c][c]
            A[r] = [a - f * e for a, e in zip(A[r], A[c], strict=False)]
    return True


def min_norm_least_squares(X, y, xq):
    """``y^T X^+ x_q``: normal equations for full column rank, ``X^T (X X^T)^{-1} y`` for full row rank."""
    n, d = len(X), len(X[0])
    XtX = [[sum((X[k][a] * X[k][b] for k in range(n)), F(0)) for b in range(d)] for a in range(d)]
    if det(XtX) != 0:
        w = solve(XtX, [sum((X[k][a] * y[k] for k in range(n)), F(0)) for a in range(d)])
    else:
        XXt = [[sum((X[a][k] * X[b][k] for k in range(d)), F(0)) for b in range(n)] for a in range(n)]
        assert det(XXt) != 0, "test helper covers full-rank X only"
        alpha = solve(XXt, y)
        w = [sum((alpha[k] * X[k][a] for k in range(n)), F(0)) for a in range(d)]
    return sum((a * b for a, b in zip(w, xq, strict=False)), F(0))


def verify_v2(spec, kind, w, gamma=None, scale=F(1)) -> bool:
    X, y, Xq = [[fr(a) for a in r] for r in w["X"]], [fr(v) for v in w["y"]], [[fr(a) for a in r] for r in w["Xq"]]
    n = len(X)
    N = operator(spec, kind, X, gamma, scale)
    if not stable(N, fr(w["eta"]), X, spec):
        return False
    s = solve(N, y)  # sum_l eta r^(l) = N^{-1} y at a stable eta
    _, cq = normalizers(spec, kind, n, scale)
    query = INDEPENDENT[spec][1]
    stationary = [sum((s[i] * gram(X[i], xq, gamma) for i in range(n) if query(i, n)), F(0)) / cq for xq in Xq]
    ls = [min_norm_least_squares(X, y, xq) for xq in Xq]
    return (stationary != ls and stationary == [fr(v) for v in w["stationary_predictions"]]
            and ls == [fr(v) for v in w["least_squares_predictions"]])


def matvec(A, v):
    return [sum((a * b for a, b in zip(row, v, strict=False)), F(0)) for row in A]


def charpoly_sympy(N):
    """``det(t I - N)`` with SymPy (an oracle independent of the package's python-flint path)."""
    t = sp.Symbol("t")
    return sp.Poly(sp.Matrix([[sp.Rational(a.numerator, a.denominator) for a in row] for row in N]).charpoly(t)
                   .as_expr(), t), t


def unstable_evidence(N, eta, w, query_reads) -> bool:
    """SPEC section 7, read directly: the witness shows (a), (b) or (c) failing at ``eta``.

    ``query_reads(v)``: the vector ``sum_{i in A(q)} v_i x_i`` (the test's own query rule)."""
    if "jordan_chain" in w:
        v = [fr(a) for a in w["jordan_chain"]["vector"]]
        Nv = matvec(N, v)
        return any(a != 0 for a in Nv) and all(a == 0 for a in matvec(N, Nv))
    if "null_vector" in w:
        v = [fr(a) for a in w["null_vector"]["vector"]]
        return all(a == 0 for a in matvec(N, v)) and any(a != 0 for a in query_reads(v))
    e = w["eigenvalue"]
    coeffs = [sp.Rational(str(fr(a))) for a in e["minimal_polynomial"]]
    pN, t = charpoly_sympy(N)
    f = sp.Poly(coeffs, t)
    if coeffs[-1] == 0 or pN.rem(f) != 0:
        return False
    if "value" in e:
        lam = fr(e["value"])
        return lam != 0 and abs(1 - eta * lam) >= 1
    if "interval" in e:
        lo, hi = (fr(a) for a in e["interval"])
        sign = lambda x: f.eval(sp.Rational(str(x)))  # noqa: E731
        return sign(lo) * sign(hi) < 0 and (hi < 0 or (lo > 0 and eta * lo >= 2))
    if "box" in e:
        return box_evidence(np.roots([float(c) for c in coeffs]), eta, e["box"])
    roots = np.roots([float(c) for c in coeffs])  # numeric, with a margin: the polynomial must clearly fail
    return bool(np.any(np.abs(1 - float(eta) * roots) >= 1 + 1e-9))


def misses_disc(eta, box) -> bool:
    """No point of the rectangle (Fractions) is in ``|1 - eta z| < 1``: its point nearest ``1/eta`` is not."""
    (re_lo, re_hi), (im_lo, im_hi) = box
    near_x, near_y = min(max(1 / eta, re_lo), re_hi), min(max(F(0), im_lo), im_hi)
    return (near_x - 1 / eta) ** 2 + near_y ** 2 >= 1 / eta ** 2


def box_evidence(roots, eta, box) -> bool:
    """SPEC 7.1's ``box``, read directly: exactly one of the numeric ``roots`` lies in the rectangle (well
    inside: the margin is relative to the box), and no point of it is in the open disc ``|1 - eta z| < 1``
    (exact: the box point nearest the centre ``1/eta``, by clamping, is at distance ``>= 1/eta``)."""
    (re_lo, re_hi), (im_lo, im_hi) = ([fr(a) for a in side] for side in box)
    if re_lo > re_hi or im_lo > im_hi or not misses_disc(eta, [[re_lo, re_hi], [im_lo, im_hi]]):
        return False
    margin = 1e-9 * float(max(re_hi - re_lo, im_hi - im_lo))
    inside = [r for r in roots
              if float(re_lo) + margin < r.real < float(re_hi) - margin
              and float(im_lo) + margin < r.imag < float(im_hi) - margin]
    return len(inside) == 1


def verify_v4(spec, kind, w, gamma=None, scale=F(1)) -> bool:
    """A V4 witness: ``eta`` stable for prefix (``(2/eta) I - N_P`` positive definite) and the variant not stable."""
    X, eta = [[fr(a) for a in r] for r in w["X"]], fr(w["eta"])
    n = len(X)
    N = operator(spec, kind, X, gamma, scale)
    NP = operator("prefix", kind, X, gamma, scale)
    prefix_ok = positive_definite([[F(int(a == b)) * 2 / eta - NP[a][b] for b in range(n)] for a in range(n)])
    query = INDEPENDENT[spec][1]

    def reads(v):
        return [sum((v[i] * X[i][k] for i in range(n) if query(i, n)), F(0)) for k in range(len(X[0]))]

    return prefix_ok and unstable_evidence(N, eta, w, reads)


def verify_v5(spec, kind, w, gamma=None, scale=F(1)) -> bool:
    X, eta, v = [[fr(a) for a in r] for r in w["X"]], fr(w["eta"]), [fr(a) for a in w["vector"]]
    N = operator(spec, kind, X, gamma, scale)
    if not stable(N, eta, X, spec):
        return False
    n = len(N)
    B = [[F(int(a == b)) - eta * N[a][b] for b in range(n)] for a in range(n)]
    image = v
    for _ in range(int(w["layer"])):
        image = [sum((B[a][b] * image[b] for b in range(n)), F(0)) for a in range(n)]
    return sum(a * a for a in image) > sum(a * a for a in v)


# ----------------------------------------------------------------------------- runs (cached: each is a few seconds)


@cache
def run(spec: str, kind: str, construction: str | None = None) -> dict:
    rule = spec if spec in ("prefix", "causal") or ":" in spec else parse_rule(spec)
    con = PRECONDITIONED if construction == "preconditioned" else None
    return prove_variant(rule, kind, 1, con)


def claim(report, cid):
    return next(c for c in report["claims"] if c["id"] == cid)


NON_PREFIX = ["causal", "sliding:2", "block:2", "hybrid:2", TRIANGULAR_RULE]


@pytest.mark.parametrize("kind", ["constant", "count"])
def test_prefix_is_not_refuted(kind):
    report = run("prefix", kind)
    assert [c["id"] for c in report["claims"]] == ["V1", "V2", "V3", "V4", "V5"]
    assert claim(report, "V1")["status"] == "proved"
    assert claim(report, "V2")["status"] == "conditional"
    assert claim(report, "V2")["assumes"] == ["power-convergence", "pseudoinverse-min-norm"]
    assert claim(report, "V4")["status"] == "proved"
    assert claim(report, "V5")["status"] == "conditional" and claim(report, "V5")["assumes"] == ["spectral-theorem"]
    assert "lambda_max" in claim(report, "V3")["statement"] and claim(report, "V3")["status"] == "conditional"


@pytest.mark.parametrize("spec", NON_PREFIX)
@pytest.mark.parametrize("kind", ["constant", "count"])
def test_non_prefix_v2_v5_refuted_with_exact_witnesses(spec, kind):
    report = run(spec, kind)
    v2, v5 = claim(report, "V2"), claim(report, "V5")
    assert v2["status"] == "refuted" and verify_v2(spec, kind, v2["witness"])
    assert v5["status"] == "refuted" and verify_v5(spec, kind, v5["witness"])
    for c in report["claims"]:
        assert set(c) <= {"id", "statement", "formal", "status", "scope", "assumes", "seconds", "witness"}
        assert c["status"] in ("proved", "conditional", "checked", "refuted") or engine_disagrees(c)


def engine_disagrees(c) -> bool:
    """A claim failed only because the numeric engine predates docs/SPEC.md section 7 (issue 20, item 3)."""
    return (not engine_meets_spec7() and c["status"] == "failed" and c["id"] in ("V3", "V4")
            and "numeric engine disagree" in c["scope"])


def test_v4_causal_constant_is_p8_and_count_is_refuted():
    constant = claim(run("causal", "constant"), "V4")
    assert (constant["status"] == "conditional" and "rayleigh-quotient" in constant["assumes"]
            or engine_disagrees(constant))
    count = claim(run("causal", "count"), "V4")
    assert count["status"] == "refuted" and verify_v4("causal", "count", count["witness"])


@pytest.mark.parametrize("spec, kind", [("block:2", "count"), ("sliding:3", "count"), ("hybrid:2", "count")])
def test_v4_count_refutations_verify(spec, kind):
    c = claim(run(spec, kind), "V4")
    assert c["status"] == "refuted" and verify_v4(spec, kind, c["witness"])


@pytest.mark.parametrize("spec", ["causal", "sliding:2", TRIANGULAR_RULE])
def test_v3_triangular_formula(spec):
    for kind in ("constant", "count"):
        c = claim(run(spec, kind), "V3")
        assert (c["status"] == "conditional" and "block-triangular-spectrum" in c["assumes"]
                and "stability-characterisation" in c["assumes"]) or engine_disagrees(c)
        assert "eta_max = 2 min c_j / ||x_j||^2 over the examples with ||x_j||^2 > 0" in c["statement"]


@pytest.mark.parametrize("spec", ["block:2", "hybrid:2", "block:3"])
def test_v3_block_formula(spec):
    c = claim(run(spec, "constant"), "V3")
    assert "min over the diagonal blocks" in c["statement"]
    assert (c["status"] == "conditional" and set(c["assumes"]) == {"block-triangular-spectrum", "spectral-theorem",
                                                                   "stability-characterisation"}
            or engine_disagrees(c))


def test_preconditioned_construction():
    prefix = run("prefix", "constant", "preconditioned")
    v1 = claim(prefix, "V1")
    assert v1["status"] == "proved" and "[[2, 1], [1, 1]]" in v1["statement"]
    # Gamma_0 is not a multiple of I: the prefix limit is the min Gamma^{-1}-norm interpolant, not y X^+
    v2 = claim(prefix, "V2")
    assert v2["status"] == "refuted" and verify_v2("prefix", "constant", v2["witness"], GAMMAS["preconditioned"])
    assert claim(prefix, "V5")["status"] == "conditional"
    causal = run("causal", "constant", "preconditioned")
    v5 = claim(causal, "V5")
    assert v5["status"] == "refuted" and verify_v5("causal", "constant", v5["witness"], GAMMAS["preconditioned"])
    assert "Gamma_0 = [[2, 1], [1, 1]]" in claim(causal, "V3")["statement"]


def test_construction_outside_p10_family_refutes_v1():
    bad = (sp.Matrix([[1, 0, 0], [0, 1, 0], [0, 0, 0]]), sp.Matrix([[0, 0, 1], [0, 0, 0], [0, 0, -ETA]]))
    report = prove_variant("causal", "constant", 1, bad)
    v1 = claim(report, "V1")
    assert v1["status"] == "refuted"
    w = v1["witness"]
    # independent: one layer on [x_0; y_0], [x_1; y_1] with every token reading both (c = 1)
    X, y = [[fr(a) for a in r] for r in w["X"]], [fr(v) for v in w["y"]]
    kq, pv = [[fr(v) for v in r] for r in bad[0].tolist()], [[fr(v) for v in r] for r in bad[1].subs(ETA, 1).tolist()]
    tokens = [X[0] + [y[0]], X[1] + [y[1]]]

    def layer(z):
        scores = [sum((s[a] * kq[a][b] * z[b] for a in range(3) for b in range(3)), F(0)) for s in tokens]
        total = [sum((scores[k] * tokens[k][a] for k in range(2)), F(0)) for a in range(3)]
        return [z[a] + sum((pv[a][b] * total[b] for b in range(3)), F(0)) for a in range(3)]

    assert layer(tokens[0])[:2] != tokens[0][:2]  # the x part of example 0 moves: the form [x; y - w x] breaks
    assert all(c["status"] != "refuted" for c in report["claims"][1:])


def test_statuses_do_not_change_across_runs():
    a = prove_variant("causal", "count")
    b = prove_variant("causal", "count")
    strip = lambda r: [(c["id"], c["status"], json.dumps(c.get("witness"))) for c in r["claims"]]  # noqa: E731
    assert strip(a) == strip(b)


# ----------------------------------------------------------------------------- mutation checks


def _brute_structure(attention, sizes):
    """A wrong decision procedure: the properties sampled at small n only."""
    out = Structure()
    from proofs.variants.structure import PROPERTIES, _brute

    for prop in PROPERTIES:
        out.decided[prop] = all(_brute(attention, prop, n) for n in sizes)
    return out


TRICKY = ["kv_idx <= q_idx or (n >= 7 and kv_idx == q_idx + 1)", "kv_idx <= q_idx or (n >= 11 and kv_idx == n - 1)",
          "kv_idx // 2 <= q_idx // 2 or n % 12 == 0"]


def classifier_sound(classify) -> bool:
    """Whatever a classifier calls triangular/block/all must hold at sizes it may not have looked at."""
    from proofs.variants.structure import _brute

    for text in TRICKY:
        attention = custom(parse_rule(text))
        structure = classify(attention)
        for prop in ("triangular", "block", "all"):
            if structure.decided.get(prop) and not all(_brute(attention, prop, n) for n in range(1, 13)):
                return False
    return True


def test_z3_classifier_is_sound():
    assert classifier_sound(decide)
    assert decide(custom(parse_rule(TRICKY[0]))).kind == "other"


def test_mutation_sampling_classifier_is_caught():
    assert not classifier_sound(lambda a: _brute_structure(a, range(1, 7)))


def test_tricky_rule_gets_no_triangular_formula():
    report = prove_variant(parse_rule(TRICKY[0]), "constant")
    v3 = claim(report, "V3")
    assert "2 min c_j" not in v3["statement"] and "no closed form" in v3["statement"]


def test_mutation_sampling_classifier_is_caught_by_the_tool(monkeypatch):
    """With a classifier that samples n <= 6, V3 would state the triangular formula for a rule that is
    triangular only below n = 7; the engine's answers at n = 8, 16, 64 keep it from standing."""
    monkeypatch.setattr(variants, "decide", lambda a: _brute_structure(a, range(1, 7)))
    v3 = claim(prove_variant(parse_rule(TRICKY[0]), "constant"), "V3")
    assert "2 min c_j" in v3["statement"] and v3["status"] in ("failed", "refuted")


def test_brute_force_cross_check_reports_disagreement(monkeypatch):
    """A z3 translation defect (here: a structure that claims 'triangular' for hybrid) makes claims fail."""
    real = decide

    def lying(attention):
        s = real(attention)
        s.decided["triangular"] = True
        s.disagreements.append("triangular: z3 proved it but it fails at n = 3")
        return s

    monkeypatch.setattr(variants, "decide", lying)
    report = prove_variant("hybrid:2", "constant")
    assert all(c["status"] == "failed" for c in report["claims"][1:])


def test_tampered_witnesses_do_not_verify():
    report = run("causal", "count")
    v2, v4, v5 = (dict(claim(report, cid)["witness"]) for cid in ("V2", "V4", "V5"))
    bad2 = {**v2, "stationary_predictions": list(v2["least_squares_predictions"])}
    bad4 = tamper_v4(v4)
    bad5 = {**v5, "eta": str(fr(v5["eta"]) * 3)}  # three times a stable eta is past the bound
    assert not verify_v2("causal", "count", bad2)
    assert not verify_v4("causal", "count", bad4)
    assert not verify_v5("causal", "count", bad5)
    # the tool's own checkers accept the witnesses and refuse the tampered ones
    from proofs.variants.exact import model
    from proofs.variants.structure import named as named_attention

    kq, pv = sp.eye(2), sp.Matrix([[0, 0], [0, -1]])
    kq[1, 1] = 0
    mod_for = lambda n, m: model(named_attention("causal"), "count", F(1), kq, pv, n, m)  # noqa: E731
    prefix_for = lambda n, m: model(named_attention("prefix"), "count", F(1), kq, pv, n, m)  # noqa: E731
    assert search.check_v2(mod_for, v2) and not search.check_v2(mod_for, bad2)
    from proofs.variants import refute

    variant = refute.Variant(named_attention("causal"), named_attention("prefix"), "count", F(1), {1: sp.eye(1)})
    model_for = lambda attention, d: (mod_for if attention.name == "causal" else prefix_for)  # noqa: E731
    assert refute.check_witness(variant, model_for, v4) and not refute.check_witness(variant, model_for, bad4)
    assert search.check_v5(mod_for, v5) and not search.check_v5(mod_for, bad5)


def tamper_v4(w: dict) -> dict:
    """The same witness with its evidence changed (a wrong eigenvalue factor, vector or step size)."""
    if "eigenvalue" in w:
        e = dict(w["eigenvalue"])
        e["minimal_polynomial"] = e["minimal_polynomial"][:-1] + [str(fr(e["minimal_polynomial"][-1]) + 1)]
        e.pop("value", None)
        e.pop("interval", None)
        return {**w, "eigenvalue": e}
    key = "jordan_chain" if "jordan_chain" in w else "null_vector"
    return {**w, key: {**w[key], "vector": ["1"] * len(w[key]["vector"])}}


def test_mutation_unverified_witness_is_not_reported(monkeypatch):
    """A search that proposes a wrong witness: the tool's exact re-check keeps it from being reported."""
    def bogus(case, eta):
        return {"X": [[str(a) for a in r] for r in case.X], "eta": "1/1000", "layer": 1,
                "vector": ["1"] * len(case.X), "squared_norms": {}, "operator": [[str(a) for a in r] for r in case.N]}

    monkeypatch.setattr(search, "v5_witness", bogus)
    v5 = claim(prove_variant("causal", "constant"), "V5")
    assert v5["status"] == "checked" and "witness" not in v5


def test_structure_of_named_attentions():
    expect = {"prefix": "all", "causal": "triangular", "sliding:3": "triangular", "block:2": "block",
              "hybrid:3": "block"}
    for spec, kind in expect.items():
        s = decide(named(spec))
        assert s.kind == kind and not s.disagreements, spec
    assert BRUTE_N >= 8


# ----------------------------------------------------------------------------- CLI


def test_cli_json_contract(capsys, tmp_path):
    out = tmp_path / "v.json"
    code, stdout, stderr = run_cli(capsys, "prove", "--attention", "causal", "--normalization", "count", "--json", out)
    assert code == (0 if engine_meets_spec7() else 1), stderr
    data = json.loads(out.read_text())
    assert set(data) == {"variant", "claims"}
    assert data["variant"]["attention"] == "causal" and data["variant"]["rule"] is None
    assert data["variant"]["normalization"] == "count" and data["variant"]["construction"]["name"] == "paper"
    assert [c["id"] for c in data["claims"]] == ["V1", "V2", "V3", "V4", "V5"]
    for c in data["claims"]:
        assert {"id", "statement", "status", "scope", "assumes", "seconds"} <= set(c)
    assert verify_v4("causal", "count", claim(data, "V4")["witness"])


def test_cli_rule_and_summary(capsys):
    code, stdout, _ = run_cli(capsys, "prove", "--rule", TRIANGULAR_RULE, "--kq", "[[1, 0], [0, 0]]",
                              "--pv", '[[0, 0], [0, "-eta"]]')
    assert code == (0 if engine_meets_spec7() else 1)
    assert "V2  refuted" in stdout and "V1  proved" in stdout


def test_mutation_layer_wrong_at_symbolic_sizes_fails_v1(monkeypatch):
    """A layer that does nothing when the attention set has symbolic size (right at every explicit size,
    so P10's derivation still finds Gamma_0) cannot give ``proved``: V1 reads the layer at call time."""
    import verify.lsa as lsa

    real = lsa.attend

    def lazy(targets, sources, construction, mask=None, c=1):
        if isinstance(sources, sp.MatrixSymbol):
            return targets
        return real(targets, sources, construction, mask, c)

    monkeypatch.setattr(lsa, "attend", lazy)
    assert claim(prove_variant("causal", "constant", 1, PRECONDITIONED), "V1")["status"] == "failed"
    assert claim(prove_variant("causal", "constant"), "V1")["status"] == "failed"


def test_v1_states_the_derived_gamma():
    doubled = (PRECONDITIONED[0], 2 * PRECONDITIONED[1])
    v1 = claim(prove_variant("causal", "constant", 1, doubled), "V1")
    assert v1["status"] == "proved" and "Gamma_0 = [[4, 2], [2, 2]]" in v1["statement"]
    assert "Gamma_0 = I_d" in claim(run("causal", "constant"), "V1")["statement"]


def test_v1_symbolic_step_catches_a_wrong_gamma():
    from proofs.variants.construction import custom_construction, symbolic_step

    con = custom_construction(*PRECONDITIONED)
    assert symbolic_step(con, 2, sp.Matrix([[2, 1], [1, 1]]))
    assert not symbolic_step(con, 2, sp.Matrix([[2, 1], [1, 2]]))
    assert not symbolic_step(con, 2, sp.Matrix([[1, 0], [0, 1]]))


def test_form_kept_but_not_gradient_descent_refutes_v1():
    """P10: with h != 0 and A != 0 the token form is kept but the update is not r x^T Gamma."""
    kq, pv = sp.Matrix([[1, 0], [0, 0]]), sp.Matrix([[0, 0], [1, -ETA]])
    report = prove_variant("causal", "constant", 1, (kq, pv))
    v1 = claim(report, "V1")
    assert v1["status"] == "refuted"
    w = v1["witness"]
    KQ, PV = [[fr(v) for v in r] for r in kq.tolist()], [[fr(v) for v in r] for r in pv.subs(ETA, 1).tolist()]

    def query_gain(x, y):  # the query [1; 0] reads one example [x; y] (d = 1, c = 1): its prediction gain
        z, q = [x, y], [F(1), F(0)]
        score = sum((z[a] * KQ[a][b] * q[b] for a in range(2) for b in range(2)), F(0))
        return -sum((PV[1][b] * z[b] for b in range(2)), F(0)) * score

    gamma = query_gain(F(1), F(1))  # the example (e_1, 1) forces Gamma = its weight change
    assert [str(gamma)] == w["forced_gamma"][0]
    x, y = fr(w["x"][0]), fr(w["y"])
    assert query_gain(x, y) != y * x * gamma and str(query_gain(x, y)) == w["weight_change"][0]
    assert all(c["status"] == "checked" for c in report["claims"][1:])


def test_constant_scale_enters_the_witnesses():
    """With c = 5/2 the witnesses are for N = M / c (re-verified with that c; with c = 1 they fail)."""
    report = prove_variant("sliding:3", "constant", "5/2")
    v2, v5 = claim(report, "V2")["witness"], claim(report, "V5")["witness"]
    assert verify_v2("sliding:3", "constant", v2, scale=F(5, 2))
    assert verify_v5("sliding:3", "constant", v5, scale=F(5, 2))
    assert not verify_v5("sliding:3", "constant", v5)  # the step size is stable only for the right c
    assert "c_j = 5/2" in claim(report, "V3")["statement"]
