"""The ``icl-verify`` command line: one subcommand per module in ``verify.commands``.

Bad input raises :class:`verify.errors.PromptError`; it is printed as one line on
stderr with exit status 2, and nothing is written.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import PromptError
from .output import write_json

#: subcommand name -> module in verify.commands (all imported when the parser is built,
#: so the modules keep heavy imports such as sympy and matplotlib inside their ``run``)
COMMANDS = {
    "simulate": "simulate",
    "stationary": "stationary",
    "rate": "rate",
    "example-prompt": "example_prompt",
    "prove": "prove",
    "blueprint": "blueprint",
    "derive": "derive",
    "figures": "figures",
    "report": "report",
    "train": "train",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="icl-verify", description="Machine-checked theory of in-context learning with linear "
                     "self-attention (Ding et al., arXiv 2308.06912): simulate, prove, derive, reproduce.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"verify.commands.{module}")
        mod.register(sub.add_parser(name, help=mod.__doc__.splitlines()[0], description=mod.__doc__))
    return parser


def main(argv=None) -> int:
    """Entry point of ``icl-verify`` and ``python -m verify``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (status 2) and --help (status 0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        result, summary, ok = args.run(args)
        if getattr(args, "json", None):
            write_json(result, args.json)
        if summary and getattr(args, "json", None) != "-":
            print(summary)
    except PromptError as exc:
        sys.stderr.write(f"icl-verify {args.command}: error: {exc}\n")
        return 2
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
