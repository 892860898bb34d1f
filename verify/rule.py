"""An attention rule in PyTorch FlexAttention's ``mask_mod`` convention, parsed without ``eval``.

``prove --rule TEXT`` (and ``simulate``/``stationary``/``rate --rule``) take the body of a
``mask_mod``: ``q_idx`` is the token that reads, ``kv_idx`` the token it reads, ``n`` the
number of examples (examples are ``0..n-1``).  ``kv_idx <= q_idx`` is causal.  ``--query-rule
TEXT`` (same grammar) is evaluated with a query at ``q_idx = n``; without it queries read every
example.  Nothing reads a query (docs/SPEC.md section 7).  Grammar (Python's precedence and
semantics)::

    rule    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*     # chained like Python
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "//" | "%") unary)*
    unary   := "-" unary | atom
    atom    := INTEGER | "True" | "False" | "q_idx" | "kv_idx" | "n" | "(" or ")"

``//`` and ``%`` are Python's floor division and modulo (the remainder has the divisor's
sign).  The whole rule must be a condition (a comparison, ``True``/``False``, or ``and/or/not``
of them); ``and``, ``or`` and ``not`` take conditions only.  The names ``i`` and ``j`` of the
earlier convention are refused with a message naming ``q_idx`` and ``kv_idx``.

The text is tokenized by a regular expression and parsed by recursive descent into a
small tree of tuples; nothing is ever evaluated as Python.  Length, nesting depth and
integer literals are bounded, and every divisor must be non-zero for all ``n >= 1``,
``0 <= kv_idx, q_idx < n`` (``q_idx = n`` in a query rule; decided by z3; a rule whose divisor
may vanish is refused).  Every error is a :class:`verify.errors.PromptError` naming the field
``rule`` (or ``query-rule``).

One rule gives ``reads(i, j, n)`` (``j`` reads ``i``: ``kv_idx = i``, ``q_idx = j``) on Python
ints (a bool), numpy index grids (a boolean array, :meth:`Rule.mask`), SymPy integer symbols
(a SymPy Boolean) and z3 integers (a z3 Boolean): one tree, one evaluator, the operators picked
by :func:`verify.backend.logic_kind` with the same floor semantics.  The named attentions of
:mod:`verify.masks` are rules of this grammar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend
from .backend import floordiv_z3, mod_z3
from .errors import PromptError

__all__ = ["Rule", "parse_rule", "floordiv_z3", "mod_z3", "tokenize", "text_of"]

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
_NAMES = ("q_idx", "kv_idx", "n")
_CONSTANTS = {"True": True, "False": False}
_HELP = ("e.g. 'kv_idx <= q_idx and (q_idx - kv_idx) % 2 == 0' (q_idx reads kv_idx; integers, q_idx kv_idx n, "
         "True False, + - * // %, comparisons, and/or/not, parentheses)")
#: which field an error names (``rule`` or ``query-rule``); set while one text is parsed
_FIELD = ["rule"]
OLD_NAMES = ("i", "j")


def _error(message: str) -> PromptError:
    return PromptError(f"{_FIELD[0]}: {message}; {_HELP}")


def tokenize(text: str) -> list[tuple[str, Any]]:
    """``[(kind, value)]`` with kind ``int``, ``bool``, ``name``, ``op`` or ``kw``; refuses anything else."""
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
            elif name in _CONSTANTS:
                tokens.append(("bool", _CONSTANTS[name]))
            elif name in OLD_NAMES:
                raise _error(f"the name {name!r} is gone: write q_idx for the token that reads and kv_idx for the "
                             "token it reads (FlexAttention's mask_mod), so causal is 'kv_idx <= q_idx'")
            else:
                raise _error(f"unknown name {name!r} (only q_idx, kv_idx, n, True, False and the keywords and, or, "
                             "not)")
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
        if kind in ("name", "bool"):
            return (kind, value)
        if (kind, value) == ("op", "("):
            node = self.or_(depth + 1)
            self.expect(")")
            return node
        raise _error(f"expected a number, q_idx, kv_idx, n, True, False or '(', found {_show((kind, value))}")


def _show(token) -> str:
    return "the end of the rule" if token[0] == "end" else repr(str(token[1]))


_BOOLEAN = ("and", "or", "not", "bool", *_COMPARISONS)


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
    elif op in ("int", "name", "bool"):
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
    if op in ("int", "name", "bool"):
        return str(node[1])
    if op == "not":
        return f"not ({text_of(node[1])})"
    if op == "neg":
        return f"-({text_of(node[1])})"
    return f"({text_of(node[1])} {op} {text_of(node[2])})"


# ----------------------------------------------------------------------------- the evaluator


def _eval(node, env, ops):
    """The tree's value with ``env`` (names to values) and ``ops`` (operators of one backend)."""
    op = node[0]
    if op == "int":
        return node[1]
    if op == "bool":
        return ops["bool"](node[1])
    if op == "name":
        return env[node[1]]
    if op == "neg":
        return -_eval(node[1], env, ops)
    if op == "not":
        return ops["not"](_eval(node[1], env, ops))
    return ops[op](_eval(node[1], env, ops), _eval(node[2], env, ops))


