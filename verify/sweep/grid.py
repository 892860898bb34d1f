"""The grid file of ``icl-verify sweep``: which commands to measure and the axes of the study.

A grid is TOML with two top-level keys::

    measure = ["stationary", "rate"]          # the commands run on every cell
    [axes]                                    # each an option of example-prompt or of a measured command
    n = [10, 20, 40]
    attention = ["prefix", "causal"]
    eta = [0.1]

The cells are the Cartesian product of the axes (in the order of the file).  An axis is
the destination name of a command-line option (``mu_x`` for ``--mu-x``); its values are
checked against the option's type and choices and by the commands' own checks of single
values (``n >= 1``, a known attention, ``eta > 0``), so a bad file is refused before any
cell runs.  Combinations of values are the commands' business: a cell that fails becomes a
row with its error.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import json
import math
import sys
from dataclasses import dataclass
from functools import cache

from ..errors import PromptError

#: commands a grid may measure (those that read one prompt and answer with JSON)
MEASURABLE = ("stationary", "rate", "simulate")
#: options that are not axes: the prompt file and outputs (the sweep makes them), and options naming files
NOT_AXES = ("help", "json", "prompt", "out", "attention_mask", "w0", "preconditioner")
#: a grid beyond this many cells is refused (split it into several grids)
MAX_CELLS = 1_000_000


@dataclass(frozen=True)
class Grid:
    """``measure``: command names; ``axes``: ``(name, values)`` pairs in the file's order."""

    measure: tuple[str, ...]
    axes: tuple[tuple[str, tuple], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    def cells(self) -> list[dict]:
        """The Cartesian product of the axes, one ``{axis: value}`` per cell (the last axis varies fastest)."""
        values = [vals for _, vals in self.axes]
        return [dict(zip(self.names, combo)) for combo in itertools.product(*values)]


def cell_key(measure, cell: dict) -> str:
    """The cell's name in the dataset: a hash of the measured commands and the cell's values.

    Two runs of the same grid give the same keys, so finished cells are recognised.
    """
    text = json.dumps({"measure": list(measure), "cell": cell}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@cache
def command_actions(command: str) -> dict:
    """``{dest: argparse action}`` of one command's options (its own parser, built from its ``register``)."""
    from ..cli import COMMANDS

    parser = argparse.ArgumentParser(prog=command, add_help=False)
    importlib.import_module(f"verify.commands.{COMMANDS[command]}").register(parser)
    return {a.dest: a for a in parser._actions if a.dest not in NOT_AXES and a.option_strings}


def axis_commands(measure) -> dict:
    """``{axis: [commands that take it]}`` for example-prompt and the measured commands."""
    owners: dict[str, list] = {}
    for command in ("example-prompt", *measure):
        for dest in command_actions(command):
            owners.setdefault(dest, []).append(command)
    return owners


def _load_toml(path: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PromptError(f"GRID: {path!r} not found; give the path of a .toml grid file") from None
    except IsADirectoryError:
        raise PromptError(f"GRID: {path!r} is a directory; give the path of a .toml grid file") from None
    except UnicodeDecodeError:
        raise PromptError(f"GRID: {path!r} is not UTF-8 text; write the grid as a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"GRID: {path!r} is not valid TOML ({exc}); see examples/open_question_1.toml") from None


def _measure(value) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PromptError(f"measure: expected a non-empty list of command names such as [\"stationary\", \"rate\"], "
                          f"got {value!r}")
    for command in value:
        if command not in MEASURABLE:
            raise PromptError(f"measure: {command!r} cannot be measured; use some of {', '.join(MEASURABLE)}")
    if len(set(value)) != len(value):
        raise PromptError("measure: a command is listed twice; list each once")
    return tuple(value)


def _typed(action: argparse.Action, value):
    """The value as the option's type (floats as float), or None when it has the wrong type."""
    if action.nargs == 0:  # a flag such as --certify
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if action.type is int:
        return value if isinstance(value, int) else None
    if action.type is float:
        return float(value) if isinstance(value, (int, float)) else None
    return value if isinstance(value, str) else None


def check_value(axis: str, action: argparse.Action, value):
    """One axis value, typed and checked as the commands check it; PromptError naming ``axes.AXIS``."""
    from ..commands.common import check_eta
    from ..commands.example_prompt import PROMPT_OPTIONS, check_field
    from ..masks import parse_attention

    typed = _typed(action, value)
    kind = ("an integer" if action.type is int else "a number" if action.type is float
            else "true or false" if action.nargs == 0 else "a string")
    if typed is None:
        raise PromptError(f"axes.{axis}: {value!r} is not {kind}; write {kind} in the list")
    if action.choices is not None and typed not in action.choices:
        raise PromptError(f"axes.{axis}: {typed!r} is not one of {', '.join(map(str, action.choices))}")
    if isinstance(typed, float) and not math.isfinite(typed):
        raise PromptError(f"axes.{axis}: {typed!r} is not a finite number")
    try:
        if axis in PROMPT_OPTIONS:
            check_field(axis, typed)
        elif axis == "attention":
            parse_attention(typed)
        elif axis == "eta":
            check_eta(typed)
    except PromptError as exc:
        raise PromptError(f"axes.{axis}: {str(exc).removeprefix(f'{axis}: ')}") from None
    return typed


def parse_grid(data: dict) -> Grid:
    """A :class:`Grid` from the parsed TOML; PromptError naming the key at fault."""
    for key in data:
        if key not in ("measure", "axes"):
            raise PromptError(f"{key}: unknown top-level key; a grid has `measure = [...]` and an [axes] table")
    if "measure" not in data:
        raise PromptError("measure: missing; add e.g. measure = [\"stationary\", \"rate\"] at the top of the grid")
    measure = _measure(data["measure"])
    axes_table = data.get("axes", {})
    if not isinstance(axes_table, dict):
        raise PromptError("axes: expected a table [axes] of lists, e.g. n = [10, 20]")
    owners = axis_commands(measure)
    axes, size = [], 1
    for axis, values in axes_table.items():
        if axis not in owners:
            raise PromptError(f"axes.{axis}: unknown axis for {', '.join(measure)}; "
                              f"use one of {', '.join(sorted(owners))}")
        if not isinstance(values, list) or not values:
            raise PromptError(f"axes.{axis}: expected a non-empty list of values, e.g. {axis} = [...], got {values!r}")
        action = command_actions(owners[axis][0])[axis]
        typed = tuple(check_value(axis, action, v) for v in values)
        if len(set(typed)) != len(typed):
            raise PromptError(f"axes.{axis}: a value is listed twice; list each once (seeds make repeats)")
        axes.append((axis, typed))
        size *= len(typed)
    if size > MAX_CELLS:
        raise PromptError(f"axes: {size:,} cells is above the limit of {MAX_CELLS:,}; split the grid")
    return Grid(measure, tuple(axes))


def load_grid(path: str) -> Grid:
    """Read and check a grid file (see the module docstring)."""
    try:
        return parse_grid(_load_toml(path))
    except PromptError as exc:
        if str(exc).startswith("GRID:"):
            raise
        raise PromptError(f"GRID: {path}: {exc}") from None
