"""Formal statements as data, and the exact checks that establish them.

A theorem's (or an assumption's) ``formal`` is a SymPy Boolean or a list of them, one
per conclusion: relations combined with ``And``, ``Implies``, ``Equivalent``, over named
symbols.  Some symbols name *quantities of the model* (the weight after one layer, the
iteration's eigenvalue factor, "the iteration converges"); a proof binds each to the
model's own value, computed through the ``Setup``, and decides the conclusion exactly:

- an equation that determines a quantity ``q`` (``Eq(q, F)``, ``Eq(F, q)``, ``Eq(q - G, H)``...)
  hands ``F`` to the check (:func:`solve_for`), which verifies the model's ``q`` is ``F``
  (``is_zero`` of the difference, or the layer run on the form at ``F``);
- a real statement (inequalities, ``Abs``, ``Max``, Boolean connectives) is decided by z3
  over the reals after the quantities are substituted (:func:`valid`): only ``unsat`` of
  its negation under the hypotheses counts.

Coverage is computed from the formula (:func:`establish`): every conclusion needs a check
whose subject symbol it mentions, and that check must pass on *that* conclusion, so a
negated, weakened or strengthened conclusion comes back ``failed``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import sympy as sp

from verify.logic import Untranslatable


class Conclusions(list):
    """A statement's conclusions, as a list (index, replace one) that SymPy reads as their conjunction, so
    ``sympy.Not(formal)`` negates the whole statement."""

    def _sympy_(self):
        return sp.And(*self)


def conclusions(formal) -> list:
    """The conclusions of a formal statement (a Boolean, or a list/tuple of them); a top-level ``And``
    is split into its conjuncts (each is a conclusion of its own)."""
    if formal is None:
        return []
    out = []
    for c in (list(formal) if isinstance(formal, (list, tuple)) else [formal]):
        out.extend(conclusions(list(c.args)) if isinstance(c, sp.And) else [c])
    return out


def render(formal) -> str:
    """Plain text of a formal statement (``sympy.sstr`` per conclusion, joined by ``;``)."""
    return "; ".join(sp.sstr(c) for c in conclusions(formal))


def render_latex(formal) -> str:
    r"""LaTeX of a formal statement (conclusions joined by ``\quad``)."""
    return r"\quad ".join(sp.latex(c) for c in conclusions(formal))


def solve_for(conclusion, q):
    """``F`` when ``conclusion`` is an equation equivalent to ``q = F`` with ``q`` entering with
    coefficient +-1 (``Eq(q, F)``, ``Eq(F, q)``, ``Eq(q - G, H)``...), else ``None``."""
    if not isinstance(conclusion, sp.Equality):
        return None
    diff = conclusion.lhs - conclusion.rhs
    for sign in (1, -1):
        value = _expand(q - sign * diff)
        if q not in _symbols(value):
            return value
    return None


def _expand(expr):
    if isinstance(expr, sp.MatrixExpr):
        return sp.expand(expr.doit())
    return sp.expand(expr)


def _symbols(expr) -> set:
    return set(expr.free_symbols) if hasattr(expr, "free_symbols") else set()


# ---------------------------------------------------------------- z3 over the reals



def to_z3_real(expr, env: dict, booleans: Sequence = ()):
    """The z3 term of a SymPy real/Boolean expression (``+ * / **k``, ``Abs``, ``Max``, ``Min``,
    ``Piecewise``, relations, ``And/Or/Not/Implies/Equivalent``); symbols in ``booleans`` are
    z3 ``Bool`` constants, every other symbol a ``Real``."""
    import z3

    from verify.logic import connective, relation

    flags = set(booleans)

    def var(s):
        if s not in env:
            env[s] = z3.Bool(s.name) if s in flags else z3.Real(s.name)
        return env[s]

    def go(e):
        if e is sp.true or e is True:
            return z3.BoolVal(True)
        if e is sp.false or e is False:
            return z3.BoolVal(False)
        if isinstance(e, sp.Rational):
            return z3.RealVal(f"{e.p}/{e.q}")
        if isinstance(e, sp.Symbol):
            return var(e)
        if isinstance(e, sp.Add):
            return reduce(lambda a, b: a + b, [go(t) for t in e.args])
        if isinstance(e, sp.Mul):
            return reduce(lambda a, b: a * b, [go(t) for t in e.args])
        if isinstance(e, sp.Pow) and e.exp.is_Integer:
            k = int(e.exp)
            base = go(e.base)
            power = reduce(lambda a, b: a * b, [base] * abs(k)) if k else z3.RealVal(1)
            return 1 / power if k < 0 else power
        if isinstance(e, sp.Abs):
            a = go(e.args[0])
            return z3.If(a >= 0, a, -a)
        if isinstance(e, sp.Rel):
            return relation(type(e), go(e.lhs), go(e.rhs))
        term = connective(e, go)
        if term is not None:
            return term
        raise Untranslatable(f"{type(e).__name__}: {e}")

    return go(sp.sympify(expr))


def valid(claim, hypotheses=(), booleans: Sequence = (), timeout_ms: int = 20000) -> tuple[bool, str]:
    """Decide ``for all reals: hypotheses => claim`` with z3 (nonlinear real arithmetic).

    ``(True, "")`` only when ``hypotheses and not claim`` is ``unsat``; otherwise ``(False, why)``
    with z3's counterexample (``sat``), or the reason it could not decide (``unknown``, or an
    expression outside the fragment).  A symbol's SymPy assumptions (positive, nonnegative)
    are restated as hypotheses.
    """
    import z3

    env: dict = {}
    try:
        goal = to_z3_real(claim, env, booleans)
        assumed = [to_z3_real(h, env, booleans) for h in hypotheses]
    except (Untranslatable, TypeError) as exc:
        return False, f"not decidable here ({exc})"
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*assumed)
    for sym, v in env.items():
        if sym in booleans:
            continue
        if sym.is_positive:
            solver.add(v > 0)
        elif sym.is_nonnegative:
            solver.add(v >= 0)
    solver.add(z3.Not(goal))
    answer = solver.check()
    if answer == z3.unsat:
        return True, ""
    if answer == z3.sat:
        model = solver.model()
        return False, "counterexample " + ", ".join(f"{s} = {model.eval(v, model_completion=True)}"
                                                    for s, v in sorted(env.items(), key=lambda kv: str(kv[0])))
    return False, "z3 answered unknown"


# ---------------------------------------------------------------- coverage


@dataclass(frozen=True)
class Check:
    """A check that establishes conclusions about one ``subject`` symbol of the formula.

    ``run(conclusion) -> (ok, why)`` decides *that* conclusion against the model.  ``kind`` is
    ``"symbolic"`` (for symbolic sizes) or ``"finite"`` (only at the sizes ``name`` states);
    ``assumes`` lists the ids of ``proofs.assumptions`` the check rests on.
    """

    subject: sp.Basic
    name: str
    run: Callable
    kind: str = "symbolic"
    assumes: tuple = ()


def establish(ledger, formal, checks: Sequence[Check]) -> list[dict]:
    """Run, for every conclusion of ``formal``, each check whose subject it mentions; record
    them in ``ledger`` and return the coverage: ``[{"conclusion", "checks", "kind", "assumes"}]``.

    A conclusion no check applies to is a failed check ("established by no check"): coverage
    is computed from the formula, never declared by the proof.
    """
    coverage = []
    # a formula written elsewhere may name a quantity with a plain Symbol("rho") (other assumptions): same name,
    # same quantity
    by_name = {c.subject.name: c.subject for c in checks if isinstance(c.subject, sp.Symbol)}
    for k, conclusion in enumerate(conclusions(formal), 1):
        conclusion = sp.sympify(conclusion)
        rename = {s: by_name[s.name] for s in _symbols(conclusion)
                  if isinstance(s, sp.Symbol) and s.name in by_name and s != by_name[s.name]}
        conclusion = conclusion.xreplace(rename) if rename else conclusion
        text = sp.sstr(conclusion)
        symbols = _symbols(conclusion)
        applicable = [c for c in checks if c.subject in symbols]
        if not applicable:
            ledger.symbolic(f"conclusion {k} ({text}) is established by no check", False,
                            "it mentions none of the quantities the proof computes: "
                            + ", ".join(sorted({str(c.subject) for c in checks})))
            coverage.append({"conclusion": text, "checks": [], "kind": "none", "assumes": []})
            continue
        kinds, assumed = set(), []
        for check in applicable:
            try:
                ok, why = check.run(conclusion)
            except Exception as exc:  # noqa: BLE001 - a check that crashes on a statement has not established it
                ok, why = False, f"{type(exc).__name__}: {exc}"
            record = ledger.symbolic if check.kind == "symbolic" else ledger.finite
            record(f"conclusion {k}: {check.name}", bool(ok), why)
            kinds.add(check.kind)
            assumed += [a for a in check.assumes if a not in assumed]
        coverage.append({"conclusion": text, "checks": [c.name for c in applicable],
                         "kind": "symbolic" if kinds == {"symbolic"} else "finite", "assumes": assumed})
    ledger.coverage.extend(coverage)
    return coverage


# ---------------------------------------------------------------- shared checks


def equation_check(subject, verify: Callable, what: str = "") -> Callable:
    """A ``Check.run`` for a conclusion that determines ``subject``: ``verify(F)`` decides whether the
    model's value of the subject is ``F`` (the value the conclusion gives)."""
    def run(conclusion):
        value = solve_for(conclusion, subject)
        if value is None:
            return False, f"not an equation that determines {subject}{what}"
        return bool(verify(value)), f"the model's {subject} is not {sp.sstr(value)}"
    return run


