"""E0, engine conformance: numeric-only mistakes make ``prove`` fail; benign rewrites do not.

Each mistake is planted the way an outside test would: a module attribute of the package
(``verify.lsa.attend``, ``verify.construction.paper``, ``verify.masks.attention_mask``, ...) is
replaced by a wrapper that is wrong only on the numeric path, often only beyond some size the
symbolic proofs never sample (d >= 5, example 100, 7 examples, 40 tokens, 9 layers, the chunked
branch), or a function's source is edited and re-executed in its module.  E0 must then be
``failed`` (and ``prove`` exit 1, which one CLI test checks); the symbolic proofs alone would
not notice.  Benign rewrites (``Q^T K`` for the symmetric ``K^T Q`` of the paper, an entry of
``P`` that ``V``'s zero rows remove) must leave E0 ``checked`` and the proofs' statuses as they were.
"""
from __future__ import annotations

import inspect
import json
import textwrap

import numpy as np
import pytest

import verify.construction
import verify.lsa
import verify.masks
import verify.normalizers
import verify.rates
from proofs import conformance, registry
from verify.construction import Construction

E0 = conformance.THEOREM


def run_e0() -> dict:
    return registry.run(E0)


def _numeric(a) -> bool:
    return isinstance(a, np.ndarray)


# ---------------------------------------------------------------- the planted mistakes


def attend_half_step(original):
    def attend(targets, sources, construction, mask=None, c=1):
        out = original(targets, sources, construction, mask, c)
        return targets + 0.5 * (out - targets) if _numeric(targets) else out
    return verify.lsa, "attend", attend


def paper_double_step_from_d5(original):
    def paper(eta, d, k=1, gamma=None):
        con = original(eta, d, k, gamma)
        if _numeric(con.P) and d >= 5:
            return Construction(con.K, con.Q, con.V, 2 * con.P)
        return con
    return verify.construction, "paper", paper


def causal_reads_ahead_from_example_100(original):
    def attention_mask(spec, n, m):
        mask = original(spec, n, m)
        if _numeric(mask) and spec == "causal":
            mask = mask.copy()
            for j in range(100, n - 1):
                mask[j + 1, j] = True
        return mask
    return verify.masks, "attention_mask", attention_mask


def count_off_by_one_from_7_examples(original):
    def normalizer(kind, mask, scale=1.0):
        c = original(kind, mask, scale)
        return c + 1 if kind == "count" and _numeric(mask) and mask.shape[1] >= 7 else c
    return verify.normalizers, "normalizer", normalizer


def layer_perturbed_above_40_tokens(original):
    def lsa_layer(Z, construction, mask=None, c=1, chunk=None):
        out = original(Z, construction, mask, c, chunk)
        return out * (1 + 1e-7) if _numeric(out) and out.shape[-1] > 40 else out
    return verify.lsa, "lsa_layer", lsa_layer


def stack_skips_last_layer_from_9(original):
    def lsa_forward(Z, constructions, mask=None, c=1, chunk=None):
        constructions = list(constructions)
        if len(constructions) >= 9 and _numeric(Z):
            states = original(Z, constructions[:-1], mask, c, chunk)
            return states + [states[-1]]
        return original(Z, constructions, mask, c, chunk)
    return verify.lsa, "lsa_forward", lsa_forward


def mask_ignored_above_40_columns(original):
    def attend(targets, sources, construction, mask=None, c=1):
        if mask is not None and _numeric(targets) and np.shape(mask)[1] > 40:
            mask = None
        return original(targets, sources, construction, mask, c)
    return verify.lsa, "attend", attend


def chunked_branch_wrong_c(original):
    """The source of ``lsa_layer`` edited: its chunked branch divides by the first normalizer of each chunk."""
    source = textwrap.dedent(inspect.getsource(verify.lsa.lsa_layer)).replace("c[cols])", "c[start])")
    assert "c[start])" in source
    namespace = dict(vars(verify.lsa))
    exec(compile(source, "<mutated lsa_layer>", "exec"), namespace)  # noqa: S102 - the planted mistake
    return verify.lsa, "lsa_layer", namespace["lsa_layer"]


