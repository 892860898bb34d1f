"""``verify.derive`` (the P10 engine), ``verify.matrix_text`` and ``icl-verify derive``.

Expected preconditioners come from the block formulas of SPEC P10 as worked out
by hand (``K^T Q = [[A, b], [c^T, e]]``, ``P V = [[F, g], [h^T, s]]``: F1 gives
``Gamma = -s A``, F2 ``Gamma = -h c^T``), and every classification is also
checked end to end against the numeric layer on random prompts.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from helpers import run_cli, run_json
from hypothesis import given, settings
from hypothesis import strategies as st

import verify.derive as derive_mod
import verify.profiles
from verify.construction import Construction, paper
from verify.derive import data_symbols, derive, update_text
from verify.errors import PromptError
from verify.lsa import lsa_layer
from verify.masks import attention_mask
from verify.matrix_text import parse_entry, parse_matrix
from verify.normalizers import normalizer
from verify.prompt import tokens
from verify.tolerances import agreement_tol

ETA = sp.Symbol("eta", positive=True)


def scaled(count: int) -> int:
    """``count`` examples (these properties run the exact symbolic path: slow), or the profile's own count
    under ``thorough``."""
    return settings().max_examples if verify.profiles.ACTIVE == "thorough" else count


# ----------------------------------------------------------------------------- building blocks


def assemble(d, A=None, b=None, c=None, e=0, F=None, g=None, h=None, s=0):
    """``K^T Q = [[A, b], [c^T, e]]`` and ``P V = [[F, g], [h^T, s]]`` (missing blocks are 0)."""
    z = lambda r, k: sp.zeros(r, k)  # noqa: E731
    A, F = (sp.Matrix(M) if M is not None else z(d, d) for M in (A, F))
    b, c, g, h = (sp.Matrix(v).reshape(d, 1) if v is not None else z(d, 1) for v in (b, c, g, h))
    kq = sp.Matrix(sp.BlockMatrix([[A, b], [c.T, sp.Matrix([[e]])]]))
    pv = sp.Matrix(sp.BlockMatrix([[F, g], [h.T, sp.Matrix([[s]])]]))
    return kq, pv


def rationals(rng, shape, nonzero=False):
    """Random exact rationals p/q (no zeros when ``nonzero``)."""
    def draw():
        while True:
            v = sp.Rational(int(rng.integers(-6, 7)), int(rng.integers(1, 5)))
            if v != 0 or not nonzero:
                return v
    return sp.Matrix(*shape, lambda *_: draw())


def f1(rng, d):
    A, s = rationals(rng, (d, d), nonzero=True), rationals(rng, (1, 1), nonzero=True)[0]
    return assemble(d, A=A, s=s), -s * A


def f2(rng, d):
    c, h = rationals(rng, (d, 1), nonzero=True), rationals(rng, (d, 1), nonzero=True)
    return assemble(d, c=c, h=h), -h * c.T


def layer_output(kq, pv, spec, kind, rng, d, n=5, m=3):
    """Numeric layer on a random prompt with initial weight ``w0``: ``(Z, Z', mask, c, X, y, Xq, w0)``."""
    X, Xq = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (m, d))
    y, w0 = rng.standard_normal(n), rng.standard_normal((1, d))
    Z = tokens(X, y[:, None], Xq, W0=w0)
    mask = attention_mask(spec, n, m)
    c = normalizer(kind, mask, 2.0)
    f = lambda M: np.array(M.tolist(), dtype=float)  # noqa: E731
    con = Construction(K=np.eye(d + 1), Q=f(kq), V=f(pv), P=np.eye(d + 1))
    return Z, lsa_layer(Z, con, mask, c), mask, c, X, y, Xq, w0


