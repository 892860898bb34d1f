"""Facts about attention rules for every size, decided by an SMT solver (z3).

The attention rule ``verify.masks.reads`` evaluated at SymPy integer symbols is a
SymPy Boolean in ``i``, ``j``, ``n`` (linear integer arithmetic, floor division and
remainders by constants, ``min``/``max``).  :func:`to_z3` translates such expressions
into z3 terms, and :func:`holds` asks z3 whether a claim follows from hypotheses for
*all* integer values of the symbols: an ``unsat`` answer for ``hypotheses and not
claim`` is a proof; anything else (``sat`` with a counterexample, or ``unknown``) is
not, so a fact is never reported true by accident.
"""
from __future__ import annotations

from functools import reduce

import sympy as sp


class Untranslatable(ValueError):
    """A SymPy expression outside the fragment :func:`to_z3` understands."""


def to_z3(expr, env: dict):
    """The z3 term of a SymPy integer/Boolean expression.

    ``env`` maps SymPy symbols to z3 ``Int`` constants (missing ones are created as
    integers).  Supported: integers, symbols, ``+``, ``*``, ``floor(p/q)`` with ``q`` a
    positive integer constant, ``Mod(a, q)``, ``Min``, ``Max``, ``Piecewise``, relations,
    ``And``, ``Or``, ``Not``, ``Implies``, ``Xor``, ``true``/``false``.  Python's floor
    semantics for ``//`` and ``%`` by a positive constant coincide with z3's ``div`` and ``mod``.
    """
    import z3

    def go(e):
        if e is sp.true or e is True:
            return z3.BoolVal(True)
        if e is sp.false or e is False:
            return z3.BoolVal(False)
        if isinstance(e, (int, sp.Integer)):
            return z3.IntVal(int(e))
        if isinstance(e, sp.Symbol):
            if e not in env:
                env[e] = z3.Int(e.name)
            return env[e]
        if isinstance(e, sp.Add):
            return reduce(lambda a, b: a + b, [go(t) for t in e.args])
        if isinstance(e, sp.Mul):
            return reduce(lambda a, b: a * b, [go(t) for t in e.args])
        if isinstance(e, sp.floor):
            numer, denom = sp.fraction(sp.together(e.args[0]))
            if not (denom.is_Integer and denom > 0):
                raise Untranslatable(f"floor of {e.args[0]} (the divisor must be a positive integer constant)")
            return go(sp.expand(numer)) / int(denom)
        if isinstance(e, sp.Mod):
            a, q = e.args
            if not (q.is_Integer and q > 0):
                raise Untranslatable(f"{e} (the modulus must be a positive integer constant)")
            return go(a) % int(q)
        if isinstance(e, sp.Rel):
            # SymPy rewrites floor(i/3) <= floor(j/3) as i/3 < floor(j/3) + 1: clear the (positive)
            # denominators of rational coefficients outside floors, which keeps the direction
            diff = e.lhs - e.rhs
            scale = sp.ilcm(1, 1, *[r.q for r in _outside_floor_rationals(diff)])
            return relation(type(e), go(sp.expand(diff * scale)), z3.IntVal(0))
        term = connective(e, go)
        if term is not None:
            return term
        raise Untranslatable(f"{type(e).__name__}: {e}")

    return go(sp.sympify(e) if isinstance((e := expr), (int, bool)) else expr)


def relation(kind, a, b):
    """The z3 relation ``a kind b`` for a SymPy relation class ``kind``."""
    ops = {sp.StrictLessThan: lambda: a < b, sp.LessThan: lambda: a <= b, sp.StrictGreaterThan: lambda: a > b,
           sp.GreaterThan: lambda: a >= b, sp.Equality: lambda: a == b, sp.Unequality: lambda: a != b}
    for cls, make in ops.items():
        if issubclass(kind, cls):
            return make()
    raise Untranslatable(f"relation {kind.__name__}")


def connective(e, go):
    """The z3 term of ``Min``/``Max``, ``Piecewise`` or a Boolean connective (``And``, ``Or``, ``Not``,
    ``Implies``, ``Equivalent``, ``Xor``) whose arguments ``go`` translates; ``None`` for anything else.
    Shared by the integer translation here and the real one of ``proofs.formal``."""
    import z3

    if isinstance(e, (sp.Min, sp.Max)):
        args = [go(t) for t in e.args]
        pick = (lambda a, b: z3.If(a <= b, a, b)) if isinstance(e, sp.Min) else (lambda a, b: z3.If(a >= b, a, b))
        return reduce(pick, args)
    if isinstance(e, sp.Piecewise):
        out = None
        for value, cond in reversed(e.args):
            out = go(value) if out is None else z3.If(go(cond), go(value), out)
        return out
    if isinstance(e, sp.And):
        return z3.And(*[go(t) for t in e.args])
    if isinstance(e, sp.Or):
        return z3.Or(*[go(t) for t in e.args])
    if isinstance(e, sp.Not):
        return z3.Not(go(e.args[0]))
    if isinstance(e, sp.Implies):
        return z3.Implies(go(e.args[0]), go(e.args[1]))
    if isinstance(e, sp.Equivalent):
        terms = [go(t) for t in e.args]
        return z3.And(*[terms[0] == t for t in terms[1:]])
    if isinstance(e, sp.Xor):
        return reduce(z3.Xor, [go(t) for t in e.args])
    return None


def _outside_floor_rationals(expr) -> list:
    if isinstance(expr, (sp.floor, sp.Mod)):
        return []
    if isinstance(expr, sp.Rational):
        return [expr]
    return [r for arg in expr.args for r in _outside_floor_rationals(arg)]


def holds(claim, hypotheses=(), timeout_ms: int = 20000) -> tuple[bool, dict | None]:
    """Decide ``for all integers: hypotheses => claim`` (SymPy Booleans).

    Returns ``(True, None)`` when z3 proves it (``hypotheses and not claim`` is unsat),
    ``(False, counterexample)`` when z3 finds integers violating it (a dict symbol name ->
    int), and ``(False, None)`` when the expression cannot be translated or z3 answers
    ``unknown``: only a proof counts.
    """
    import z3

    env: dict = {}
    try:
        goal = to_z3(claim, env)
        assumed = [to_z3(h, env) for h in hypotheses]
    except Untranslatable:
        return False, None
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*assumed)
    # SymPy already folded what a symbol's assumptions imply (n >= 1 is True for a positive n): restate them
    for sym, var in env.items():
        if sym.is_positive:
            solver.add(var >= 1)
        elif sym.is_nonnegative:
            solver.add(var >= 0)
        if sym.is_negative:
            solver.add(var <= -1)
        elif sym.is_nonpositive:
            solver.add(var <= 0)
    solver.add(z3.Not(goal))
    answer = solver.check()
    if answer == z3.unsat:
        return True, None
    if answer == z3.sat:
        model = solver.model()
        return False, {str(sym): model.eval(var, model_completion=True).as_long() for sym, var in env.items()}
    return False, None


def equivalent(a, b, hypotheses=()) -> tuple[bool, dict | None]:
    """``holds(a <=> b, hypotheses)``."""
    return holds(sp.Equivalent(a, b) if not _is_int(a) else sp.Eq(a, b), hypotheses)


def _is_int(e) -> bool:
    return not isinstance(e, (bool, sp.logic.boolalg.Boolean))