# three of our own, at thresholds the symbolic proofs never sample


def value_sign_flipped_from_d20(original):
    def paper(eta, d, k=1, gamma=None):
        con = original(eta, d, k, gamma)
        return Construction(con.K, con.Q, -con.V, con.P) if _numeric(con.V) and d >= 20 else con
    return verify.construction, "paper", paper


def schedule_ignored_from_30_layers(original):
    def lsa_forward(Z, constructions, mask=None, c=1, chunk=None):
        constructions = list(constructions)
        if len(constructions) >= 30 and _numeric(Z):
            constructions = [constructions[0]] * len(constructions)
        return original(Z, constructions, mask, c, chunk)
    return verify.lsa, "lsa_forward", lsa_forward


def seventh_query_misses_an_example(original):
    def attention_mask(spec, n, m):
        mask = original(spec, n, m)
        if _numeric(mask) and m >= 7:
            mask = mask.copy()
            mask[np.flatnonzero(mask[:n, n + 6])[0], n + 6] = False
        return mask
    return verify.masks, "attention_mask", attention_mask


def rate_off_from_9_examples(original):
    def analyse(X, mask, c, eta, gamma=None, layers=None, max_growth=10.0):
        out = dict(original(X, mask, c, eta, gamma, layers, max_growth))
        if np.shape(X)[0] >= 9:
            out["rate"] *= 1 + 1e-6
        return out
    return verify.rates, "analyse", analyse


def stationary_weights_off_from_100_examples(original):
    import verify.lemma

    def stationary_weights(X, Y, mask, c, W0=None, gamma=None):
        W = original(X, Y, mask, c, W0, gamma)
        return W * (1 + 1e-6) if np.shape(X)[0] >= 100 else W
    return verify.lemma, "stationary_weights", stationary_weights


def stable_range_off_from_100_examples(original):
    def analyse(X, mask, c, eta, gamma=None, layers=None, max_growth=10.0):
        out = dict(original(X, mask, c, eta, gamma, layers, max_growth))
        if np.shape(X)[0] >= 100:
            out["stable_eta_max"] *= 1.001
        return out
    return verify.rates, "analyse", analyse


def depth_safe_eta_unsafe_from_10_layers(original):
    def analyse(X, mask, c, eta, gamma=None, layers=None, max_growth=10.0):
        out = dict(original(X, mask, c, eta, gamma, layers, max_growth))
        if layers is not None and layers >= 10:
            out["depth_safe_eta"] *= 1.5
        return out
    return verify.rates, "analyse", analyse


MISTAKES = [attend_half_step, paper_double_step_from_d5, causal_reads_ahead_from_example_100,
            count_off_by_one_from_7_examples, layer_perturbed_above_40_tokens, stack_skips_last_layer_from_9,
            mask_ignored_above_40_columns, chunked_branch_wrong_c, value_sign_flipped_from_d20,
            schedule_ignored_from_30_layers, seventh_query_misses_an_example, rate_off_from_9_examples,
            stationary_weights_off_from_100_examples, stable_range_off_from_100_examples,
            depth_safe_eta_unsafe_from_10_layers]


def plant(monkeypatch, mistake) -> None:
    module, name, wrong = mistake(None)
    original = getattr(module, name)
    module, name, wrong = mistake(original)
    monkeypatch.setattr(module, name, wrong)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda f: f.__name__)
def test_a_numeric_only_mistake_fails_engine_conformance(monkeypatch, mistake):
    plant(monkeypatch, mistake)
    entry = run_e0()
    assert entry["status"] == "failed", (mistake.__name__, entry.get("detail"))
    assert "detail" in entry and entry["detail"]


def test_a_failed_e0_fails_the_theorems_the_commands_rely_on_and_prove_exits_1(monkeypatch, capsys, tmp_path):
    from verify.cli import main

    plant(monkeypatch, attend_half_step)
    out = tmp_path / "prove.json"
    code = main(["prove", "P1", "--json", str(out), "--no-progress"])
    data = json.loads(out.read_text())
    assert code == 1
    by_id = {e["id"]: e for e in data["theorems"]}
    assert by_id["P1"]["status"] == "failed" and "E0 failed" in by_id["P1"]["detail"]