#: Python ints and numpy arrays of ints: the operators broadcast, ``//`` and ``%`` floor in both
_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b,  # Python and numpy both floor
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _ops(*values) -> dict:
    """The operators for these index values (the dispatch itself lives in :mod:`verify.backend`)."""
    kind = backend.logic_kind(*values)
    if kind != "numeric":
        return backend.logic_ops(kind)
    return {**_BINARY, "and": np.logical_and, "or": np.logical_or, "not": np.logical_not, "bool": bool}


def evaluate(tree, q_idx, kv_idx, n):
    """A parsed tree at ``(q_idx, kv_idx, n)``: ints, numpy arrays, SymPy or z3 values."""
    return _eval(tree, {"q_idx": q_idx, "kv_idx": kv_idx, "n": n}, _ops(q_idx, kv_idx, n))


def _bound(node, size: int) -> int:
    """An upper bound on ``|value|`` over ``0 <= q_idx, kv_idx <= n <= size`` (for the int64 check)."""
    op = node[0]
    if op in ("int", "bool"):
        return abs(int(node[1]))
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


# ----------------------------------------------------------------------------- the rule

_TRUE = ("bool", True)


@dataclass(frozen=True)
class Rule:
    """A parsed rule: which example each example reads, and (``query_tree``) which examples a query reads.

    text : the rule's text; tree : its parsed tree; query_text, query_tree : the query rule
    (``"True"`` when none was given: queries read every example).
    """

    text: str
    tree: tuple
    query_text: str = "True"
    query_tree: tuple = _TRUE

    def example_reads(self, i, j, n):
        """The rule itself for examples ``0 <= i, j < n``: ``j`` (``q_idx``) reads ``i`` (``kv_idx``)."""
        return evaluate(self.tree, j, i, n)

    def query_reads(self, i, n):
        """The query rule at ``q_idx = n``: a query reads example ``i``."""
        return evaluate(self.query_tree, n, i, n)

    def reads(self, i, j, n):
        """True when token ``j`` reads token ``i`` (0-based; queries are ``n, n+1, ...``)::

            reads(i, j) = [i < n] & ([j < n] & rule(q_idx=j, kv_idx=i) | [j >= n] & query_rule(q_idx=n, kv_idx=i))

        Ints give a bool, numpy index grids a boolean array, SymPy symbols a SymPy Boolean
        and z3 integers a z3 Boolean (:func:`verify.backend.logic_kind`).
        """
        kind = backend.logic_kind(i, j, n)
        if kind != "numeric":
            ops = backend.logic_ops(kind)
            return ops["and"](i < n, ops["or"](ops["and"](j < n, self.example_reads(i, j, n)),
                                               ops["and"](j >= n, self.query_reads(i, n))))
        source = np.asarray(i) < n
        inside = np.logical_and(source, np.asarray(j) < n)
        # evaluate each rule only where it applies, so a divisor is never asked about an index outside it
        rule = self.example_reads(np.where(inside, i, 0), np.where(inside, j, 0), n)
        query = self.query_reads(np.where(source, i, 0), n)
        out = np.logical_and(source, np.where(np.asarray(j) < n, rule, query))
        return bool(out) if np.ndim(out) == 0 else out

    def mask(self, n: int, m: int) -> np.ndarray:
        """The ``(n + m, n + m)`` boolean mask: ``mask[i, j] = reads(i, j, n)``."""
        tokens = np.arange(n + m, dtype=np.int64)
        if max(_largest(self.tree, n + m), _largest(self.query_tree, n + m)) >= _INT64_SAFE:
            tokens = tokens.astype(object)  # exact Python ints where int64 could overflow
        grid = self.reads(tokens[:, None], tokens[None, :], n)
        return np.asarray(np.broadcast_to(grid, (n + m, n + m)), dtype=bool)

    def z3(self, i, j, n):
        """The rule over examples as a z3 Boolean of z3 integers ``i`` (kv_idx), ``j`` (q_idx), ``n``."""
        return self.example_reads(i, j, n)

    @property
    def literals(self) -> list:
        """The integer literals of the rule and the query rule, sorted (candidate parameters of a named attention)."""
        return sorted(_literals(self.tree) | _literals(self.query_tree))

    @property
    def full_text(self) -> str:
        """The rule and, when given, the query rule (for names and messages)."""
        return self.text if self.query_tree == _TRUE else f"{self.text}; queries: {self.query_text}"