def model_equation(subject, model_value: Callable, name: str, kind: str = "symbolic", assumes: tuple = ()) -> Check:
    """A :class:`Check` of a conclusion that determines ``subject``: the value ``F`` the conclusion gives
    (:func:`solve_for`) must equal ``model_value()``, the model's own value of the subject computed
    through the setup (``None`` when the model's check failed), up to SymPy's exact zero test."""
    def run(conclusion):
        from .symbolic import same

        value = solve_for(conclusion, subject)
        if value is None:
            return False, f"not an equation that determines {subject}"
        model = model_value()
        if model is None:
            return False, f"the model's {subject} could not be computed (its check through the layer failed)"
        return same(value, model), f"the model's {subject} is {sp.sstr(model)}, not {sp.sstr(value)}"

    return Check(subject, name, run, kind, assumes)


def real_check(substitute: Callable[[], dict], hypotheses: Callable[[], Sequence] = tuple,
               booleans: Sequence = ()) -> Callable:
    """A ``Check.run`` deciding a real conclusion with z3 after substituting the model's quantities
    (``substitute()``, a dict) under ``hypotheses()`` (constraints the model or an assumption gives)."""
    def run(conclusion):
        claim = conclusion.xreplace(substitute())
        return valid(claim, list(hypotheses()), booleans)
    return run
