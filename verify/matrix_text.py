"""A safe reader for matrices typed on the command line (``derive --kq/--pv``).

A MATRIX is JSON nested lists of size ``(d+1) x (d+1)``, given inline or as the
path of a ``.json`` file.  Each entry is one of

- a JSON number (``2``, ``-0.5``): an exact ``sympy.Rational`` (floats are
  taken at their decimal spelling, so ``0.1`` is ``1/10``);
- a string spelling a rational: ``"1/25"``, ``"-3/4"``, ``"0.5"``, ``"7"``;
- a string spelling a plain identifier ``[A-Za-z_][A-Za-z0-9_]*`` (``"eta"``):
  a real ``sympy.Symbol``; one leading sign is allowed (``"-eta"``, as in the
  paper's ``P V``).  Names starting with ``__`` are refused.

User text is matched against these regular expressions and handed to
``sympy.Integer``/``Rational``/``Symbol`` only; it is never evaluated (no
``eval``, ``sympify`` or ``parse_expr``), so ``"x+1"`` or ``"__import__('os')"``
is rejected rather than run.  Every other input raises
:class:`verify.errors.PromptError` naming the field (``kq`` or ``pv``) and the fix.

Text is bounded before it is parsed (:func:`guard_text`: length and bracket
depth, scanned without recursion), so JSON nested thousands deep is one line of
error, not a RecursionError; any other parser of user text (rule text,
schedules) calls the same guard.
"""
from __future__ import annotations

import json
import math
import os
import re

import sympy as sp

from .errors import PromptError
from .limits import MAX_DERIVE_SIDE, MAX_TEXT_CHARS, MAX_TEXT_DEPTH
from .rational import rational

_IDENTIFIER = re.compile(r"([+-]?)([A-Za-z_][A-Za-z0-9_]*)")
#: an entry string longer than this is not a number or a name anyone types
_MAX_ENTRY = 64
_HELP = 'entries must be numbers, rational strings like "1/25" or "-0.5", or names like "eta"'
#: a bracket, or a double-quoted string (skipped whole: brackets inside strings do not nest)
_BRACKET_OR_STRING = re.compile(r'[\[\]{}()]|"(?:[^"\\]|\\.)*"')
_CLOSES = {"]": "[", "}": "{", ")": "("}


def guard_text(text: str, field: str, max_chars: int = MAX_TEXT_CHARS, max_depth: int = MAX_TEXT_DEPTH) -> str:
    """Refuse structured text longer than ``max_chars`` or nested deeper than ``max_depth`` brackets.

    Brackets ``[] {} ()`` are counted in one pass without recursion (double-quoted
    strings are skipped), so the check costs nothing on hostile input, before any
    (recursive) parser sees it.  Unbalanced brackets are left to the parser.

    Returns
    -------
    text : unchanged.

    Raises
    ------
    PromptError : naming ``field``, the limit and the fix.
    """
    if len(text) > max_chars:
        raise PromptError(f"{field}: text of {len(text):,} characters is above the limit of {max_chars:,}; "
                          f"give a smaller input")
    depth = 0
    for match in _BRACKET_OR_STRING.finditer(text):
        token = match.group()
        if token in _CLOSES:
            depth = max(depth - 1, 0)
        elif token[0] != '"':
            depth += 1
            if depth > max_depth:
                raise PromptError(f"{field}: brackets nested more than {max_depth} deep; "
                                  f"give flat input (a MATRIX is a list of rows, depth 2)")
    return text


def parse_entry(value, field: str, where: str = ""):
    """One matrix entry as an exact SymPy number or a real Symbol (see module docstring)."""
    at = f"entry at {where}" if where else "value"  # a matrix's entry, or a lone number (--scale)
    if isinstance(value, bool):  # JSON true/false: bool is an int subclass in Python
        raise PromptError(f"{field}: {at} is a boolean {value!r}; {_HELP}")
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PromptError(f"{field}: {at} is {value!r}; give a finite number")
        return _exact(rational(repr(value), field, at))
    if not isinstance(value, str):
        raise PromptError(f"{field}: {at} is a {type(value).__name__}; {_HELP}")
    text = value.strip()
    if len(text) > _MAX_ENTRY:
        raise PromptError(f"{field}: {at} is {len(text)} characters long; {_HELP}")
    number = rational(text, field, at)  # integers, p/q and decimals, exactly (verify.rational)
    if number is not None:
        return _exact(number)
    match = _IDENTIFIER.fullmatch(text)
    if match:
        sign, name = match.groups()
        if name.startswith("__") or name.lower() in ("nan", "inf", "infinity"):
            raise PromptError(f"{field}: {at} {value!r} is not allowed as a name; use a plain name like \"eta\"")
        symbol = sp.Symbol(name, real=True)
        return -symbol if sign == "-" else symbol
    raise PromptError(f"{field}: {at} {value!r} is not a number, a rational like \"1/25\" or a plain name; "
                      f"expressions are not accepted, introduce a name for them instead")


