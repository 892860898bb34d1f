"""Exact rationals typed as text: ``"7"``, ``"-3/4"``, ``"0.5"``, ``"1e-3"`` (no SymPy, so a CLI option is
checked in milliseconds).

The spelling is matched by regular expressions and turned into a
:class:`fractions.Fraction` with integer arithmetic only; nothing is evaluated.
A decimal's exponent is bounded (``|exponent| <= MAX_EXPONENT``): ``1e999999999``
would otherwise build a billion-digit integer.  :mod:`verify.matrix_text` reads
matrix entries with the same rules.
"""
from __future__ import annotations

import re
from fractions import Fraction

from .errors import PromptError

INTEGER = re.compile(r"[+-]?[0-9]+")
FRACTION = re.compile(r"([+-]?[0-9]+)/([0-9]+)")
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?[0-9]+[eE][+-]?[0-9]+")
#: the largest |exponent| of a decimal spelling
MAX_EXPONENT = 100
#: a number longer than this is not one anyone types
MAX_CHARS = 64


def rational(text: str, field: str, at: str = "value") -> Fraction | None:
    """The exact value of an integer, ``p/q`` or decimal spelling; None when ``text`` is none of them.

    Raises
    ------
    PromptError : ``p/0``, or a decimal exponent beyond ``MAX_EXPONENT`` (``at`` names the value in the message).
    """
    if INTEGER.fullmatch(text):
        return Fraction(int(text))
    match = FRACTION.fullmatch(text)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator == 0:
            raise PromptError(f"{field}: {at} {text!r} divides by zero; give a finite rational")
        return Fraction(numerator, denominator)
    if not DECIMAL.fullmatch(text):
        return None
    mantissa, _, exponent = text.lower().partition("e")
    sign = -1 if mantissa.startswith("-") else 1
    whole, _, frac = mantissa.lstrip("+-").partition(".")
    exp = int(exponent) if exponent else 0
    if abs(exp) > MAX_EXPONENT:
        raise PromptError(f"{field}: {at} {text!r} has exponent {exp}; use |exponent| <= {MAX_EXPONENT}")
    return sign * Fraction(int((whole or "0") + frac), 10 ** len(frac)) * Fraction(10) ** exp


def parse_number(text: str, field: str) -> Fraction:
    """A number typed as text (``--scale``) as an exact Fraction (:func:`rational`); anything else is refused."""
    text = str(text).strip()
    if len(text) > MAX_CHARS:
        raise PromptError(f"{field}: a number of {len(text)} characters is above the limit of {MAX_CHARS}; "
                          f"give e.g. 1, 2, 3/2 or 1e-3")
    value = rational(text, field)
    if value is None:
        raise PromptError(f"{field}: {text!r} is not a number; give e.g. 1, 2, 3/2 or 1e-3")
    return value
