"""Structure of an attention rule for every ``n``, decided by z3 on integer arithmetic.

A rule ``reads(i, j, n)`` (0-based; examples ``0..n-1``) is read at symbolic ``n``:
a named attention through :func:`verify.masks.reads` on SymPy integer symbols (the
SymPy Boolean is translated node by node to z3), a custom rule through its own z3
evaluator (:meth:`verify.rule.Rule.z3`).  Each property is a universally quantified
statement over ``n >= 1``, ``0 <= i, j, k < n``; z3 is asked for a counterexample:
``unsat`` proves the property for all ``n``, ``sat`` refutes it with a model,
``unknown`` (non-linear arithmetic, timeout) decides nothing.

Properties (``R(i, j)``: example ``j`` reads example ``i``; ``S(i, j) = R(i, j) & R(j, i)``):

- ``self``: every example reads itself, ``R(j, j)``;
- ``all``: every example reads every example;
- ``triangular``: never reads a later example, ``i > j => not R(i, j)``;
- ``symmetric``: ``R(i, j) <=> R(j, i)``;
- ``block``: block lower triangular with full diagonal blocks that are intervals:
  ``self``; reading a later example only mutually (``i > j & R(i, j) => S(i, j)``);
  ``S`` transitive (so an equivalence, whose classes are the blocks, full inside);
  classes are intervals (``i < k < j & S(i, j) => S(i, k)``).  Then ``N = D^{-1} M``
  is block lower triangular with the classes as diagonal blocks, at every ``n``.
- ``queries_read_all``: a query (token ``n``) reads every example;
- ``whole``: whoever reads a member of a class of ``S`` reads all of it: ``S(i, k) & R(i, j) => R(k, j)``
  for every example or query ``j`` (``0 <= j <= n``).  With ``block`` (or ``triangular``) and
  ``self`` this makes the zero eigenvalue of ``N`` harmless for every prompt: null vectors are
  ``X_beta^T v_beta = 0`` on every block, no Jordan chain, no query reads one (docs/SPEC.md section 7).

Each answer is also compared with brute force at ``n <= BRUTE_N`` (a translation
defect shows up as a disagreement, reported by the caller as ``failed``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

# one structure concept: the properties, their decision on a concrete mask and the kinds are verify.shapes',
# which the numeric engines read too; this module decides the same properties for every n with z3
from verify.shapes import PROPERTIES, diagonal_blocks, kind_of, mask_property

#: z3 budget per question and for all questions together (milliseconds; an exhausted budget leaves a
#: property undecided, which only weakens the claims that need it), and the sizes of the brute-force cross-check
TIMEOUT_MS = 6000
TOTAL_MS = 15000
BRUTE_N = 9


@dataclass(frozen=True)
class Attention:
    """An attention rule as the variant claims read it.

    name : the spec (``causal``) or ``rule: TEXT``.
    z3_reads : ``(i, j, n) -> z3 Boolean``, ``reads`` for every token (queries ``>= n``).
    mask : ``(n, m) -> (n+m, n+m)`` boolean mask from the same definition.
    """

    name: str
    z3_reads: Callable
    mask: Callable


@dataclass
class Structure:
    """What z3 established; ``decided[p]`` is True/False, or None when z3 could not decide."""

    decided: dict = field(default_factory=dict)
    counterexamples: dict = field(default_factory=dict)
    disagreements: list = field(default_factory=list)

    def holds(self, prop: str) -> bool:
        return self.decided.get(prop) is True

    @property
    def kind(self) -> str:
        """``all``, ``triangular``, ``block``, or ``other`` (the strongest established; ``verify.shapes.kind_of``)."""
        return kind_of(self.holds)

    def describe(self) -> str:
        words = {True: "yes", False: "no", None: "undecided"}
        return ", ".join(f"{p}: {words[self.decided.get(p)]}" for p in PROPERTIES)


# ----------------------------------------------------------------------------- SymPy -> z3


def sympy_to_z3(expr, env: dict):
    """Translate the few SymPy node types ``reads`` produces (And/Or/Not, relations,
    Add/Mul of integers, floor of an integer over a positive constant, Mod) to z3 over
    the integers only (linear integer arithmetic with division by constants, which z3
    decides quickly): a relation with rational coefficients is multiplied by the common
    denominator, ``floor(p / q)`` becomes z3's integer division (floor for ``q > 0``)."""
    import z3

    if expr is sp.true or expr is True:
        return z3.BoolVal(True)
    if expr is sp.false or expr is False:
        return z3.BoolVal(False)
    if isinstance(expr, sp.And):
        return z3.And(*[sympy_to_z3(a, env) for a in expr.args])
    if isinstance(expr, sp.Or):
        return z3.Or(*[sympy_to_z3(a, env) for a in expr.args])
    if isinstance(expr, sp.Not):
        return z3.Not(sympy_to_z3(expr.args[0], env))
    relations = {sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b,
                 sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
                 sp.Equality: lambda a, b: a == b, sp.Unequality: lambda a, b: a != b}
    for kind, make in relations.items():
        if isinstance(expr, kind):
            numerator, denominator = sp.fraction(sp.together(expr.lhs - expr.rhs))
            if not (denominator.is_Integer and denominator > 0):
                raise NotImplementedError(f"no z3 translation for the relation {expr}")
            return make(_integer_term(sp.expand(numerator), env), 0)
    raise NotImplementedError(f"no z3 translation for {type(expr).__name__}")


