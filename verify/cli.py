"""The ``icl-verify`` command line: one subcommand per module in ``verify.commands``.

What a user sees, whatever happens inside a command:

- bad input raises :class:`verify.errors.PromptError`: one line on stderr, exit status 2,
  nothing written (every output path is validated before any computation,
  :func:`verify.output.check_outputs`, and files are written atomically);
- Ctrl-C: one line, exit status 130, no partial output file;
- floating-point warnings (overflow of an unstable stack) become one line in the
  summary, never raw ``RuntimeWarning`` text;
- a linear-algebra routine that cannot converge (magnitudes float64 cannot
  hold): one line, exit status 2, since an answer that cannot be computed is refused;
- memory the machine cannot give (a ``MemoryError``): one line with the figure, exit status 2;
- a bug: one line naming it, exit status 70 (never a traceback).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

import numpy as np

from .errors import PromptError
from .output import Output, check_outputs, stream_of, write_json

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
    "sweep": "sweep",
}

#: options whose value may name a file the command reads (an output must never be one of them)
INPUT_OPTIONS = ("prompt", "attention_mask", "w0", "preconditioner", "kq", "pv", "rule", "fit")

#: exit statuses besides 0 (success) and 1 (a theorem failed)
EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_INTERNAL = 2, 130, 70


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {_one_line(message)}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def version() -> str:
    """The installed distribution's version, or ``verify.__version__`` when this package is not
    the installed one (run from a checkout)."""
    from importlib import metadata

    from . import __file__ as init_file
    from . import __version__

    try:
        dist = metadata.distribution("icl-verify")
    except metadata.PackageNotFoundError:
        return __version__
    installed = os.path.realpath(str(dist.locate_file("verify/__init__.py")))
    return dist.version if installed == os.path.realpath(init_file) else __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="icl-verify", description="Machine-checked theory of in-context learning with linear "
                     "self-attention (Ding et al., arXiv 2308.06912): simulate, prove, derive, reproduce.")
    parser.add_argument("--version", action="version", version=f"icl-verify {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"verify.commands.{module}")
        doc = mod.__doc__ or name
        mod.register(sub.add_parser(name, help=doc.splitlines()[0], description=doc))
    return parser


def _one_line(text) -> str:
    return " ".join(str(text).split())


def input_files(args: argparse.Namespace) -> list:
    """The files the command reads: every ``INPUT_OPTIONS`` value that names an existing path."""
    values = [getattr(args, option, None) for option in INPUT_OPTIONS]
    return [v for v in values if isinstance(v, str) and os.path.exists(v)]


def planned_outputs(args: argparse.Namespace) -> list:
    """Every file the run will write: the command's own (``args.outputs(args)``) and ``--json``."""
    outputs = list(args.outputs(args)) if getattr(args, "outputs", None) else []
    target = getattr(args, "json", None)
    if target is not None:
        outputs.append(Output("json", target))
    return outputs


def floating_point_note(caught) -> str:
    """One line for the numpy floating-point warnings of a run ('' when there were none)."""
    kinds = []
    for w in caught:
        text = str(w.message)
        for kind in ("overflow", "invalid value", "divide by zero", "underflow"):
            if kind in text and kind not in kinds:
                kinds.append(kind)
    if not kinds:
        return ""
    return (f"note: floating-point {', '.join(kinds)} during the computation ({len(caught)} numpy warnings); "
            f"values that overflowed are reported as null in JSON")


def _run(args: argparse.Namespace):
    """``args.run(args)`` with numpy's floating-point warnings collected, not printed."""
    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
        warnings.simplefilter("always")
        result, summary, ok = args.run(args)
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    for w in caught:  # anything else (a library's DeprecationWarning) goes through the usual filters
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, summary, ok, floating_point_note(numeric)


def main(argv=None) -> int:
    """Entry point of ``icl-verify`` and ``python -m verify``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (status 2), --help and --version (status 0)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:  # while the command modules load
        sys.stderr.write("icl-verify: interrupted\n")
        return EXIT_INTERRUPTED
    prefix = f"icl-verify {args.command}"
    try:
        outputs = planned_outputs(args)
        check_outputs(outputs, input_files(args))
        result, summary, ok, note = _run(args)
        to_stdout = any(stream_of(target.path) == "stdout" for target in outputs)
        if getattr(args, "json", None):
            write_json(result, args.json)
        if summary and not to_stdout:
            print("\n".join([summary, note]) if note else summary)
        elif note:
            sys.stderr.write(f"{prefix}: {note}\n")
    except PromptError as exc:
        sys.stderr.write(f"{prefix}: error: {_one_line(exc)}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write(f"{prefix}: interrupted; {getattr(args, 'interrupted', 'no partial output was written')}\n")
        return EXIT_INTERRUPTED
    except MemoryError as exc:  # an estimate fell short: still a refusal with the figure, not an internal error
        sys.stderr.write(f"{prefix}: error: out of memory ({_one_line(exc) or 'no detail'}); use smaller sizes "
                         f"(the limits are in verify/limits.py)\n")
        return EXIT_BAD_INPUT
    except np.linalg.LinAlgError as exc:  # an answer that cannot be computed is refused, not guessed
        sys.stderr.write(f"{prefix}: error: cannot compute this in floating point ({_one_line(exc)}); "
                         f"check the prompt's magnitudes and conditioning\n")
        return EXIT_BAD_INPUT
    except OSError as exc:  # the file system said no (disk full, permissions changed mid-run)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"{prefix}: error: {_one_line(exc.strerror or exc)}{where}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: one line, never a traceback (ICL_VERIFY_DEBUG=1 shows it)
        if os.environ.get("ICL_VERIFY_DEBUG"):
            raise
        sys.stderr.write(f"{prefix}: internal error ({type(exc).__name__}: {_one_line(exc)[:300]}); "
                         f"please report it with the command line\n")
        return EXIT_INTERNAL
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