def weight_update_matches(kq, pv, step, spec, kind, rng, d):
    """The numeric layer gives ``[x_j; y_j - w_j' x_j]`` with
    ``w_j' = w0 + (1/c_j) sum_{i in A(j)} step(x_i, r_i)`` (``step`` returns a (d,) array)."""
    Z, out, mask, c, X, y, Xq, w0 = layer_output(kq, pv, spec, kind, rng, d)
    n = X.shape[0]
    allx = np.vstack([X, Xq])
    labels = np.concatenate([y, np.zeros(len(Xq))])
    r = y - X @ w0[0]
    want = Z.copy()
    for j in range(allx.shape[0]):
        w = w0[0] + sum(step(X[i], r[i]) for i in range(n) if mask[i, j]) / c[j]
        want[d, j] = labels[j] - w @ allx[j]
    return np.allclose(out, want, rtol=0, atol=agreement_tol(np.abs(out).max(), 1e2))


def gd_step(gamma):
    G = np.array(gamma.tolist(), dtype=float)
    return lambda x, r: r * x @ G


def classify_errors(derive_fn, rng) -> list:
    """Misclassifications of a corpus (members of F1, F2, trivial, form-only, non-members)."""
    errors = []
    for d in (1, 2):
        for family in (f1, f2):
            (kq, pv), gamma = family(rng, d)
            got = derive_fn(kq, pv)
            if not (got.preserves_token_form and got.implements_preconditioned_gd and got.gamma == gamma):
                errors.append((family.__name__, d, got.gamma, gamma))
        A, h = rationals(rng, (d, d), nonzero=True), rationals(rng, (d, 1), nonzero=True)
        got = derive_fn(*assemble(d, A=A, h=h, s=1))  # form kept, extra term (h^T x) x^T A
        if not got.preserves_token_form or got.implements_preconditioned_gd:
            errors.append(("form only", d))
        for bad in (dict(e=1), dict(b=[1] * d), dict(g=[1] * d), dict(F=sp.eye(d))):
            got = derive_fn(*assemble(d, A=sp.eye(d), s=-1, **bad))
            if got.preserves_token_form or got.implements_preconditioned_gd:
                errors.append(("non-member", d, bad))
    return errors


# ----------------------------------------------------------------------------- matrix_text


@pytest.mark.parametrize("entry, want", [
    (2, sp.Integer(2)), (-0.5, sp.Rational(-1, 2)), (0.1, sp.Rational(1, 10)), ("1/25", sp.Rational(1, 25)),
    ("-3/4", sp.Rational(-3, 4)), ("0.5", sp.Rational(1, 2)), (" 7 ", sp.Integer(7)), ("1e-3", sp.Rational(1, 1000)),
    ("eta", sp.Symbol("eta", real=True)), ("-eta", -sp.Symbol("eta", real=True)), ("w_2", sp.Symbol("w_2", real=True)),
])
def test_entries_parse_exactly(entry, want):
    got = parse_entry(entry, "kq")
    assert got == want and sp.simplify(got - want) == 0


@pytest.mark.parametrize("entry", [
    "x+1", "__import__", "__import__('os')", "eta*2", "2eta", "1/0", "", "nan", "inf", "Infinity",
    True, False, None, [1], {"a": 1}, "lambda: 0", "a" * 100, "1/2/3", "0x10", "1e999",
])
def test_bad_entries_are_refused_naming_the_field(entry):
    with pytest.raises(PromptError) as info:
        parse_matrix(json.dumps([[entry, 0], [0, 1]]), "pv")
    message = str(info.value)
    assert message.startswith("pv:") and "\n" not in message


@pytest.mark.parametrize("literal, words", [("NaN", "finite"), ("Infinity", "finite"), ("-Infinity", "finite"),
                                            ("1e400", "exponent 400")])
def test_non_finite_json_numbers_are_refused(literal, words):
    with pytest.raises(PromptError, match=f"^kq: .*{words}"):
        parse_matrix(f"[[{literal}, 0], [0, 1]]", "kq")


def test_json_numbers_keep_their_exact_spelling_and_long_ones_are_named():
    """A JSON float is read at its decimal spelling, not rounded to float64 first; a 5000-digit integer is
    refused for its length (not as "not valid JSON")."""
    import sympy as sp

    value = parse_matrix("[[0.1000000000000000000001, 0], [0, 1]]", "kq")[0, 0]
    assert value == sp.Rational(10**21 + 1, 10**22) and value != sp.Rational(1, 10)
    with pytest.raises(PromptError, match="^pv: a number of 5000 digits is above the limit"):
        parse_matrix(f"[[{'7' * 5000}, 0], [0, 1]]", "pv")


