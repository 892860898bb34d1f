"""One cell of a sweep: the cell's example prompt and the measured commands, run as the CLI runs them.

A cell's prompt is the file ``icl-verify example-prompt`` writes with the cell's options, and each
measured command is parsed by the CLI's own parser and run by its own entry point
(:func:`verify.cli._run`, which is what ``icl-verify COMMAND ... --json`` runs), so a cell's numbers
are the single commands' numbers.  Every scalar of a command's JSON becomes the column ``COMMAND.KEY``.
"""
from __future__ import annotations

import os
import tempfile
import time
from functools import cache

import numpy as np

from ..errors import PromptError
from ..output import to_jsonable
from .grid import command_actions

#: columns every row has besides the axes and the ``COMMAND.KEY`` columns
META_COLUMNS = ("cell", "seconds", "version", "error")


@cache
def _parser():
    from ..cli import build_parser

    return build_parser()


def argv_for(command: str, cell: dict, prompt: str) -> list[str]:
    """The command line of ``command`` on ``prompt`` with the cell's values of the options it takes.

    Floats are written with ``repr`` (read back to the same double); ``--opt=value`` keeps
    negative numbers from being read as options.
    """
    actions = command_actions(command)
    argv = [command, prompt]
    for axis, value in cell.items():
        action = actions.get(axis)
        if action is None:
            continue
        option = max(action.option_strings, key=len)
        if action.nargs == 0:
            argv += [option] if value else []
        else:
            argv.append(f"{option}={value!r}" if isinstance(value, float) else f"{option}={value}")
    return argv


def command_result(argv: list[str]) -> dict:
    """``icl-verify ARGV --json``'s result as plain JSON types (what the command would write)."""
    from ..cli import _run

    args = _parser().parse_args(argv)
    result, _summary, _ok, _note = _run(args)
    return to_jsonable(result)


def scalars(command: str, result: dict) -> dict:
    """``{"COMMAND.KEY": value}`` for every scalar (number, bool, string, null) of a command's JSON."""
    return {f"{command}.{key}": value for key, value in result.items()
            if value is None or isinstance(value, (bool, int, float, str))}


def _one_line(text) -> str:
    return " ".join(str(text).split())


def error_text(command: str, exc: BaseException) -> str:
    """The one-line error of a failed cell, as the CLI would word it."""
    if isinstance(exc, PromptError):
        return f"{command}: {_one_line(exc)}"
    if isinstance(exc, np.linalg.LinAlgError):
        return f"{command}: cannot compute this in floating point ({_one_line(exc)})"
    if isinstance(exc, SystemExit):
        return f"{command}: the options were refused by the command line parser"
    return f"{command}: internal error ({type(exc).__name__}: {_one_line(exc)[:300]})"


def run_cell(measure, cell: dict, key: str) -> dict:
    """The row of one cell: its axes, ``cell`` (key), ``COMMAND.KEY`` scalars, ``seconds``, ``version``, ``error``.

    A command that refuses the cell (a bad combination, a refused size) ends it with ``error`` set
    and the later commands not run; nothing is raised.
    """
    from ..cli import version

    start = time.perf_counter()
    row = {**cell, "cell": key, "version": version(), "error": None}
    with tempfile.TemporaryDirectory(prefix="icl-verify-cell-") as tmp:
        prompt = os.path.join(tmp, "prompt.npz")
        for command in ("example-prompt", *measure):
            try:
                result = command_result(argv_for(command, cell, prompt))
            except (Exception, SystemExit) as exc:
                row["error"] = error_text(command, exc)
                break
            if command != "example-prompt":
                row.update(scalars(command, result))
    row["seconds"] = time.perf_counter() - start
    return row