def test_gating_only_fails_never_lowers():
    entries = [{"id": "E0", "status": "checked", "depends_on": []},
               {"id": "P1", "status": "proved", "depends_on": []}]
    assert [e["status"] for e in registry.compose(entries)] == ["checked", "proved"]
    entries[0]["status"] = "failed"
    assert [e["status"] for e in registry.compose(entries)] == ["failed", "failed"]
    assert "E0" in [t.id for t in registry.closure(registry.theorems(), ["P2"])]


# ---------------------------------------------------------------- benign rewrites


def q_transpose_k(monkeypatch):
    """``Q^T K`` for ``K^T Q``: equal for the paper's symmetric ``K = Q`` (and a symmetric Gamma)."""
    monkeypatch.setattr(Construction, "kq", property(lambda self: self.Q.T @ self.K))


def p_entry_removed_by_v(monkeypatch):
    """An entry of ``P`` in a column that ``V``'s zero rows remove (``(P V)`` is unchanged)."""
    original = verify.construction.paper

    def paper(eta, d, k=1, gamma=None):
        con = original(eta, d, k, gamma)
        if not _numeric(con.P):
            return con
        P = con.P.copy()
        P[0, 0] += 7.0
        return Construction(con.K, con.Q, con.V, P)
    monkeypatch.setattr(verify.construction, "paper", paper)


@pytest.mark.parametrize("rewrite", [q_transpose_k, p_entry_removed_by_v], ids=lambda f: f.__name__)
def test_a_benign_rewrite_leaves_the_statuses_as_they_were(monkeypatch, rewrite):
    chosen = [t for t in registry.theorems() if t.id in ("E0", "L6", "P1")]
    before = [registry.run(t)["status"] for t in chosen]
    rewrite(monkeypatch)
    after = [registry.run(t)["status"] for t in chosen]
    assert after == before == ["checked", "proved", "proved"]


# ---------------------------------------------------------------- the reference is the symbolic model