@pytest.mark.parametrize("text", [
    "[]", "[[]]", "[1, 2]", "[[1, 2], [3]]", "[[1, 2], [3, 4], [5, 6]]", "[[1]]", "{\"a\": 1}", "[[1, 0], [0, 1]",
    "[[[1], 0], [0, 1]]", "3", "null",
])
def test_malformed_matrices_are_refused(text):
    with pytest.raises(PromptError) as info:
        parse_matrix(text, "kq")
    assert str(info.value).startswith("kq:") and "\n" not in str(info.value)


def test_user_text_is_never_evaluated(monkeypatch, tmp_path):
    # sympify/parse_expr would evaluate text: make them explode, then parse a full matrix
    def boom(*_, **__):
        raise AssertionError("user text reached sympify")
    monkeypatch.setattr(sp, "sympify", boom)
    monkeypatch.setattr(sp.parsing.sympy_parser, "parse_expr", boom)
    M = parse_matrix('[[1, "1/2"], ["eta", "-0.25"]]', "kq")
    assert M == sp.Matrix([[1, sp.Rational(1, 2)], [sp.Symbol("eta", real=True), sp.Rational(-1, 4)]])
    marker = tmp_path / "pwned"
    with pytest.raises(PromptError):
        parse_matrix(json.dumps([[f"__import__('os').system('touch {marker}')", 0], [0, 1]]), "kq")
    assert not marker.exists()


def test_matrix_from_a_json_file_and_size_mismatch(tmp_path):
    path = tmp_path / "pv.json"
    path.write_text('[[0, 0], [0, "-eta"]]')
    assert parse_matrix(str(path), "pv") == sp.Matrix([[0, 0], [0, -sp.Symbol("eta", real=True)]])
    with pytest.raises(PromptError, match="^pv: .*3 x 3"):
        parse_matrix(str(path), "pv", size=3)
    with pytest.raises(PromptError, match="^kq: "):
        parse_matrix(str(tmp_path / "missing.json"), "kq")


# ----------------------------------------------------------------------------- classification


@pytest.mark.parametrize("d", [1, 2, 3])
def test_paper_construction_is_gd_with_gamma_eta_I(d):
    con = paper(ETA, d)  # V carries the -1: P V = [[0, 0], [0, -eta]]
    got = derive(con.kq, con.pv)
    assert got.preserves_token_form and got.implements_preconditioned_gd and not got.trivial
    assert sp.simplify(got.gamma - ETA * sp.eye(d)) == sp.zeros(d, d)


def test_paper_construction_variants_give_their_gamma():
    flipped = paper(ETA, 2)
    assert derive(flipped.kq, -flipped.pv).gamma == -ETA * sp.eye(2)  # gradient ascent
    gamma = sp.Matrix([[2, 1], [0, sp.Rational(1, 3)]])
    pre = paper(ETA, 2, gamma=gamma)  # K^T Q = [[Gamma, 0], [0, 0]]
    assert derive(pre.kq, pre.pv).gamma == ETA * gamma


@pytest.mark.parametrize("family", [f1, f2])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_members_of_each_family_have_the_exact_gamma(family, d):
    rng = np.random.default_rng(10 * d + (family is f2))
    (kq, pv), gamma = family(rng, d)
    got = derive(kq, pv)
    assert got.preserves_token_form and got.implements_preconditioned_gd
    assert got.gamma == gamma and got.extra == sp.zeros(1, d) and got.conditions == ()


