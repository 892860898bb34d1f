"""A user's own attention rule over examples, ``prove --rule TEXT``, parsed without ``eval``.

Grammar (Python's precedence and semantics; 0-based indices like :func:`verify.masks.reads`:
examples are ``0..n-1``, ``i`` the source, ``j`` the target, ``n`` the number of examples)::

    rule    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*     # chained like Python
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "//" | "%") unary)*
    unary   := "-" unary | atom
    atom    := INTEGER | "i" | "j" | "n" | "(" or ")"

``//`` and ``%`` are Python's floor division and modulo (the remainder has the divisor's
sign).  The whole rule must be a condition (a comparison, or ``and/or/not`` of them);
``and``, ``or`` and ``not`` take conditions only.  Example ``j`` reads example ``i`` when
the rule is true; queries read every example and nothing reads a query (SPEC section 7).

The text is tokenized by a regular expression and parsed by recursive descent into a
small tree of tuples; nothing is ever evaluated as Python.  Length, nesting depth and
integer literals are bounded, and every divisor must be non-zero for all ``n >= 1``,
``0 <= i, j < n`` (decided by z3; a rule whose divisor may vanish is refused).  Every
error is a :class:`verify.errors.PromptError` naming the field ``rule``.

One rule gives ``reads(i, j, n)`` on Python ints (a bool), numpy index grids (a boolean
array, :meth:`Rule.mask`) and z3 integers (a z3 Boolean, :meth:`Rule.z3`): one tree,
three evaluators with the same floor semantics.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import PromptError

#: the longest rule text accepted (characters) and the deepest nesting of the tree
MAX_LENGTH = 400
MAX_DEPTH = 40
#: integer literals up to this magnitude (keeps numpy evaluation inside int64 for any sane n)
MAX_LITERAL = 10**6
#: beyond this bound on |value| (see :func:`_bound`) the numpy evaluator uses Python ints
_INT64_SAFE = 2**62

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|<=|>=|==|!=|[-+*%<>()]))")
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_KEYWORDS = ("and", "or", "not")
_NAMES = ("i", "j", "n")
_HELP = "e.g. 'i <= j and (j - i) % 2 == 0' (integers, i j n, + - * // %, comparisons, and/or/not, parentheses)"


def _error(message: str) -> PromptError:
    return PromptError(f"rule: {message}; {_HELP}")


def tokenize(text: str) -> list[tuple[str, Any]]:
    """``[(kind, value)]`` with kind ``int``, ``name``, ``op`` or ``kw``; refuses anything else."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if not match:
            bad = stripped[pos:].lstrip()[:1]
            raise _error(f"unexpected character {bad!r} at position {len(stripped) - len(stripped[pos:].lstrip())}")
        number, name, op = match.groups()
        if number is not None:
            value = int(number)
            if value > MAX_LITERAL:
                raise _error(f"integer {number} is larger than {MAX_LITERAL}")
            tokens.append(("int", value))
        elif name is not None:
            if name in _KEYWORDS:
                tokens.append(("kw", name))
            elif name in _NAMES:
                tokens.append(("name", name))
            else:
                raise _error(f"unknown name {name!r} (only i, j, n and the keywords and, or, not)")
        else:
            tokens.append(("op", op))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; builds tuples ``(op, child, ...)``."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", None)

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, value):
        token = self.take()
        if token[1] != value:
            raise _error(f"expected {value!r}, found {_show(token)}")

    def guard(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _error(f"nesting deeper than {MAX_DEPTH}")

    def or_(self, depth):
        self.guard(depth)
        node = self.and_(depth)
        while self.peek() == ("kw", "or"):
            self.take()
            node = ("or", node, self.and_(depth))
        return node

    def and_(self, depth):
        self.guard(depth)
        node = self.not_(depth)
        while self.peek() == ("kw", "and"):
            self.take()
            node = ("and", node, self.not_(depth))
        return node

    def not_(self, depth):
        self.guard(depth)
        if self.peek() == ("kw", "not"):
            self.take()
            return ("not", self.not_(depth + 1))
        return self.compare(depth)

    def compare(self, depth):
        self.guard(depth)
        left = self.sum_(depth)
        parts = []
        while self.peek()[0] == "op" and self.peek()[1] in _COMPARISONS:
            op = self.take()[1]
            right = self.sum_(depth)
            parts.append((op, left, right))
            left = right
        if not parts:
            return left
        node = parts[0]
        for part in parts[1:]:  # a < b < c is a < b and b < c, as in Python
            node = ("and", node, part)
        return node

    def sum_(self, depth):
        self.guard(depth)
        node = self.product(depth)
        while self.peek() in (("op", "+"), ("op", "-")):
            node = (self.take()[1], node, self.product(depth))
        return node

    def product(self, depth):
        self.guard(depth)
        node = self.unary(depth)
        while self.peek() in (("op", "*"), ("op", "//"), ("op", "%")):
            node = (self.take()[1], node, self.unary(depth))
        return node

    def unary(self, depth):
        self.guard(depth)
        if self.peek() == ("op", "-"):
            self.take()
            return ("neg", self.unary(depth + 1))
        return self.atom(depth)

    def atom(self, depth):
        self.guard(depth)
        kind, value = self.take()
        if kind == "int":
            return ("int", value)
        if kind == "name":
            return ("name", value)
        if (kind, value) == ("op", "("):
            node = self.or_(depth + 1)
            self.expect(")")
            return node
        raise _error(f"expected a number, i, j, n or '(', found {_show((kind, value))}")


def _show(token) -> str:
    return "the end of the rule" if token[0] == "end" else repr(str(token[1]))


_BOOLEAN = ("and", "or", "not", *_COMPARISONS)


def _is_condition(node) -> bool:
    return node[0] in _BOOLEAN


def _typecheck(node) -> None:
    """Conditions where conditions belong, numbers where numbers belong."""
    op = node[0]
    if op in ("and", "or", "not"):
        for child in node[1:]:
            if not _is_condition(child):
                raise _error(f"'{op}' needs conditions (comparisons) on both sides, not a number")
            _typecheck(child)
    elif op in ("int", "name"):
        return
    else:
        for child in node[1:]:
            if _is_condition(child):
                raise _error(f"'{'-' if op == 'neg' else op}' needs numbers, not a condition")
            _typecheck(child)


def _divisors(node) -> list:
    found = []
    if node[0] in ("//", "%"):
        found.append(node[2])
    for child in node[1:]:
        if isinstance(child, tuple):
            found += _divisors(child)
    return found


def text_of(node) -> str:
    """The tree written back as fully parenthesized text (for messages)."""
    op = node[0]
    if op in ("int", "name"):
        return str(node[1])
    if op == "not":
        return f"not ({text_of(node[1])})"
    if op == "neg":
        return f"-({text_of(node[1])})"
    return f"({text_of(node[1])} {op} {text_of(node[2])})"


# ----------------------------------------------------------------------------- evaluators


def _py_eval(node, env):
    """Python ints (and numpy arrays of ints: the operators broadcast) with floor // and %."""
    op = node[0]
    if op == "int":
        return node[1]
    if op == "name":
        return env[node[1]]
    if op == "neg":
        return -_py_eval(node[1], env)
    if op == "not":
        return np.logical_not(_py_eval(node[1], env))
    a, b = _py_eval(node[1], env), _py_eval(node[2], env)
    if op == "and":
        return np.logical_and(a, b)
    if op == "or":
        return np.logical_or(a, b)
    return _BINARY[op](a, b)


_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b,  # Python and numpy both floor
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _bound(node, size: int) -> int:
    """An upper bound on ``|value|`` over ``0 <= i, j < n <= size`` (for the int64 check)."""
    op = node[0]
    if op == "int":
        return abs(node[1])
    if op == "name":
        return size
    if op in ("neg", "not"):
        return _bound(node[1], size)
    a, b = _bound(node[1], size), _bound(node[2], size)
    if op == "*":
        return a * b
    if op in ("//", "%"):
        return max(a, b)
    return a + b if op in ("+", "-") else 1


def _largest(node, size: int) -> int:
    """The largest :func:`_bound` of any sub-expression (an intermediate value may overflow)."""
    children = [c for c in node[1:] if isinstance(c, tuple)]
    return max([_bound(node, size), *(_largest(c, size) for c in children)])


def floordiv_z3(a, b):
    """Python's ``a // b`` over z3 integers (z3's ``/`` rounds so the remainder is >= 0)."""
    import z3

    if z3.is_int_value(b):  # a constant divisor: keep the formula linear and branch-free
        return a / b if b.as_long() > 0 else z3.If(a % b == 0, a / b, a / b - 1)
    return z3.If(b > 0, a / b, z3.If(a % b == 0, a / b, a / b - 1))


def mod_z3(a, b):
    """Python's ``a % b`` (sign of the divisor) over z3 integers: ``a - b (a // b)``."""
    return a - b * floordiv_z3(a, b)


def _z3_eval(node, env):
    import z3

    op = node[0]
    if op == "int":
        return z3.IntVal(node[1])
    if op == "name":
        return env[node[1]]
    if op == "neg":
        return -_z3_eval(node[1], env)
    if op == "not":
        return z3.Not(_z3_eval(node[1], env))
    a, b = _z3_eval(node[1], env), _z3_eval(node[2], env)
    if op == "and":
        return z3.And(a, b)
    if op == "or":
        return z3.Or(a, b)
    if op == "//":
        return floordiv_z3(a, b)
    if op == "%":
        return mod_z3(a, b)
    return _BINARY[op](a, b)


# ----------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """A parsed rule: ``reads(i, j, n)`` over examples; queries read every example.

    text : the user's text; tree : the parsed tree (tuples).
    """

    text: str
    tree: tuple

    def example_reads(self, i, j, n):
        """The rule itself, for examples ``0 <= i, j < n`` (ints, numpy arrays or z3 ints)."""
        if _is_z3(i, j, n):
            return _z3_eval(self.tree, {"i": i, "j": j, "n": n})
        return _py_eval(self.tree, {"i": i, "j": j, "n": n})

    def reads(self, i, j, n):
        """True when token ``j`` reads token ``i`` (0-based; queries are ``n, n+1, ...``)::

            reads(i, j) = [i < n] & ([j >= n] | rule(i, j, n))

        Nothing reads a query; a query reads every example; the rule decides between examples.
        Ints give a bool, numpy index grids a boolean array, z3 integers a z3 Boolean.
        """
        if _is_z3(i, j, n):
            import z3

            return z3.And(i < n, z3.Or(j >= n, self.example_reads(i, j, n)))
        inside = np.logical_and(np.asarray(i) < n, np.asarray(j) < n)
        # evaluate the rule only where it applies, so a divisor is never asked about a query index
        rule = self.example_reads(np.where(inside, i, 0), np.where(inside, j, 0), n)
        out = np.logical_and(np.asarray(i) < n, np.logical_or(np.asarray(j) >= n, rule))
        return bool(out) if np.ndim(out) == 0 else out

    def mask(self, n: int, m: int) -> np.ndarray:
        """The ``(n + m, n + m)`` boolean mask: ``mask[i, j] = reads(i, j, n)``."""
        tokens = np.arange(n + m, dtype=np.int64)
        if _largest(self.tree, n + m) >= _INT64_SAFE:
            tokens = tokens.astype(object)  # exact Python ints where int64 could overflow
        grid = self.reads(tokens[:, None], tokens[None, :], n)
        return np.asarray(np.broadcast_to(grid, (n + m, n + m)), dtype=bool)

    def z3(self, i, j, n):
        """The rule over examples as a z3 Boolean of z3 integers ``i, j, n``."""
        return self.example_reads(i, j, n)


def _is_z3(*values) -> bool:
    return any(type(v).__module__.startswith("z3") for v in values)


def parse_rule(text, check_divisors: bool = True) -> Rule:
    """Parse, type-check and (by default) prove every divisor non-zero; PromptError otherwise."""
    if not isinstance(text, str):
        raise _error(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _error(f"{len(text)} characters is longer than {MAX_LENGTH}")
    if not text.strip():
        raise _error("empty rule")
    parser = _Parser(tokenize(text))
    tree = parser.or_(0)
    if parser.peek()[0] != "end":
        raise _error(f"unexpected {_show(parser.peek())} after a complete condition")
    if not _is_condition(tree):
        raise _error("the rule is a number, not a condition (compare it with something)")
    _typecheck(tree)
    rule = Rule(text.strip(), tree)
    if check_divisors:
        _check_divisors(rule)
    return rule


def _check_divisors(rule: Rule) -> None:
    """Refuse a divisor that is zero for some ``n >= 1``, ``0 <= i, j < n`` (z3 decides)."""
    divisors = _divisors(rule.tree)
    if not divisors:
        return
    import z3

    i, j, n = z3.Ints("i j n")
    for divisor in divisors:
        solver = z3.Solver()
        solver.set("timeout", 5000)
        solver.add(n >= 1, i >= 0, i < n, j >= 0, j < n, _z3_eval(divisor, {"i": i, "j": j, "n": n}) == 0)
        answer = solver.check()
        if answer == z3.sat:
            model = solver.model()
            at = ", ".join(f"{v} = {model.eval(v, model_completion=True)}" for v in (n, i, j))
            raise _error(f"divisor {text_of(divisor)} is zero at {at} (division by zero); "
                         f"use a divisor that is non-zero for every n >= 1, 0 <= i, j < n")
        if answer != z3.unsat:
            raise _error(f"cannot decide whether divisor {text_of(divisor)} can be zero; use a constant divisor")