def _integer_term(expr, env: dict):
    """An integer-valued SymPy term (sums and products of integers, symbols, floor, Mod) in z3."""
    import z3

    if isinstance(expr, sp.Symbol):
        return env[expr.name]
    if isinstance(expr, sp.Integer):
        return z3.IntVal(int(expr))
    if isinstance(expr, sp.Add):
        out = _integer_term(expr.args[0], env)
        for a in expr.args[1:]:
            out = out + _integer_term(a, env)
        return out
    if isinstance(expr, sp.Mul):
        out = _integer_term(expr.args[0], env)
        for a in expr.args[1:]:
            out = out * _integer_term(a, env)
        return out
    if isinstance(expr, sp.floor):
        numerator, denominator = sp.fraction(sp.together(expr.args[0]))
        if not (denominator.is_Integer and denominator > 0):
            raise NotImplementedError(f"no z3 translation for {expr}")
        return _integer_term(sp.expand(numerator), env) / z3.IntVal(int(denominator))  # floor: q > 0
    if isinstance(expr, sp.Mod):
        from verify.backend import mod_z3

        return mod_z3(_integer_term(expr.args[0], env), _integer_term(expr.args[1], env))
    raise NotImplementedError(f"no z3 translation for {type(expr).__name__} in {expr}")


def named(spec: str) -> Attention:
    """A named attention through the one definition :func:`verify.masks.reads` (its compiled rule,
    read on z3 integers; the mask through :func:`verify.masks.attention_mask`)."""
    from verify.masks import attention_mask, parse_attention, reads

    parse_attention(spec)
    return Attention(spec, lambda i, j, n: reads(spec, i, j, n), lambda n_, m_: attention_mask(spec, n_, m_))


def custom(rule) -> Attention:
    """A :class:`verify.rule.Rule` (``--rule TEXT``, with its ``--query-rule``)."""
    return Attention(f"rule: {rule.full_text}", rule.reads, rule.mask)


# ----------------------------------------------------------------------------- decisions


def _questions(attention: Attention):
    """Each property as ``(variables, negation)``: z3 looks for a counterexample."""
    import z3

    i, j, k, n = z3.Ints("i j k n")
    R = lambda a, b: attention.z3_reads(a, b, n)  # noqa: E731
    S = lambda a, b: z3.And(R(a, b), R(b, a))  # noqa: E731
    ex = lambda *vs: [z3.And(v >= 0, v < n) for v in vs]  # noqa: E731
    return {
        "self": ([n, j], [n >= 1, *ex(j), z3.Not(R(j, j))]),
        "all": ([n, i, j], [n >= 1, *ex(i, j), z3.Not(R(i, j))]),
        "triangular": ([n, i, j], [n >= 1, *ex(i, j), i > j, R(i, j)]),
        "symmetric": ([n, i, j], [n >= 1, *ex(i, j), R(i, j) != R(j, i)]),
        # block: four separate questions (each small for z3); the property holds when none has a counterexample
        "block": [([n, j], [n >= 1, *ex(j), z3.Not(R(j, j))]),
                  ([n, i, j], [n >= 1, *ex(i, j), i > j, R(i, j), z3.Not(S(i, j))]),
                  ([n, i, j, k], [n >= 1, *ex(i, j, k), S(i, j), S(j, k), z3.Not(S(i, k))]),
                  ([n, i, j, k], [n >= 1, *ex(i, j, k), i < k, k < j, S(i, j), z3.Not(S(i, k))])],
        "queries_read_all": ([n, i], [n >= 1, *ex(i), z3.Not(attention.z3_reads(i, n, n))]),
        "whole": ([n, i, k, j], [n >= 1, *ex(i, k), j >= 0, j <= n, S(i, k), attention.z3_reads(i, j, n),
                                 z3.Not(attention.z3_reads(k, j, n))]),
    }


def _brute(attention: Attention, prop: str, n: int) -> bool:
    """``prop`` on the concrete mask at ``n`` examples and one query: the numeric side of the same
    vocabulary (``verify.shapes.mask_property``), which the engines read too."""
    return mask_property(attention.mask(n, 1), n, prop)


def decide(attention: Attention, timeout_ms: int = TIMEOUT_MS) -> Structure:
    """Decide every property of :data:`PROPERTIES` for all ``n`` (see module docstring)."""
    import time

    import z3

    out = Structure()
    deadline = time.monotonic() + TOTAL_MS / 1000
    for prop, questions in _questions(attention).items():
        out.decided[prop] = True
        for variables, negation in (questions if isinstance(questions, list) else [questions]):
            solver = z3.Solver()
            left_ms = int(1000 * (deadline - time.monotonic()))
            solver.set("timeout", max(200, min(timeout_ms, left_ms)))
            solver.add(*negation)
            answer = solver.check()
            if answer == z3.sat:
                model = solver.model()
                out.decided[prop] = False
                out.counterexamples[prop] = {str(v): model.eval(v, model_completion=True).as_long() for v in variables}
                break
            if answer != z3.unsat:
                out.decided[prop] = None
        for n in range(1, BRUTE_N + 1):
            brute = _brute(attention, prop, n)
            if out.decided[prop] is True and not brute:
                out.disagreements.append(f"{prop}: z3 proved it but it fails at n = {n}")
                break
        cex = out.counterexamples.get(prop)
        if cex is not None and cex["n"] <= 40 and _brute(attention, prop, cex["n"]):
            out.disagreements.append(f"{prop}: z3's counterexample n = {cex['n']} does not fail")
    return out


def blocks(mask: np.ndarray, n: int) -> list[list[int]]:
    """The diagonal blocks at size ``n`` (classes of ``S``, in order) of a block rule (``verify.shapes``)."""
    return diagonal_blocks(mask, n)