@st.composite
def members(draw, d=st.integers(1, 2)):
    """A random F1 or F2 member with its hand-derived Gamma.  Example::

        @given(members())
        def test_it(member): kq, pv, gamma = member
    """
    d = draw(d)
    frac = st.fractions(-5, 5, max_denominator=4).filter(bool).map(sp.Rational)
    vec = lambda: sp.Matrix([draw(frac) for _ in range(d)])  # noqa: E731
    if draw(st.booleans()):
        A, s = sp.Matrix(d, d, [draw(frac) for _ in range(d * d)]), draw(frac)
        return (*assemble(d, A=A, s=s), -s * A)
    c, h = vec(), vec()
    return (*assemble(d, c=c, h=h), -h * c.T)


@settings(max_examples=scaled(10))
@given(members(), st.sampled_from(["prefix", "causal", "sliding:2", "block:2", "hybrid:2"]),
       st.sampled_from(["constant", "count"]), st.integers(0, 2 ** 16))
def test_members_run_as_preconditioned_gd_in_the_numeric_layer(member, spec, kind, seed):
    kq, pv, gamma = member
    got = derive(kq, pv)
    assert got.implements_preconditioned_gd and got.gamma == gamma
    d = gamma.rows
    assert weight_update_matches(kq, pv, gd_step(got.gamma), spec, kind, np.random.default_rng(seed), d)
    # and a wrong preconditioner does not match (the comparison can fail)
    assert not weight_update_matches(kq, pv, gd_step(got.gamma + sp.eye(d)), spec, kind, np.random.default_rng(seed), d)


@pytest.mark.parametrize("d", [1, 2])
def test_trivial_layers_are_gd_with_zero_gamma(d):
    rng = np.random.default_rng(d)
    pairs = ((sp.zeros(d + 1), rationals(rng, (d + 1, d + 1))), (rationals(rng, (d + 1, d + 1)), sp.zeros(d + 1)))
    for kq, pv in pairs:
        got = derive(kq, pv)
        assert got.preserves_token_form and got.implements_preconditioned_gd and got.trivial
        assert got.gamma == sp.zeros(d, d)


@pytest.mark.parametrize("d", [1, 2])
def test_form_kept_but_not_gd_reports_the_extra_terms(d):
    rng = np.random.default_rng(7 + d)
    A, c = rationals(rng, (d, d), nonzero=True), rationals(rng, (d, 1), nonzero=True)
    h, s = rationals(rng, (d, 1), nonzero=True), sp.Rational(-2, 3)
    kq, pv = assemble(d, A=A, c=c, h=h, s=s)
    got = derive(kq, pv)
    assert got.preserves_token_form and not got.implements_preconditioned_gd and got.gamma is None
    x, r = data_symbols(d)
    # hand derivation: t(x, r) = -(h^T x + s r)(x^T A + r c^T) = r x^T Gamma_0 + extra
    assert (got.term - (-(h.T * x)[0, 0] - s * r) * (x.T * A + r * c.T)).expand() == sp.zeros(1, d)
    assert (got.extra - (-(h.T * x)[0, 0] * x.T * A - s * r ** 2 * c.T)).expand() == sp.zeros(1, d)
    assert "extra terms" in update_text(got)
    step = lambda xi, ri: -(h_np @ xi + float(s) * ri) * (xi @ A_np + ri * c_np)  # noqa: E731
    A_np, c_np, h_np = (np.array(M.tolist(), dtype=float) for M in (A, c.T, h.T))
    c_np, h_np = c_np[0], h_np[0]
    for spec in ("prefix", "causal"):
        assert weight_update_matches(kq, pv, step, spec, "count", np.random.default_rng(d), d)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("bad", ["e", "b", "g", "F", "generic"])
