"""Every pointer to docs/SPEC.md names a section that exists (README, every command's --help, the package).

The reference forms used across the project are ``SPEC section 7``, ``SPEC.md section 7.1``, ``SPEC sections
5 and 6``, ``SPEC, section 4``; each number must be a heading of docs/SPEC.md, which holds sections 1-7.
"""
from __future__ import annotations

import argparse
import pathlib
import re

from verify.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"SPEC(?:\.md)?,?\s+sections?\s+(\d+(?:\.\d+)?(?:(?:\s*,\s*|\s+and\s+|\s*-\s*)\d+(?:\.\d+)?)*)")


def headings() -> set:
    """Section numbers of docs/SPEC.md's headings (``## 7.`` and ``### 7.1``)."""
    text = (ROOT / "docs" / "SPEC.md").read_text()
    return set(re.findall(r"^#+\s+(\d+(?:\.\d+)?)\.?\s", text, re.M))


def referenced(text: str) -> set:
    """Every section number a text points at (``sections 5 and 6``, ``sections 1-7`` expanded to their ends)."""
    found = set()
    for group in REFERENCE.findall(" ".join(text.split())):
        found |= set(re.findall(r"\d+(?:\.\d+)?", group))
    return found


def help_texts() -> str:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts += [sub.format_help() for sub in action.choices.values()]
    return "\n".join(texts)


def test_spec_holds_sections_one_to_seven():
    assert {str(k) for k in range(1, 8)} <= headings()


def test_every_pointer_to_the_spec_names_an_existing_section():
    sources = [(ROOT / "README.md").read_text(), help_texts()]
    sources += [p.read_text() for folder in ("verify", "proofs") for p in (ROOT / folder).rglob("*.py")]
    missing = {number for text in sources for number in referenced(text)} - headings()
    assert not missing, f"pointers to sections docs/SPEC.md does not have: {sorted(missing)}"


def test_the_check_catches_a_pointer_to_a_missing_section():
    """Mutation: a help text pointing at a section 9 (or 7.4) is caught; the forms in use are all read."""
    assert referenced("see SPEC section 9") - headings() == {"9"}
    assert referenced("docs/SPEC.md section 7.4 and") - headings() == {"7.4"}
    assert referenced("SPEC sections 5 and\n    6") == {"5", "6"}
    assert referenced("(SPEC, section 4)") == {"4"}
