"""Evaluate a formal statement at one instance: the spot checks of ``proofs.assumptions``.

An instance gives a value to every symbol of the formula: numbers (exact SymPy rationals
where the boundary matters, floats where only a numeric value is available), Booleans,
functions (a ``sympy.Lambda`` for a function symbol such as ``p``) and finite families
(a list for an ``IndexedBase`` such as ``lambda``, with the size symbol set to its length).
:func:`holds_at` substitutes them and decides the Boolean structure itself: a relation
between exact numbers is decided exactly, one involving floats up to a relative tolerance
(``Eq`` within it, ``<`` only beyond it), so a float that equals the boundary is read as
the boundary.

``MaxOver(expr, i, lo, hi)`` is ``max_{lo <= i <= hi} expr``: the aggregate the statements
need over a family of symbolic length; it is evaluated term by term once ``lo`` and ``hi`` are integers.
"""
from __future__ import annotations

import sympy as sp


class MaxOver(sp.Function):
    """``max_{i = lo..hi} expr``, kept unevaluated (``holds_at`` evaluates it term by term)."""

    @classmethod
    def eval(cls, expr, i, lo, hi):
        return None


def holds_at(formula, values: dict, rtol: float = 1e-9) -> bool:
    """The truth value of ``formula`` at the instance ``values`` (see the module docstring).

    Sizes and functions are substituted first; each relation's two sides are then evaluated
    separately (:func:`_number`), before SymPy could decide a relation between floats exactly.
    """
    out, sizes = _sized(formula, values)
    env = {s: (sp.true if v is True else sp.false if v is False else v)
           for s, v in values.items() if not isinstance(s, sp.FunctionClass) and s not in sizes}
    return _truth(out, env, rtol)


def _sized(formula, values: dict):
    """``(formula with the sizes and functions of values substituted, the sizes)``; sums over a now
    finite range are expanded."""
    sizes = {s: sp.Integer(v) for s, v in values.items()
             if isinstance(s, sp.Symbol) and s.is_integer and isinstance(v, int)}
    out = formula.xreplace(sizes).doit()
    for f, lam in values.items():
        if isinstance(f, sp.FunctionClass):
            out = out.subs(f, lam)
    return out, sizes


def _truth(e, env, rtol) -> bool:
    if e is sp.true or e is True:
        return True
    if e is sp.false or e is False:
        return False
    if isinstance(e, sp.Symbol):
        if env.get(e) not in (sp.true, sp.false):
            raise ValueError(f"the Boolean {e} has no truth value at this instance")
        return env[e] is sp.true
    if isinstance(e, sp.And):
        return all(_truth(a, env, rtol) for a in e.args)
    if isinstance(e, sp.Or):
        return any(_truth(a, env, rtol) for a in e.args)
    if isinstance(e, sp.Not):
        return not _truth(e.args[0], env, rtol)
    if isinstance(e, sp.Implies):
        return (not _truth(e.args[0], env, rtol)) or _truth(e.args[1], env, rtol)
    if isinstance(e, sp.Equivalent):
        values = [_truth(a, env, rtol) for a in e.args]
        return all(v == values[0] for v in values)
    if isinstance(e, sp.Xor):
        return sum(_truth(a, env, rtol) for a in e.args) % 2 == 1
    if isinstance(e, sp.Rel):
        return _compare(_number(e.lhs, env), _number(e.rhs, env), type(e), rtol)
    raise ValueError(f"cannot evaluate {e} at this instance: a symbol has no value")


def _number(x, env) -> tuple:
    """``(value, exact)``: a SymPy Rational (exact) or a float; ``MaxOver``, ``Max``, ``Min`` term by term."""
    x = sp.sympify(x)
    if isinstance(x, MaxOver):
        expr, i, lo, hi = x.args
        if not (lo.is_Integer and hi.is_Integer) or hi < lo:
            raise ValueError(f"{x}: the range must be given and non-empty")
        return _pick(max, [_number(expr.xreplace({i: sp.Integer(k)}), env) for k in range(int(lo), int(hi) + 1)])
    if isinstance(x, (sp.Max, sp.Min)):
        return _pick(max if isinstance(x, sp.Max) else min, [_number(a, env) for a in x.args])
    families = {b: v for b, v in env.items() if isinstance(b, sp.IndexedBase)}
    x = x.replace(lambda e: isinstance(e, sp.Indexed) and e.base in families,
                  lambda e: sp.sympify(families[e.base][int(e.indices[0]) - 1]))
    x = x.xreplace({s: sp.sympify(v) for s, v in env.items() if isinstance(s, sp.Symbol)}).doit()
    if x.is_Rational:
        return x, True
    if x.free_symbols:
        raise ValueError(f"{x} still has free symbols {sorted(map(str, x.free_symbols))}")
    value = complex(sp.N(x, 30))
    if abs(value.imag) > 1e-12 * max(1.0, abs(value)):
        raise ValueError(f"{x} is not real")
    return value.real, False


def _pick(choose, args) -> tuple:
    value = choose(args, key=lambda v: float(v[0]))
    return (value[0], True) if all(exact for _, exact in args) else (float(value[0]), False)


def _compare(left, right, kind, rtol) -> bool:
    (a, exact_a), (b, exact_b) = left, right
    if exact_a and exact_b:
        return bool({sp.Equality: a == b, sp.Unequality: a != b, sp.StrictLessThan: a < b, sp.LessThan: a <= b,
                     sp.StrictGreaterThan: a > b, sp.GreaterThan: a >= b}[kind])
    a, b = float(a), float(b)
    tol = rtol * max(1.0, abs(a), abs(b))
    same = abs(a - b) <= tol
    return {sp.Equality: same, sp.Unequality: not same, sp.StrictLessThan: a < b and not same,
            sp.LessThan: a < b or same, sp.StrictGreaterThan: a > b and not same,
            sp.GreaterThan: a > b or same}[kind]


def instance(formula, values: dict):
    """``formula`` at a *symbolic* instance: sizes, functions, families (lists of expressions) and
    scalars substituted, ``MaxOver`` expanded to ``Max`` and ``Sum`` evaluated, so the result is a
    formula z3 can read (``proofs.formal.valid``).  This is how a proof uses an assumption: it
    instantiates the assumption's registered formula at its own quantities."""
    out, sizes = _sized(formula, values)

    def expand(e):
        expr, i, lo, hi = e.args
        return sp.Max(*[expr.xreplace({i: sp.Integer(k)}) for k in range(int(lo), int(hi) + 1)], evaluate=False)

    out = out.replace(lambda e: isinstance(e, MaxOver) and e.args[2].is_Integer and e.args[3].is_Integer, expand)
    out = out.doit()
    families = {b: v for b, v in values.items() if isinstance(b, sp.IndexedBase)}
    out = out.replace(lambda e: isinstance(e, sp.Indexed) and e.base in families,
                      lambda e: sp.sympify(families[e.base][int(e.indices[0]) - 1]))
    scalars = {s: (sp.true if v is True else sp.false if v is False else sp.sympify(v))
               for s, v in values.items() if isinstance(s, sp.Symbol) and s not in sizes}
    return out.xreplace(scalars)