def test_non_members_lose_the_token_form(d, bad):
    rng = np.random.default_rng(["e", "b", "g", "F", "generic"].index(bad) * 10 + d)  # str hash is salted
    if bad == "generic":
        kq, pv = rationals(rng, (d + 1, d + 1), nonzero=True), rationals(rng, (d + 1, d + 1), nonzero=True)
    else:
        extra = {"e": dict(e=1), "b": dict(b=[1] * d), "g": dict(g=[1] * d), "F": dict(F=sp.eye(d))}[bad]
        kq, pv = assemble(d, A=sp.eye(d), s=-1, **extra)
    got = derive(kq, pv)
    assert not got.preserves_token_form and not got.implements_preconditioned_gd and got.gamma is None
    assert "not preserved" in update_text(got)
    # independent check on the numeric layer under prefix attention, where every token reads the
    # same set: a kept form would move each label by -dw x_j with one shared dw
    Z, out, *_ = layer_output(kq, pv, "prefix", "constant", rng, d, n=6, m=4)
    moved = out - Z
    allx = Z[:d].T
    dw, *_ = np.linalg.lstsq(allx, -moved[d], rcond=None)
    unexplained = np.abs(moved[:d]).max() + np.abs(moved[d] + allx @ dw).max()
    assert unexplained > 1e-6


def test_symbolic_entries_report_conditions():
    a = sp.Symbol("a", real=True)
    kq, pv = assemble(2, A=sp.eye(2), e=a)[0], assemble(2, s=-1)[1]
    got = derive(kq, pv)
    assert not got.preserves_token_form and got.conditions == (a,)
    kq, pv = assemble(1, A=[[1]], c=[a])[0], assemble(1, s=ETA)[1]
    got = derive(kq, pv)
    assert got.preserves_token_form and not got.implements_preconditioned_gd
    assert set(got.conditions) == {ETA * a} or set(got.conditions) == {a * ETA}


@pytest.mark.parametrize("name", ["r", "x_1", "w_1", "c_j", "G_1_1", "y0", "r1", "eta"])
def test_parameter_names_never_clash_with_the_data(name):
    p = parse_entry(name, "pv")  # what the CLI makes of a user's name
    got = derive(*assemble(1, A=[[2]], s=p))
    assert got.implements_preconditioned_gd and got.gamma == sp.Matrix([[-2 * p]])
    got = derive(*assemble(1, A=[[1]], e=p, s=-1))
    assert not got.preserves_token_form and got.conditions == (p,)


def test_classification_corpus_and_a_wrong_rule_is_caught(monkeypatch):
    engine = derive_mod.derive_symbolic  # the corpus is numeric: call the engine itself, not the exact path
    assert classify_errors(engine, np.random.default_rng(0)) == []
    assert classify_errors(derive, np.random.default_rng(0)) == []
    # mutation 1: forget the shared-weight requirement (only check the x part)
    original = derive_mod.form_equations
    monkeypatch.setattr(derive_mod, "form_equations",
                        lambda kq, pv, sources=1: (original(kq, pv, sources)[0], [], None))
    assert classify_errors(engine, np.random.default_rng(0))
    monkeypatch.undo()
    # mutation 2: Gamma with the wrong sign (gradient ascent read as descent)
    solve = derive_mod.solve_gamma
    monkeypatch.setattr(derive_mod, "solve_gamma",
                        lambda t, d: (lambda G, c: (None if G is None else -G, c))(*solve(t, d)))
    assert classify_errors(engine, np.random.default_rng(0))
    monkeypatch.undo()
    # mutation 3: Gamma transposed (x_i^T Gamma read as Gamma x_i)
    monkeypatch.setattr(derive_mod, "solve_gamma",
                        lambda t, d: (lambda G, c: (None if G is None else G.T, c))(*solve(t, d)))
    assert classify_errors(engine, np.random.default_rng(0))


# ----------------------------------------------------------------------------- exact path = engine


@st.composite
def block_pairs(draw, d=st.integers(1, 2)):
    """``(K^T Q, P V)`` with each block ``A, b, c, e, F, g, h, s`` independently zero or random
    small rationals (entries often 0), so every branch of P10's characterization is drawn.  Example::

        @given(block_pairs())
        def test_it(pair): kq, pv = pair
    """
    d = draw(d)
    entry = st.fractions(-2, 2, max_denominator=2).map(sp.Rational)

    def block(rows, cols):
        if draw(st.booleans()):
            return sp.zeros(rows, cols)
        return sp.Matrix(rows, cols, [draw(entry) for _ in range(rows * cols)])

    kq = sp.Matrix(sp.BlockMatrix([[block(d, d), block(d, 1)], [block(1, d), block(1, 1)]]))
    pv = sp.Matrix(sp.BlockMatrix([[block(d, d), block(d, 1)], [block(1, d), block(1, 1)]]))
    return kq, pv