def test_the_reference_reads_the_symbolic_rule_and_certificate():
    setup = registry.Setup()
    sets = conformance.reference_sets(setup, "sliding:3", 6, 2)
    assert [s.tolist() for s in sets[:6]] == [[0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    assert sets[6].tolist() == sets[7].tolist() == [3, 4, 5]
    assert conformance.reference_normalizers(setup, "block:2", "count", 1.0, 5, 1) == [2, 2, 4, 4, 5, 5]
    assert conformance.construction_check(setup, 3, 1, 0.25, None) == ""


def test_reference_normalizers_are_python_integers_inside_their_fractions():
    """A normalizer evaluated on numpy token indices can yield numpy int64 values; a Fraction built on them keeps
    int64 parts and overflows (wraps) in exact arithmetic.  The reference's Fractions hold Python ints."""
    setup = registry.MUTATIONS["normalizer-off-from-9"]  # its Piecewise evaluates to numpy integers
    values = conformance.reference_normalizers(setup, "causal", "constant", 1.0, 9, 2)
    assert values == [2] * 11
    assert all(type(v.numerator) is int and type(v.denominator) is int for v in values)


def test_the_reference_is_not_the_numeric_engine(monkeypatch):
    """Replacing the numeric mask, normalizer and layer does not change the reference (it never calls them)."""
    setup = registry.Setup()
    want = [s.tolist() for s in conformance.reference_sets(setup, "causal", 5, 1)]
    monkeypatch.setattr(verify.masks, "attention_mask", lambda *a: 1 / 0)
    monkeypatch.setattr(verify.lsa, "lsa_forward", lambda *a: 1 / 0)
    assert [s.tolist() for s in conformance.reference_sets(setup, "causal", 5, 1)] == want


def test_a_wrong_symbolic_rule_fails_the_reference_itself():
    """The reference reads the setup's symbolic ``reads``: a wrong one makes E0 disagree with the engine."""
    setup = registry.MUTATIONS["mask-ahead"]
    case = conformance.Case("simulate", "causal", "constant", 6, 1, 2, layers=2)
    failures: list = []
    conformance.run_simulate(setup, case, failures, [])
    assert failures


# ---------------------------------------------------------------- the commands look the model up at call time


def _simulate_output(dense: bool = False):
    """simulate's query predictions on a causal prompt: through the rule (the associative layer) or, with
    ``dense``, through the dense mask ``attention_mask`` builds (the path of ``--attention-mask``, ``attend``)."""
    from verify import masks
    from verify.commands.common import model_of
    from verify.commands.simulate import simulate
    from verify.prompt import make_prompt

    rng = np.random.default_rng(3)
    X, y, Xq = rng.standard_normal((8, 2)), rng.standard_normal(8), rng.standard_normal((2, 2))
    attention = np.asarray(masks.attention_mask("causal", 8, 2)) if dense else "causal"
    model = model_of(make_prompt(X, y, Xq), attention, "count")
    return np.asarray(simulate(model, [0.1, 0.1])["query_predictions"])


# simulate runs the stack one layer at a time through ``verify.lsa.lsa_layer`` (so ``lsa_forward``, the Python
# API's stack, is not on its path: E0's ``forward_check`` runs it, see test_each_planted_mistake_fails_e0)
@pytest.mark.parametrize("dense", [False, True], ids=["rule", "dense-mask"])
@pytest.mark.parametrize("mistake", [attend_half_step, paper_double_step_from_d5, count_off_by_one_from_7_examples,
                                     causal_reads_ahead_from_example_100],
                         ids=lambda f: f.__name__)
def test_replacing_a_model_name_changes_what_simulate_computes(monkeypatch, mistake, dense):
    module, name, _ = mistake(None)
    if not dense and name in ("attend", "attention_mask"):
        pytest.skip("a named attention's rule runs the associative layer: no attend, no dense mask")
    before = _simulate_output(dense)
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: _scaled(original(*a, **k)))
    assert not np.array_equal(_simulate_output(dense), before), name


def _scaled(value):
    """A visibly different result of the same type (what a replacement could return)."""
    if isinstance(value, Construction):
        return Construction(value.K, value.Q, value.V, 3 * value.P)
    if isinstance(value, list):
        return [2 * v for v in value]
    if value.dtype == bool:
        return np.ones_like(value) & value[:, :1]
    return 2 * value


def test_replacing_attend_changes_what_the_simulate_command_prints(monkeypatch, capsys, tmp_path):
    """From outside, through the CLI: ``verify.lsa.attend`` replaced, ``icl-verify simulate`` prints other numbers."""
    from helpers import run_cli

    rng = np.random.default_rng(5)
    prompt = tmp_path / "p.npz"
    np.savez(prompt, X=rng.standard_normal((6, 2)), y=rng.standard_normal(6), Xq=rng.standard_normal((2, 2)))
    mask = tmp_path / "causal.npy"  # a dense mask file runs ``attend`` (a rule runs the associative form)
    np.save(mask, verify.masks.attention_mask("causal", 6, 2))

    def predictions() -> list:
        code, out, err = run_cli(capsys, "simulate", prompt, "--eta", "0.1", "--layers", "3", "--attention-mask",
                                 mask, "--json", "-")
        assert code == 0, err
        return json.loads(out)["query_predictions"]

    before = predictions()
    _, _, half = attend_half_step(verify.lsa.attend)
    monkeypatch.setattr(verify.lsa, "attend", half)
    assert predictions() != before


def test_the_evaluator_computes_rules_exactly_and_refuses_what_it_does_not_know():
    import sympy as sp

    from proofs.instantiate import evaluate

    i, j = sp.symbols("i j", integer=True)
    grid = np.arange(12)
    assert (evaluate(sp.floor(i / 3) <= sp.floor(j / 3), {i: grid, j: 5}) == (grid // 3 <= 1)).all()
    assert (evaluate(sp.Piecewise((i + 1, i < 4), (sp.Max(4, j - 2), True)), {i: grid, j: 9})
            == np.where(grid < 4, grid + 1, 7)).all()
    assert (evaluate(sp.Rational(1, 3) * i < 2, {i: grid}) == (grid < 6)).all()
    with pytest.raises(ValueError, match="cannot evaluate"):
        evaluate(sp.sin(i) > 0, {i: grid})
