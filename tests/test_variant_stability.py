"""V3/V4 on real attention patterns under the one meaning of stable (issue 20), against an oracle written here.

The oracle reads docs/SPEC.md section 7 directly, with its own masks (Python lambdas: ``q`` reads ``kv``),
its own ``N = D^{-1} M`` in fractions and its own stability test: (a) nonzero eigenvalues
``|1 - eta l| < 1`` (numpy eigenvalues with a margin, or SymPy for an exact polynomial), (b) ``rank N^2 =
rank N``, (c) no query reads a null vector (fraction Gaussian elimination).  Nothing here calls the
package's stability code.
"""
from __future__ import annotations

import json
from fractions import Fraction as F
from functools import cache

import numpy as np
import pytest
import sympy as sp
from helpers import engine_meets_spec7, rank_and_null, run_cli

import proofs.variants.claims as claims_module
import proofs.variants.stability as stability_module
from proofs.variants import prove_variant
from verify.errors import PromptError
from verify.rule import parse_rule

# ----------------------------------------------------------------------------- the oracle

#: pattern -> (rule text, example rule (q, kv, n) -> bool); queries read every example
HOLD = {
    "causal": ("kv_idx <= q_idx", lambda q, kv, n: kv <= q),
    "sink + window": ("kv_idx <= q_idx and (q_idx - kv_idx < 4 or kv_idx == 0)",
                      lambda q, kv, n: kv <= q and (q - kv < 4 or kv == 0)),
    "strided": ("kv_idx <= q_idx and (q_idx - kv_idx) % 3 == 0", lambda q, kv, n: kv <= q and (q - kv) % 3 == 0),
    "block-causal": ("kv_idx // 4 <= q_idx // 4", lambda q, kv, n: kv // 4 <= q // 4),
    "prefix then causal": ("kv_idx <= q_idx or kv_idx < 3", lambda q, kv, n: kv <= q or kv < 3),
}
FAIL = {
    "partial reads of a block": ("kv_idx // 4 == q_idx // 4 or (kv_idx < q_idx and kv_idx % 4 == 0)",
                                 lambda q, kv, n: kv // 4 == q // 4 or (kv < q and kv % 4 == 0)),
    "chunked prefill + window": ("kv_idx // 4 == q_idx // 4 or (kv_idx <= q_idx and q_idx - kv_idx < 4)",
                                 lambda q, kv, n: kv // 4 == q // 4 or (kv <= q and q - kv < 4)),
    "symmetric band": ("q_idx - kv_idx <= 1 and kv_idx - q_idx <= 1", lambda q, kv, n: abs(q - kv) <= 1),
    "global first token": ("kv_idx <= q_idx or q_idx == 0", lambda q, kv, n: kv <= q or q == 0),
    "two-way global tokens": ("kv_idx <= q_idx or q_idx < 2", lambda q, kv, n: kv <= q or q < 2),
}


def oracle_N(fn, X, kind="constant"):
    n = len(X)
    reads = [[bool(fn(j, i, n)) for i in range(n)] for j in range(n)]  # reads[j][i]: j reads i
    c = [F(1)] * n if kind == "constant" else [F(sum(row)) for row in reads]
    return [[sum((a * b for a, b in zip(X[i], X[j], strict=False)), F(0)) / c[j] if reads[j][i] else F(0)
             for i in range(n)] for j in range(n)]


def mul(A, B):
    return [[sum((A[i][k] * B[k][j] for k in range(len(B))), F(0)) for j in range(len(B[0]))] for i in range(len(A))]


def oracle_stable(N, X, eta: float) -> bool:
    """SPEC section 7 with queries reading every example: (a) numerically with a margin, (b) and (c) exactly."""
    rank, null = rank_and_null(N)
    if rank_and_null(mul(N, N))[0] != rank:
        return False
    d = len(X[0])
    if any(any(sum((v[i] * X[i][k] for i in range(len(X))), F(0)) != 0 for k in range(d)) for v in null):
        return False
    lam = np.linalg.eigvals(np.array(N, dtype=float))
    lam = lam[np.abs(lam) > 1e-9 * max(1.0, float(np.max(np.abs(lam))))]
    return bool(np.all(np.abs(1 - eta * lam) < 1))


def oracle_bound(fn, X) -> float:
    """``eta_max`` by bisection on :func:`oracle_stable` (inf when nothing to control)."""
    N = oracle_N(fn, X)
    lam = np.linalg.eigvals(np.array(N, dtype=float))
    big = float(np.max(np.abs(lam))) if lam.size else 0.0
    if big < 1e-12:
        return float("inf") if oracle_stable(N, X, 1.0) else 0.0
    lo, hi = 0.0, 4.0 / big
    if not oracle_stable(N, X, hi / 1000):
        return 0.0
    lo = hi / 1000
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if oracle_stable(N, X, mid) else (lo, mid)
    return lo


def prefix_stable(X, eta: F) -> bool:
    """``(2/eta) I - X X^T`` positive definite (LDL^T pivots)."""
    n = len(X)
    A = [[(2 / eta if a == b else F(0)) - sum((p * q for p, q in zip(X[a], X[b], strict=False)), F(0))
          for b in range(n)] for a in range(n)]
    for c in range(n):
        if A[c][c] <= 0:
            return False
        for r in range(c + 1, n):
            f = A[r][c] / A[c][c]
            A[r] = [a - f * e for a, e in zip(A[r], A[c], strict=False)]
    return True


def witness_shows_instability(fn, w) -> bool:
    """A V3/V4 witness, read with the oracle's own ``N``: prefix-stable ``eta`` (when claimed) and a failure of
    (a), (b) or (c) at it."""
    X, eta = [[F(a) for a in r] for r in w["X"]], F(w["eta"])
    N = oracle_N(fn, X)
    if w.get("prefix_stable") and not prefix_stable(X, eta):
        return False
    if "jordan_chain" in w:
        v = [F(a) for a in w["jordan_chain"]["vector"]]
        Nv = [sum((a * b for a, b in zip(row, v, strict=False)), F(0)) for row in N]
        NNv = [sum((a * b for a, b in zip(row, Nv, strict=False)), F(0)) for row in N]
        return any(Nv) and not any(NNv)
    if "null_vector" in w:
        v = [F(a) for a in w["null_vector"]["vector"]]
        Nv = [sum((a * b for a, b in zip(row, v, strict=False)), F(0)) for row in N]
        read = [sum((v[i] * X[i][k] for i in range(len(X))), F(0)) for k in range(len(X[0]))]
        return not any(Nv) and any(read)
    coeffs = [sp.Rational(str(F(a))) for a in w["eigenvalue"]["minimal_polynomial"]]
    t = sp.Symbol("t")
    pN = sp.Matrix([[sp.Rational(str(a)) for a in row] for row in N]).charpoly(t)
    f = sp.Poly(coeffs, t)
    if coeffs[-1] == 0 or sp.Poly(pN.as_expr(), t).rem(f) != 0:
        return False
    roots = np.roots([float(c) for c in coeffs])
    return bool(np.any(np.abs(1 - float(eta) * roots) >= 1 + 1e-9))


@cache
def report(text: str, query: str | None = None, kind: str = "constant") -> dict:
    return prove_variant(parse_rule(text, query=query), kind)


def claim(rep, cid):
    return next(c for c in rep["claims"] if c["id"] == cid)


# ----------------------------------------------------------------------------- prompts (integers, edge cases)


def prompts_up_to(n_max: int, d: int = 2):
    rng = np.random.default_rng(5)
    for n in (3, 5, 9, 17, n_max):
        small = rng.integers(-2, 4, size=(n, d))
        zero = small.copy()
        zero[n // 2] = 0
        repeated = np.tile([1, 2][:d], (n, 1))
        dominant = small.copy()
        dominant[1] = 25
        for X in (small, zero, repeated, dominant, small + 3):
            yield [[F(int(a)) for a in row] for row in X]


def block_formula(fn, X) -> float:
    """docs/SPEC.md section 7's V3 formula for a block rule read in whole, computed here: the classes of
    mutual reads, each block's largest eigenvalue of ``X_b X_b^T``."""
    n = len(X)
    classes = []
    start = 0
    while start < n:
        end = start + 1
        while end < n and fn(start, end, n) and fn(end, start, n):
            end += 1
        classes.append(range(start, end))
        start = end
    tops = [float(np.max(np.linalg.eigvalsh(np.array([[float(sum(a * b for a, b in zip(X[i], X[j], strict=False)))
                                                         for j in b] for i in b]))))
            for b in classes]
    tops = [t for t in tops if t > 1e-12]
    return 2 / max(tops) if tops else float("inf")


# ----------------------------------------------------------------------------- where V3 and V4 hold


@pytest.mark.parametrize("pattern", list(HOLD))
def test_v3_v4_hold_and_are_not_contradicted(pattern):
    text, fn = HOLD[pattern]
    rep = report(text)
    v3, v4 = claim(rep, "V3"), claim(rep, "V4")
    if not engine_meets_spec7():  # the prover refuses to disagree with the engine silently
        for c in (v3, v4):
            assert c["status"] == "conditional" or (c["status"] == "failed" and "verify." in c["scope"]), c
        assert "failed" in (v3["status"], v4["status"])
    else:
        assert v3["status"] == "conditional" and v4["status"] == "conditional", (v3, v4)
    for X in prompts_up_to(40):
        F_ = block_formula(fn, X)
        N = oracle_N(fn, X)
        if np.isfinite(F_):
            assert oracle_stable(N, X, 0.5 * F_) and not oracle_stable(N, X, 1.5 * F_), (pattern, X)
        lam_p = np.max(np.linalg.eigvalsh(np.array(X, dtype=float) @ np.array(X, dtype=float).T))
        if lam_p > 0:
            assert oracle_stable(N, X, 0.99 * 2 / lam_p), (pattern, X)


@pytest.mark.parametrize("pattern", ["sink + window", "strided", "causal"])
def test_triangular_formula_matches_oracle_at_n_200(pattern):
    """n = 200 with zero examples: the oracle's (a) from the eigenvalues (the diagonal of a triangular N),
    (b) and (c) from the structure read off N itself: the zero examples' rows and columns vanish and the rest
    is triangular with a nonzero diagonal, so the null space is exactly their coordinates, outside the range
    of N (no Jordan chain) and read as x_j = 0 by every query."""
    _, fn = HOLD[pattern]
    rng = np.random.default_rng(11)
    n = 200
    X = rng.integers(-2, 4, size=(n, 2)).astype(float)
    X[[3, 100]] = 0
    mask = np.array([[fn(j, i, n) for i in range(n)] for j in range(n)])
    N = mask * (X @ X.T)
    zero = np.flatnonzero(~X.any(axis=1))
    rest = np.setdiff1d(np.arange(n), zero)
    assert np.all(N[zero] == 0) and np.all(N[:, zero] == 0)
    sub = N[np.ix_(rest, rest)]
    assert np.all(np.triu(sub, 1) == 0) and np.all(np.diag(sub) > 0)
    nonzero = np.diag(sub)
    F_ = block_formula(fn, [[F(int(a)) for a in r] for r in X])
    assert np.all(np.abs(1 - 0.5 * F_ * nonzero) < 1) and np.any(np.abs(1 - 1.5 * F_ * nonzero) >= 1)


# ----------------------------------------------------------------------------- where they fail


@pytest.mark.parametrize("pattern", list(FAIL))
def test_false_v4_is_refuted_with_a_witness_the_oracle_accepts(pattern):
    text, fn = FAIL[pattern]
    v4 = claim(report(text), "V4")
    assert v4["status"] == "refuted", v4
    assert witness_shows_instability(fn, v4["witness"])


@pytest.mark.parametrize("pattern", ["partial reads of a block", "chunked prefill + window"])
def test_false_v3_is_refuted(pattern):
    text, fn = FAIL[pattern]
    v3 = claim(report(text), "V3")
    assert v3["status"] == "refuted" and witness_shows_instability(fn, v3["witness"]), v3


def test_issue_prompt_drifts():
    """X = (1, 2, 3, 1, 1), blocks of 4, later examples read the first of each block: a visible null vector."""
    _, fn = FAIL["partial reads of a block"]
    X = [[F(a)] for a in (1, 2, 3, 1, 1)]
    assert not oracle_stable(oracle_N(fn, X), X, 0.01)


def test_query_rule_reading_part_of_a_singular_block_is_refuted():
    v4 = claim(report("True", "kv_idx > n - 3"), "V4")
    assert v4["status"] == "refuted" and "null_vector" in v4["witness"]
    X = [[F(a) for a in r] for r in v4["witness"]["X"]]
    v = [F(a) for a in v4["witness"]["null_vector"]["vector"]]
    n = len(X)
    assert any(sum((v[i] * X[i][k] for i in range(n) if i > n - 3), F(0)) for k in range(len(X[0])))


def test_jordan_chain_alone_refutes_v4():
    """No self reads and queries reading nothing: N is nilpotent, only (b) fails."""
    v4 = claim(report("kv_idx < q_idx", "False"), "V4")
    assert v4["status"] == "refuted" and "jordan_chain" in v4["witness"], v4


# ----------------------------------------------------------------------------- mutations


def test_mutation_ignoring_partial_reads_is_caught(monkeypatch):
    """A decision that takes any block structure as harmless (ignores who reads part of a block) reports V4
    conditional for the partial-read rule; the oracle finds the issue's prompt contradicting it."""
    monkeypatch.setattr(claims_module, "_blockwise",
                        lambda ctx: ctx.structure.kind in ("triangular", "block", "all"))
    import proofs.variants.engine as engine_module

    monkeypatch.setattr(engine_module, "confirm", lambda ctx, c, variant: c)
    text, fn = FAIL["partial reads of a block"]
    v4 = claim(prove_variant(parse_rule(text), "constant"), "V4")
    assert v4["status"] == "conditional"
    X = [[F(a)] for a in (1, 2, 3, 1, 1)]
    eta = F(1, 20)
    assert prefix_stable(X, eta) and not oracle_stable(oracle_N(fn, X), X, float(eta))  # contradicted


def test_mutation_ignoring_jordan_chains_is_caught(monkeypatch):
    real = stability_module._structural

    def no_rank_test(op):
        out = real(op)
        return stability_module.Decision(True) if out.kind == "jordan_chain" else out

    monkeypatch.setattr(stability_module, "_structural", no_rank_test)
    v4 = claim(prove_variant(parse_rule("kv_idx < q_idx", query="False"), "constant"), "V4")
    assert not (v4["status"] == "refuted" and "jordan_chain" in v4.get("witness", {}))


# ----------------------------------------------------------------------------- the convention


def test_old_names_refused_in_one_line(capsys):
    for argv in (["prove", "--rule", "i <= j"], ["prove", "--rule", "kv_idx <= j"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "q_idx" in err and "kv_idx" in err
    with pytest.raises(PromptError, match="q_idx"):
        parse_rule("kv_idx <= q_idx", query="i > n - 3")


def test_causal_rule_is_causal_in_prove():
    rule = prove_variant(parse_rule("kv_idx <= q_idx"), "count")
    named = prove_variant("causal", "count")
    strip = lambda r: [(c["id"], c["status"], c["statement"], json.dumps(c.get("witness"))) for c in r["claims"]]  # noqa: E731
    assert strip(rule) == strip(named)


@pytest.mark.parametrize("command, extra", [("rate", ["--eta", "0.05"]), ("stationary", []),
                                            ("simulate", ["--eta", "0.05", "--layers", "5"])])
def test_causal_rule_is_causal_in_the_numeric_commands(capsys, tmp_path, command, extra):
    rng = np.random.default_rng(3)
    path = tmp_path / "p.npz"
    np.savez(path, X=rng.integers(1, 4, size=(12, 2)).astype(float), y=rng.standard_normal(12),
             Xq=rng.standard_normal((3, 2)))
    outs = []
    for option in (["--attention", "causal"], ["--rule", "kv_idx <= q_idx"]):
        out = tmp_path / f"{option[0][2:]}.json"
        code, _, err = run_cli(capsys, command, str(path), *option, *extra, "--json", str(out))
        assert code == 0, err
        data = json.loads(out.read_text())
        data.pop("attention", None)
        outs.append(data)
    assert outs[0] == outs[1]


def test_rule_with_attention_is_refused(capsys, tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, X=np.ones((3, 1)), y=np.ones(3), Xq=np.ones((1, 1)))
    code, _, err = run_cli(capsys, "rate", str(path), "--rule", "kv_idx <= q_idx", "--attention", "causal",
                           "--eta", "0.1")
    assert code == 2 and "rule" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "rate", str(path), "--query-rule", "True", "--eta", "0.1")
    assert code == 2 and "query-rule: " in err and len(err.strip().splitlines()) == 1


def test_named_attentions_are_their_rules():
    from verify.masks import NAMED, attention_mask, rule_texts

    for spec in ("prefix", "causal", "sliding:3", "block:2", "hybrid:2"):
        rule = parse_rule(*rule_texts(spec)[:1], query=rule_texts(spec)[1])
        for n in (1, 4, 9):
            assert np.array_equal(rule.mask(n, 2), attention_mask(spec, n, 2)), spec
    assert len(NAMED) == 5


# ----------------------------------------------------------------------------- statuses, formal statements, the engine


def test_ledger_statuses_for_counterexamples():
    from proofs.symbolic import Ledger

    rechecked, unchecked = Ledger(), Ledger()
    for ledger in (rechecked, unchecked):  # the conclusion the counterexample speaks to
        ledger.coverage.append({"conclusion": "c", "checks": ["witness"], "kind": "finite", "assumes": []})
    rechecked.counterexample("witness", True)
    unchecked.counterexample("witness", False)
    assert rechecked.result("", "").status == "refuted" and unchecked.result("", "").status == "failed"


def test_every_claim_has_a_formal_statement():
    for c in prove_variant("causal", "constant")["claims"]:
        expr = claims_module.FORMAL[c["id"]]
        assert isinstance(expr, (sp.logic.boolalg.Boolean, sp.core.relational.Relational))
        assert c["formal"] == str(expr)


def test_mutation_engine_disagreeing_is_not_silent(monkeypatch):
    """An engine that calls every step size unstable: prefix's V4 (prefix's own operator) cannot stay proved."""
    import verify.rates as rates

    real = rates.analyse
    monkeypatch.setattr(rates, "analyse", lambda *a, **k: {**real(*a, **k), "stable": False})
    v4 = claim(prove_variant("prefix", "constant"), "V4")
    assert v4["status"] == "failed" and "verify.rates.analyse" in v4["scope"], v4


def test_rule_evaluates_on_sympy_symbols_like_on_ints():
    """One tree, every backend: the SymPy Boolean at symbolic i, j, n, substituted, is the int answer."""
    i, j, n = sp.symbols("i j n", integer=True)
    for text, query in (("kv_idx <= q_idx and (q_idx - kv_idx) % 3 == 0", None),
                        ("kv_idx // 4 == q_idx // 4 or (kv_idx <= q_idx and q_idx - kv_idx < 4)", "kv_idx > n - 3")):
        rule = parse_rule(text, query=query)
        formula = rule.reads(i, j, n)
        for size in (3, 7):
            for a in range(size + 1):
                for b in range(size + 1):
                    value = formula.subs({i: a, j: b, n: size})
                    assert bool(value) == rule.reads(a, b, size), (text, a, b, size)


def test_rules_that_spell_a_named_attention_run_as_it():
    from verify.masks import named_spec_of

    spelled = {("kv_idx <= q_idx", None): "causal", ("True", None): "prefix",
               ("kv_idx <= q_idx and q_idx - kv_idx < 4", "kv_idx > n - 1 - 4"): "sliding:4",
               ("kv_idx // 3 <= q_idx // 3", None): "block:3", ("kv_idx <= q_idx or kv_idx < 2", None): "hybrid:2",
               ("kv_idx < q_idx", None): None, ("kv_idx <= q_idx and q_idx - kv_idx < 4", None): None}
    for (text, query), spec in spelled.items():
        assert named_spec_of(parse_rule(text, query=query)) == spec, text


# ----------------------------------------------------------------------------- a complex culprit gets a box

#: a non-symmetric rule, a prompt and a step size whose refuting eigenvalues are a complex pair (found by a
#: scan of small integer prompts with ``stability.decide``): ``det(t I - N)`` is irreducible with roots
#: about ``5.4 +/- 0.94 i`` (``|1 - l/2| > 1``) and ``1.2`` (stable), so no real root is to blame
COMPLEX_RULE, COMPLEX_FN = "kv_idx <= q_idx + 1", (lambda q, kv, n: kv <= q + 1)
COMPLEX_X, COMPLEX_ETA = [[F(-1), F(2)], [F(-1), F(-1)], [F(2), F(-1)]], F(1, 2)


def complex_case(scale=F(1)):
    """The variant at ``c = scale`` with a ``model_for`` for :func:`refute.check_witness` (the paper's
    construction at ``d = 2``: ``K^T Q = diag(1, 1, 0)``, ``P V = diag(0, 0, -1)``, ``Gamma_0 = I``)."""
    from proofs.variants import refute
    from proofs.variants.exact import model
    from proofs.variants.structure import custom, named

    attention, prefix = custom(parse_rule(COMPLEX_RULE)), named("prefix")
    kq, pv = sp.diag(1, 1, 0), sp.diag(0, 0, -1)
    variant = refute.Variant(attention, prefix, "constant", scale, {2: sp.eye(2)})
    model_for = lambda att, d: (lambda n, m: model(att, "constant", scale, kq, pv, n, m))  # noqa: E731
    return variant, model_for


def complex_witness() -> dict:
    from proofs.variants import refute

    variant, _ = complex_case()
    op = variant.operator(COMPLEX_X)
    return refute.make_witness(COMPLEX_X, COMPLEX_ETA, stability_module.decide(op, COMPLEX_ETA), op, None)


def recheck(w: dict, scale=F(1)) -> bool:
    from proofs.variants import refute

    return refute.check_witness(*complex_case(scale), w, need_prefix=False)


def test_complex_culprit_gets_a_certified_box():
    from test_variants import box_evidence

    w = complex_witness()
    e = w["eigenvalue"]
    assert w["reason"] == "eigenvalue" and "box" in e and "interval" not in e, w
    eigenvalues = np.linalg.eigvals(np.array(oracle_N(COMPLEX_FN, COMPLEX_X), dtype=float))
    assert np.any(np.abs(eigenvalues.imag) > 1e-6)  # the case is what it claims to be
    assert box_evidence(eigenvalues, COMPLEX_ETA, e["box"])  # one eigenvalue of N inside, no point in the disc
    assert all(isinstance(a, str) for side in e["box"] for a in side)
    assert recheck(w)


def test_mutation_box_off_the_root_in_the_disc_or_around_two_roots_is_rejected():
    """The package's re-check (``refute.check_witness``) refuses a box that holds no root (shifted), one that
    holds a stable root (meets the disc ``|1 - eta z| < 1``) and one that holds both culprits."""
    w = complex_witness()
    (re_lo, re_hi), (im_lo, im_hi) = ([F(a) for a in side] for side in w["eigenvalue"]["box"])

    def with_box(box):
        return {**w, "eigenvalue": {**w["eigenvalue"], "box": [[str(a) for a in side] for side in box]}}

    shifted = [[re_lo + 1, re_hi + 1], [im_lo, im_hi]]
    stable_root = [[F(1), F(7, 5)], [F(-1, 10), F(1, 10)]]  # the real root near 1.2: |1 - eta l| < 1
    both = [[re_lo, re_hi], [-im_hi, im_hi]]
    for box in (shifted, stable_root, both):
        assert not recheck(with_box(box)), box
    assert recheck(with_box([[re_lo, re_hi], [im_lo, im_hi]]))


def test_box_maps_to_another_scale():
    """At ``c = 3`` the witness maps exactly (box ``/ c``, ``eta * c``) and re-checks there; the unmapped box fails."""
    from test_variants import box_evidence

    from proofs.variants import scaling

    c = F(3)
    w = complex_witness()
    mapped = scaling.to_scale(w, c)
    assert [[F(a) for a in side] for side in mapped["eigenvalue"]["box"]] == [
        [F(a) / c for a in side] for side in w["eigenvalue"]["box"]]
    assert recheck(mapped, c)
    eigenvalues = np.linalg.eigvals(np.array(oracle_N(COMPLEX_FN, COMPLEX_X), dtype=float)) / float(c)
    assert box_evidence(eigenvalues, F(mapped["eta"]), mapped["eigenvalue"]["box"])
    stale = {**mapped, "eigenvalue": {**mapped["eigenvalue"], "box": w["eigenvalue"]["box"]}}
    assert not recheck(stale, c)


def test_box_refines_precision_near_the_circle_and_is_absent_on_it():
    """``t^2 - 2t + 2`` has roots ``1 +/- i`` (exact), with ``|1 - eta (1 + i)|^2 = 1 - 2 eta + 2 eta^2``: on the
    circle at ``eta = 1`` (no box can miss the disc), just outside it at ``eta = 1 + 10^-60`` (a box needs far
    more than 53 bits), far outside at ``eta = 3/2``."""
    from test_variants import misses_disc

    f = [F(1), F(-2), F(2)]
    assert "box" not in stability_module.eigen_evidence(f, F(1))
    for eta in (F(1) + F(1, 10**60), F(3, 2)):
        (re_lo, re_hi), (im_lo, im_hi) = stability_module.eigen_evidence(f, eta)["box"]
        assert re_lo <= 1 <= re_hi and im_lo <= 1 <= im_hi and (im_lo > -1 or im_hi < -1)  # 1 + i, not 1 - i
        assert misses_disc(eta, [[re_lo, re_hi], [im_lo, im_hi]])


def test_mutation_checker_without_the_region_or_count_test_is_caught(monkeypatch):
    """A re-check that skips the disc test (or the root count) accepts a box around the stable root (or around
    both culprits); the independent reading of SPEC 7.1 (:func:`test_variants.box_evidence`) refuses it."""
    from test_variants import box_evidence

    w = complex_witness()
    eigenvalues = np.linalg.eigvals(np.array(oracle_N(COMPLEX_FN, COMPLEX_X), dtype=float))
    (re_lo, re_hi), (_, im_hi) = ([F(a) for a in side] for side in w["eigenvalue"]["box"])
    for name, box in (("_bad_box", [[F(1), F(7, 5)], [F(-1, 10), F(1, 10)]]),
                      ("_box_isolates", [[re_lo, re_hi], [-im_hi, im_hi]])):
        with monkeypatch.context() as m:
            m.setattr(stability_module, name, lambda *args: True)
            texts = [[str(a) for a in side] for side in box]
            mutated = {**w, "eigenvalue": {**w["eigenvalue"], "box": texts}}
            assert recheck(mutated) and not box_evidence(eigenvalues, COMPLEX_ETA, texts), name