def disagreement(fast, slow) -> str:
    """Empty when two derivations of the same layer agree on everything they report."""
    for key in ("preserves_token_form", "implements_preconditioned_gd", "gamma", "conditions"):
        if getattr(fast, key) != getattr(slow, key):
            return f"{key}: {getattr(fast, key)} != {getattr(slow, key)}"
    for key in ("term", "extra"):
        a, b = getattr(fast, key), getattr(slow, key)
        if (a is None) != (b is None) or (a is not None and (a - b).expand() != sp.zeros(1, fast.d)):
            return f"{key}: {a} != {b}"
    if fast.preserves_token_form and (fast.bilinear - derive_mod._bilinear(slow)) != sp.zeros(fast.d, fast.d):
        return "Gamma_0 differs"
    return "" if fast.trivial == slow.trivial else "trivial differs"


@settings(max_examples=scaled(40))
@given(block_pairs())
def test_exact_path_agrees_with_the_engine(pair):
    kq, pv = pair
    assert disagreement(derive_mod.derive_exact(kq, pv), derive_mod.derive_symbolic(kq, pv)) == ""


def _corpus_disagrees(n=40) -> bool:
    rng = np.random.default_rng(3)
    for _ in range(n):
        d = int(rng.integers(1, 3))
        pick = lambda r, k: sp.zeros(r, k) if rng.random() < 0.4 else rationals(rng, (r, k))  # noqa: E731
        kq = sp.Matrix(sp.BlockMatrix([[pick(d, d), pick(d, 1)], [pick(1, d), pick(1, 1)]]))
        pv = sp.Matrix(sp.BlockMatrix([[pick(d, d), pick(d, 1)], [pick(1, d), pick(1, 1)]]))
        if disagreement(derive(kq, pv), derive_mod.derive_symbolic(kq, pv)):
            return True
    return False


def test_agreement_catches_a_wrong_exact_path(monkeypatch):
    assert not _corpus_disagrees()
    blocks = derive_mod.blocks
    # mutation 1: K^T Q's last column read as its last row (b and c swapped)
    monkeypatch.setattr(derive_mod, "blocks", lambda M: (lambda A, b, c, e: (A, c, b, e))(*blocks(M)))
    assert _corpus_disagrees()
    monkeypatch.undo()
    # mutation 2: an off-by-one zero test that never looks at the last entry (misses e, s)
    monkeypatch.setattr(derive_mod, "_is_zero", lambda M: all(v == 0 for v in list(M)[:-1]))
    assert _corpus_disagrees()
    monkeypatch.undo()
    # mutation 3: the top-left blocks transposed (x_i^T Gamma read as Gamma x_i)
    monkeypatch.setattr(derive_mod, "blocks", lambda M: (lambda A, b, c, e: (A.T, b, c, e))(*blocks(M)))
    assert _corpus_disagrees()


def test_a_60_by_60_numeric_matrix_is_classified_exactly(capsys):
    """The exact path on a large member of F1 (A random, s = -1/3) and on a form-kept non-member."""
    rng = np.random.default_rng(60)
    d = 59
    A = rationals(rng, (d, d))
    kq, pv = assemble(d, A=A, s=sp.Rational(-1, 3))
    got = derive(kq, pv)
    assert got.implements_preconditioned_gd and got.gamma == A / 3
    out = run_json(capsys, "derive", "--kq", json.dumps([[str(v) for v in row] for row in kq.tolist()]),
                   "--pv", json.dumps([[str(v) for v in row] for row in pv.tolist()]))
    assert out["preconditioner"] == [[str(v) for v in row] for row in (A / 3).tolist()]
    h = rationals(rng, (d, 1), nonzero=True)
    got = derive(*assemble(d, A=A, h=h, s=1))
    assert got.preserves_token_form and not got.implements_preconditioned_gd
    x, r = data_symbols(d)
    probe = {v: sp.Rational(k + 1, 7) for k, v in enumerate(x)} | {r: sp.Rational(2, 3)}
    want = (-(h.T * x)[0, 0] * (x.T * A) - r ** 2 * sp.zeros(1, d)).xreplace(probe)
    assert got.extra.xreplace(probe) == want  # exact, at a rational point