def _literals(node) -> set:
    if node[0] == "int":
        return {node[1]}
    return set().union(*(_literals(c) for c in node[1:] if isinstance(c, tuple)))


def _parse_one(text, field: str) -> tuple:
    _FIELD[0] = field
    try:
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
        return tree
    finally:
        _FIELD[0] = "rule"


def parse_rule(text, check_divisors: bool = True, *, query: str | None = None) -> Rule:
    """Parse, type-check and (by default) prove every divisor non-zero; PromptError otherwise.

    ``query`` is the ``--query-rule`` text (a query at ``q_idx = n``); None: queries read every example.
    """
    tree = _parse_one(text, "rule")
    query_tree = _TRUE if query is None else _parse_one(query, "query-rule")
    rule = Rule(text.strip(), tree, "True" if query is None else query.strip(), query_tree)
    if check_divisors:
        _check_divisors(rule.tree, "rule", query=False)
        if query is not None:
            _check_divisors(rule.query_tree, "query-rule", query=True)
    return rule


def _check_divisors(tree, field: str, query: bool) -> None:
    """Refuse a divisor that is zero for some ``n >= 1``, ``0 <= kv_idx, q_idx < n`` (``q_idx = n`` for
    a query rule); z3 decides."""
    divisors = _divisors(tree)
    if not divisors:
        return
    import z3

    kv, q, n = z3.Ints("kv_idx q_idx n")
    where = "q_idx = n" if query else "0 <= q_idx < n"
    for divisor in divisors:
        solver = z3.Solver()
        solver.set("timeout", 5000)
        solver.add(n >= 1, kv >= 0, kv < n, q == n if query else z3.And(q >= 0, q < n),
                   evaluate(divisor, q, kv, n) == 0)
        answer = solver.check()
        _FIELD[0] = field
        try:
            if answer == z3.sat:
                model = solver.model()
                at = ", ".join(f"{v} = {model.eval(v, model_completion=True)}" for v in (n, q, kv))
                raise _error(f"divisor {text_of(divisor)} is zero at {at} (division by zero); "
                             f"use a divisor that is non-zero for every n >= 1, 0 <= kv_idx < n, {where}")
            if answer != z3.unsat:
                raise _error(f"cannot decide whether divisor {text_of(divisor)} can be zero; use a constant divisor")
        finally:
            _FIELD[0] = "rule"