def _exact(value):
    """A Fraction as a SymPy Rational."""
    return sp.Rational(value.numerator, value.denominator)


def _load_json(text: str, field: str, max_depth: int):
    source = str(text)
    if not source.lstrip().startswith("[") and (source.endswith(".json") or os.path.exists(source)):
        source = _read_text_file(source, field)
    guard_text(source, field, max_depth=max_depth)
    try:
        # numbers keep their spelling: a float would round 0.1000000000000000000001 to 0.1, and int() refuses
        # (as "not valid JSON") a 5000-digit integer; parse_entry reads both exactly, or names the length
        return json.loads(source, parse_float=str, parse_int=lambda text: _integer(text, field))
    except PromptError:
        raise
    except (ValueError, RecursionError):
        raise PromptError(f"{field}: not valid JSON; give nested lists such as [[1, 0], [0, \"-eta\"]] "
                          f"or the path of a .json file holding them") from None


def _integer(text: str, field: str) -> int:
    """A JSON integer of at most ``_MAX_ENTRY`` characters."""
    if len(text) > _MAX_ENTRY:
        raise PromptError(f"{field}: a number of {len(text.lstrip('-'))} digits is above the limit of {_MAX_ENTRY} "
                          f"characters per entry; give it as a shorter rational or decimal such as \"1e40\"")
    return int(text)


def _read_text_file(path: str, field: str) -> str:
    """The text of a regular file, refusing before reading one above ``MAX_TEXT_CHARS`` (or a device, a FIFO)."""
    if not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "not a regular file" if os.path.exists(path) else "not found"
        raise PromptError(f"{field}: {path!r} is {what}; give JSON nested lists or the path of a .json file")
    try:
        if os.path.getsize(path) > 4 * MAX_TEXT_CHARS:  # utf-8: at most 4 bytes per character
            raise PromptError(f"{field}: {path!r} is above the limit of {MAX_TEXT_CHARS:,} characters; "
                              f"give a smaller matrix")
        with open(path, encoding="utf-8") as fh:
            return fh.read(MAX_TEXT_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise PromptError(f"{field}: cannot read {path!r} ({why}); give JSON nested lists or a .json file") from None


def parse_matrix(text: str, field: str, size: int | None = None, max_side: int = MAX_DERIVE_SIDE) -> sp.Matrix:
    """Parse a square MATRIX (inline JSON or a ``.json`` path) into an exact ``sympy.Matrix``.

    Parameters
    ----------
    text : JSON nested lists, or the path of a file holding them.
    field : the option name reported in errors (``"kq"`` or ``"pv"``).
    size : required side ``d + 1`` (None: any square size >= 2).
    max_side : the largest side accepted (``verify.limits.MAX_DERIVE_SIDE``).

    Raises
    ------
    PromptError : text too long or nested deeper than a matrix, invalid JSON, not
        a list of lists, ragged, empty, not square, smaller than 2 x 2, larger than
        ``max_side``, wrong size, or a bad entry (see :func:`parse_entry`).
    """
    rows = _load_json(text, field, max_depth=2)
    if not isinstance(rows, list) or not rows:
        raise PromptError(f"{field}: expected a non-empty list of rows, e.g. [[1, 0], [0, 1]]")
    if len(rows) > max_side:
        raise PromptError(f"{field}: {len(rows)} rows is above the limit of {max_side} x {max_side} "
                          f"(verify.limits.MAX_DERIVE_SIDE); give a smaller matrix")
    if not all(isinstance(row, list) for row in rows):
        raise PromptError(f"{field}: every row must be a list of entries, e.g. [[1, 0], [0, 1]]")
    n = len(rows)
    for r, row in enumerate(rows):
        if len(row) != n:
            raise PromptError(f"{field}: row {r} has {len(row)} entries but there are {n} rows; "
                              f"the matrix must be square (d+1) x (d+1)")
    if n < 2:
        raise PromptError(f"{field}: a 1 x 1 matrix has no x block; give a (d+1) x (d+1) matrix with d >= 1")
    if size is not None and n != size:
        raise PromptError(f"{field}: is {n} x {n} but the other matrix is {size} x {size}; give both as (d+1) x (d+1)")
    return sp.Matrix(n, n, lambda r, c: parse_entry(rows[r][c], field, f"[{r}][{c}]"))