# ----------------------------------------------------------------------------- CLI


KEYS = {"preserves_token_form", "implements_preconditioned_gd", "preconditioner", "update", "latex"}


def test_cli_paper_construction_json(capsys):
    out = run_json(capsys, "derive", "--kq", "[[1, 0, 0], [0, 1, 0], [0, 0, 0]]",
                   "--pv", '[[0, 0, 0], [0, 0, 0], [0, 0, "-eta"]]')
    assert KEYS <= set(out)
    assert out["preserves_token_form"] is True and out["implements_preconditioned_gd"] is True
    assert out["preconditioner"] == [["eta", "0"], ["0", "eta"]]
    assert "Gamma" in out["update"] and "\\Gamma" in out["latex"]


def test_cli_rational_gamma_file_and_attention(capsys, tmp_path):
    kq, pv = tmp_path / "kq.json", tmp_path / "pv.json"
    kq.write_text("[[0, 0], [3, 0]]")          # F2: score reads the residual
    pv.write_text('[[0, 0], ["1/25", 0]]')      # value reads x
    out = run_json(capsys, "derive", "--kq", kq, "--pv", pv, "--attention", "causal")
    assert out["preconditioner"] == [["-3/25"]]
    assert "{1..j}" in out["update"]


def test_cli_non_member_and_summary(capsys):
    out = run_json(capsys, "derive", "--kq", "[[1, 0], [0, 1]]", "--pv", "[[0, 0], [0, -1]]")
    assert out["preserves_token_form"] is False and out["preconditioner"] is None
    assert out["implements_preconditioned_gd"] is False
    code, text, err = run_cli(capsys, "derive", "--kq", "[[1, 0], [0, 0]]", "--pv", "[[0, 0], [0, -1]]")
    assert code == 0 and "preserved" in text and "Gamma = [[1]]" in text


@pytest.mark.parametrize("argv", [
    ["--kq", "[[1, 0], [0, \"x+1\"]]", "--pv", "[[0, 0], [0, 1]]"],
    ["--kq", "[[1, 0], [0, 0]]", "--pv", "[[0, 0, 0], [0, 0, 0], [0, 0, 1]]"],
    ["--kq", "[[1, 0], [0]]", "--pv", "[[0, 0], [0, 1]]"],
    ["--kq", "[[1, 0], [0, 0]]", "--pv", "[[0, 0], [0, 1]]", "--attention", "diagonal"],
    ["--kq", "[[1, 0], [0, 0]]", "--pv", "[[0, 0], [0, true]]"],
])
def test_cli_bad_input_is_one_line_exit_2(capsys, argv, tmp_path):
    out_file = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "derive", *argv, "--json", out_file)
    assert code == 2 and err.count("\n") == 1 and "error" in err
    assert not out_file.exists()


def test_number_text_is_exact_and_bounded():
    """``prove --scale`` and matrix entries: exact rationals (no float rounding), bounded exponents, one line."""
    from fractions import Fraction

    from verify.rational import MAX_EXPONENT, parse_number

    assert parse_number("1e-3", "scale") == Fraction(1, 1000) != Fraction(1e-3)  # a float parser would round
    assert parse_number("-3/4", "scale") == Fraction(-3, 4)
    assert parse_number(f"1e{MAX_EXPONENT}", "scale") == 10**MAX_EXPONENT
    for text, words in ((f"1e{MAX_EXPONENT + 1}", "exponent"), ("1/0", "divides by zero"), ("eta", "not a number"),
                        ("1" * 65, "characters")):
        with pytest.raises(PromptError, match=f"^scale: .*{words}"):
            parse_number(text, "scale")
