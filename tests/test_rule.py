"""The custom attention rule of ``prove --rule`` (verify.rule): grammar, semantics, safety, CLI errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import z3
from helpers import run_cli

import verify.rule as rule_module
from verify.errors import PromptError
from verify.rule import MAX_DEPTH, MAX_LENGTH, parse_rule

#: rule text -> the same rule written by hand in Python (Python's own floor // and %)
RULES = {
    "kv_idx <= q_idx and (q_idx - kv_idx) % 2 == 0": lambda i, j, n: i <= j and (j - i) % 2 == 0,
    "kv_idx <= q_idx": lambda i, j, n: i <= j,
    "kv_idx // 3 == q_idx // 3 or kv_idx < q_idx": lambda i, j, n: i // 3 == j // 3 or i < j,
    "(kv_idx - q_idx) // 2 == -1 or kv_idx == q_idx": lambda i, j, n: (i - j) // 2 == -1 or i == j,
    "(kv_idx - q_idx) % 3 != 1 and not kv_idx > q_idx": lambda i, j, n: (i - j) % 3 != 1 and not i > j,
    "(kv_idx - q_idx) % -3 == -1 or kv_idx == q_idx": lambda i, j, n: (i - j) % -3 == -1 or i == j,
    "q_idx - 2 < kv_idx <= q_idx": lambda i, j, n: j - 2 < i <= j,
    "kv_idx * 2 >= n - q_idx or kv_idx == q_idx": lambda i, j, n: i * 2 >= n - j or i == j,
    "not (kv_idx > q_idx) and (kv_idx + q_idx) % (n + 1) < n - -1":
        lambda i, j, n: not (i > j) and (i + j) % (n + 1) < n - -1,
    "1 < 2 < 3 and kv_idx <= q_idx": lambda i, j, n: 1 < 2 < 3 and i <= j,
}


def brute_mask(fn, n: int, m: int) -> np.ndarray:
    """The mask written out from SPEC section 7: examples by the rule, queries read every example."""
    mask = np.zeros((n + m, n + m), dtype=bool)
    for i in range(n):
        for j in range(n + m):
            mask[i, j] = True if j >= n else bool(fn(i, j, n))
    return mask


def semantics_hold(parse=parse_rule) -> bool:
    """Every rule of RULES gives the hand-written mask at n = 1..8 (m = 2)."""
    for text, fn in RULES.items():
        rule = parse(text)
        for n in range(1, 9):
            if not np.array_equal(rule.mask(n, 2), brute_mask(fn, n, 2)):
                return False
            want = brute_mask(fn, n, 2)
            if any(bool(rule.reads(i, j, n)) != bool(want[i, j]) for i in range(n + 2) for j in range(n + 2)):
                return False
    return True


def test_rules_mean_what_python_means():
    assert semantics_hold()


def test_mutation_truncating_division_is_caught(monkeypatch):
    """A parser that divides like C (towards zero) disagrees on negative operands."""
    truncating = dict(rule_module._BINARY)
    truncating["//"] = lambda a, b: np.trunc(np.true_divide(a, b)).astype(np.int64)
    monkeypatch.setattr(rule_module, "_BINARY", truncating)
    assert not semantics_hold()


def test_mutation_precedence_is_caught(monkeypatch):
    """``and`` binding looser than ``or`` would change 'i == j or i < 1 and j > 5'."""
    text = "kv_idx == q_idx or kv_idx < 1 and q_idx > 5"
    fn = lambda i, j, n: i == j or (i < 1 and j > 5)  # noqa: E731
    assert np.array_equal(parse_rule(text).mask(8, 1), brute_mask(fn, 8, 1))
    wrong = lambda i, j, n: (i == j or i < 1) and j > 5  # noqa: E731
    assert not np.array_equal(parse_rule(text).mask(8, 1), brute_mask(wrong, 8, 1))


@pytest.mark.parametrize("text", list(RULES))
def test_z3_evaluation_agrees_with_python(text):
    rule, fn = parse_rule(text), RULES[text]
    zi, zj, zn = z3.Ints("kv_idx q_idx n")
    formula = rule.z3(zi, zj, zn)
    for n in (1, 4, 7):
        for i, j in itertools.product(range(n), repeat=2):
            value = z3.simplify(z3.substitute(formula, (zi, z3.IntVal(i)), (zj, z3.IntVal(j)), (zn, z3.IntVal(n))))
            assert z3.is_true(value) == bool(fn(i, j, n)), (text, i, j, n)


def test_large_values_do_not_overflow():
    """A rule whose values exceed int64 at this n is evaluated with Python integers."""
    text = ("kv_idx * kv_idx * kv_idx * kv_idx * kv_idx * kv_idx * 1000000 * 1000000 >= "
            "q_idx * q_idx * q_idx * q_idx * q_idx * q_idx * 1000000 * 1000000")
    rule = parse_rule(text)
    n = 40
    want = brute_mask(lambda i, j, n: i ** 6 * 10 ** 12 >= j ** 6 * 10 ** 12, n, 1)
    assert np.array_equal(rule.mask(n, 1), want)


@pytest.mark.parametrize("text, needle", [
    ('__import__("os").system("true")', "unknown name"),
    ("kv_idx.real < 1", "unexpected character"),
    ("lambda: 1", "unknown name"),
    ("open('x') < 1", "unknown name"),
    ("kv_idx if q_idx else n", "unknown name"),
    ("i <= j", "q_idx"),
    ("j >= i", "kv_idx"),
    ("kv_idx <= j", "is gone"),
    ("kv_idx ** 2 < 3", "expected a number"),
    ("[kv_idx] < 1", "unexpected character"),
    ("kv_idx < q_idx; kv_idx", "unexpected character"),
    ("x < 1", "unknown name"),
    ("kv_idx + 1", "not a condition"),
    ("(kv_idx < q_idx) + 1 > 0", "needs numbers"),
    ("kv_idx < q_idx and 3", "needs conditions"),
    ("not 2", "needs conditions"),
    ("kv_idx <", "expected a number"),
    ("(kv_idx < q_idx", "expected ')'"),
    ("kv_idx < q_idx)", "unexpected"),
    ("", "empty rule"),
    ("kv_idx < 10000000", "larger than"),
    ("kv_idx // (q_idx - kv_idx) == 0", "division by zero"),
    ("kv_idx % (n - 1) == 0", "division by zero"),
    ("kv_idx // (q_idx - 5) == 0", "division by zero"),
])
def test_refused_with_one_line(text, needle):
    with pytest.raises(PromptError) as info:
        parse_rule(text)
    message = str(info.value)
    assert message.startswith("rule: ") and needle in message and "\n" not in message


def test_depth_and_length_bounds():
    ok = "(" * MAX_DEPTH + "kv_idx < q_idx" + ")" * MAX_DEPTH
    parse_rule(ok if len(ok) <= MAX_LENGTH else "kv_idx < q_idx")
    with pytest.raises(PromptError, match="nesting deeper"):
        parse_rule("(" * (MAX_DEPTH + 1) + "kv_idx < q_idx" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(PromptError, match="nesting deeper"):
        parse_rule("not " * (MAX_DEPTH + 1) + "kv_idx < q_idx")
    with pytest.raises(PromptError, match="longer than"):
        parse_rule(" or ".join(["kv_idx < q_idx"] * 100))


def test_safe_divisors_are_accepted():
    parse_rule("kv_idx % (n + 1) == q_idx % 2")  # n + 1 >= 2 and 2 are never zero
    parse_rule("(kv_idx - q_idx) // -2 == 0")


@pytest.mark.parametrize("argv", [
    ["--rule", "kv_idx <= q_idx and"],
    ["--rule", '__import__("os")'],
    ["--rule", "kv_idx // (n - 1) == 0"],
    ["--rule", "kv_idx <= q_idx", "--attention", "causal"],
    ["--attention", "causal", "--kq", "[[1, 0], [0, 0]]"],
    ["--attention", "causal", "--kq", "[[1, 0], [0, 0]]", "--pv", '[[0, 0], [0, "x+1"]]'],
    ["--attention", "causal", "--kq", "[[1, 0], [0, 0]]", "--pv", "[[0, 0, 0], [0, 1, 0], [0, 0, 1]]"],
    ["--attention", "causal", "--kq", "[[1, 0], [0, 0]]", "--pv", '[[0, 0], [0, "-mu"]]'],
    ["--attention", "causal", "--scale", "0"],
    ["--attention", "causal", "--scale", "abc"],
    ["--attention", "nope"],
    ["--attention", "causal", "--normalization", "mean"],
    ["--attention", "causal", "P5"],
])
def test_cli_refuses_in_one_line_and_writes_nothing(capsys, tmp_path, argv):
    out = tmp_path / "out.json"
    code, stdout, stderr = run_cli(capsys, "prove", *argv, "--json", out)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_a_jordan_chain_inside_one_component_is_refused_by_stationary_and_rate(capsys, tmp_path):
    """Regression: ``kv_idx <= q_idx + 1`` on repeated examples makes one component whose ``N_CC`` has a Jordan
    chain at 0.  The block reported no zero eigenvalue, so ``stationary`` solved through a missing group inverse
    (an internal error) and ``rate`` said unstable without a reason.  Both must name the Jordan chain, and the
    rate's verdict must agree with docs/SPEC.md section 7 computed independently (tests/helpers.spec7_stable)."""
    from fractions import Fraction

    from helpers import save_prompt, spec7_stable

    n, d = 8, 2
    X = np.tile(np.arange(1, d + 1), (n, 1)).astype(float)
    path = save_prompt(tmp_path / "p.npz", X, np.ones(n), np.ones((1, d)))
    code, out, err = run_cli(capsys, "stationary", path, "--rule", "kv_idx <= q_idx + 1")
    assert code == 2 and "Jordan chain" in err and len(err.strip().splitlines()) == 1, err
    code, out, err = run_cli(capsys, "rate", path, "--eta", "0.1", "--rule", "kv_idx <= q_idx + 1", "--json", "-")
    import json

    result = json.loads(out)
    assert code == 0 and result["stable"] is False and "Jordan" in result["unstable_because"]
    rows = [[Fraction(int(v)) for v in x] for x in X]
    dot = lambda a, b: sum((p * q for p, q in zip(a, b)), Fraction(0))  # noqa: E731
    N = [[dot(rows[i], rows[j]) if i <= j + 1 else Fraction(0) for i in range(n)] for j in range(n)]  # c = 1
    R = [[rows[i][k] for i in range(n)] for k in range(d)]  # the query reads every example
    assert not spec7_stable(N, Fraction(1, 10), R)
