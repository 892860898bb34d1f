"""Run a study over a grid of prompts and variants on Dask, or plot one (icl-verify sweep GRID.toml --out DIR).

GRID.toml has ``measure = ["stationary", "rate"]`` (the commands run per cell) and an ``[axes]``
table of lists whose keys are options of those commands and of example-prompt (n, d, m, noise,
seed, mu_x, sigma_x, attention, normalization, scale, eta, layers, max_growth, ...); the cells
are their Cartesian product.  A cell's prompt is what ``example-prompt`` writes with the cell's
options, and its numbers are what the measured commands print with ``--json``.  Results go to
the Parquet dataset DIR, one file (one row) per cell, written atomically as each cell finishes:
every axis, ``COMMAND.KEY`` for every scalar of each command's JSON, ``seconds``, ``version``,
``error`` (a cell that fails is a row with its error).  Running the same command again skips
finished cells.  ``--plot DIR --x n --y causal_gap --hue mu_x --out FIG.png`` draws a sweep.
"""
from __future__ import annotations

import os
from dataclasses import asdict

from ..errors import PromptError
from ..output import Output, check_output
from .common import add_json


def register(parser) -> None:
    parser.add_argument("grid", metavar="GRID.toml", nargs="?",
                        help="required unless --plot: the grid file (measure = [...] and an [axes] table of lists)")
    parser.add_argument("--out", metavar="DIR",
                        help="required: the dataset directory (created if missing; a rerun resumes it); "
                             "with --plot the figure file (.png, .pdf, .svg)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="optional: an existing Dask scheduler, e.g. tcp://host:8786 "
                             "(default: an embedded LocalCluster of worker processes)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="optional: worker processes of the embedded LocalCluster (default: the CPU count); "
                             "not with --scheduler")
    parser.add_argument("--no-progress", action="store_true", help="optional: no progress bar")
    parser.add_argument("--plot", metavar="DIR", help="optional: plot the sweep in DIR instead of running a grid")
    parser.add_argument("--x", help="required with --plot: the column on the x axis (an axis such as n)")
    parser.add_argument("--y", help="required with --plot: the column to show, e.g. causal_gap, rate.rate, "
                                    "stationary.query_mse (see --stat)")
    parser.add_argument("--hue", help="optional, with --plot: one line per value of this column (heatmap: the rows)")
    parser.add_argument("--kind", choices=("line", "heatmap"), default="line",
                        help="optional, with --plot: line plot or heatmap (default line)")
    parser.add_argument("--stat", choices=("median", "mean"), default="median",
                        help="optional, with --plot: how cells are combined over the axes not shown (default median)")
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs,
                        interrupted="finished cells are kept; run the same command again to resume")


def check_dataset_dir(out: str) -> None:
    """Refuse a DIR the sweep cannot own: a file, unwritable, or a directory holding files that are not cells."""
    from ..sweep.store import CELL_FILE

    check_output(Output("out", os.path.join(out, "cell.parquet"), create_parent=True))
    if os.path.isdir(out):
        others = [name for name in os.listdir(out) if not name.startswith(".") and not CELL_FILE.match(name)]
        if others:
            raise PromptError(f"out: {out!r} holds files that are not sweep results ({others[0]!r}, ...); "
                              "give a new or empty directory, or one an earlier sweep wrote")


def outputs(args) -> list:
    """Check the options and the output; the figure of --plot is validated like every output."""
    if args.plot is not None:
        if args.grid is not None:
            raise PromptError("plot: give either GRID.toml (run a sweep) or --plot DIR (draw one), not both")
        for field in ("x", "y", "out"):
            if getattr(args, field) is None:
                raise PromptError(f"{field}: --plot needs --x, --y and --out FIG.png")
        if _inside(args.out, args.plot):
            raise PromptError("out: the figure would go inside the dataset directory; write it elsewhere")
        return [Output("out", args.out)]
    if args.grid is None:
        raise PromptError("GRID: give a grid file (icl-verify sweep GRID.toml --out DIR) or --plot DIR")
    if args.out is None:
        raise PromptError("out: give the dataset directory with --out DIR")
    if args.scheduler is not None and args.workers is not None:
        raise PromptError("workers: --workers sizes the embedded LocalCluster; "
                          "with --scheduler the cluster has its own workers")
    if args.workers is not None and args.workers < 1:
        raise PromptError(f"workers: must be >= 1, got {args.workers}")
    check_dataset_dir(args.out)
    if args.json not in (None, "-") and _inside(args.json, args.out):
        raise PromptError("json: the summary would go inside the dataset directory; write it elsewhere")
    return []


def _inside(path: str, directory: str) -> bool:
    """True when ``path`` would be written directly in ``directory`` (where only cell files belong)."""
    return os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(directory)


def run(args):
    from ..sweep import require_extra

    require_extra()
    if args.plot is not None:
        from ..sweep.plot import frame, plot

        if not os.path.isdir(args.plot):
            raise PromptError(f"plot: {args.plot!r} is not a directory; give the --out DIR of a sweep")
        df = frame(args.plot)
        plot(df, args.x, args.y, args.hue, args.kind, args.out, args.stat)
        return {"figure": args.out, "cells": len(df)}, f"wrote {args.out} ({len(df)} cells)", True
    from ..sweep.grid import load_grid
    from ..sweep.run import sweep

    grid = load_grid(args.grid)  # a bad grid is refused before DIR is created
    summary = sweep(grid, args.out, args.scheduler, args.workers, show=not args.no_progress)
    result = {"out": args.out, **asdict(summary)}
    text = (f"{args.out}: {summary.cells} cells, {summary.computed} computed now ({summary.failed} failed), "
            f"{summary.skipped} already finished; {summary.seconds:.1f} s")
    return result, text, True
