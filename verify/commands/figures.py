"""Reproduce the paper's theory figures (E1, E2) and the transient-growth experiment E3.

Writes to ``--out``: ``e1_convergence.csv/.png`` (errors over 50 LSA layers),
``e2_stationary.csv/.png`` (causal stationary query error vs n),
``e3_transient.csv/.png`` (median transient peak vs eta) and ``timings.json``
(seconds per experiment, measured in-process).  Settings are SPEC section 4.
With ``--train`` (needs the ``[train]`` extra) also E4, trained stacks against the
theory: ``e4_trained.csv/.png``, ``e4_layers.csv``, ``e4_loss.csv``.
"""
from __future__ import annotations

import json
import math
import os
import time

from .. import limits
from ..errors import PromptError
from ..experiments import E1_COLUMNS, E2_COLUMNS, E3_COLUMNS, e1_convergence, e2_stationary, e3_transient
from ..experiments.e1 import setting_text as e1_setting
from ..experiments.e3 import setting_text as e3_setting
from ..experiments.shape import e1_shape, e2_shape, e3_shape
from ..experiments.table import write_rows
from ..limits import check_array
from ..output import Output, atomic_path, write_text
from ..threads import blas_threads
from .common import add_json

FILES = ("e1_convergence.csv", "e1_convergence.png", "e2_stationary.csv", "e2_stationary.png",
         "e3_transient.csv", "e3_transient.png", "timings.json")


def add_budget_options(parser) -> None:
    """Options shared with ``icl-verify report``."""
    parser.add_argument("--out", required=True, metavar="DIR", help="required: output directory (created if missing)")
    parser.add_argument("--tasks", type=int, default=64, help="optional: random tasks per setting (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="optional: random seed, >= 0 (default 0)")
    parser.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                        help="optional: E2 Gaussian label noise on the examples (default 0, the paper's setting)")
    parser.add_argument("--max-n", type=int, default=300, metavar="N",
                        help="optional: E2's longest context, n = 20, 40, ..., N (default 300)")
    parser.add_argument("--no-progress", action="store_true", help="optional: hide the progress bars on stderr")
    parser.add_argument("--train-steps", type=int, default=2000, metavar="S",
                        help="optional: E4 Adam steps per trained stack (default 2000)")


def register(parser) -> None:
    add_budget_options(parser)
    parser.add_argument("--train", action="store_true",
                        help="optional: also E4, train prefix and causal LSA stacks (needs pip install "
                             "'icl-verify[train]')")
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args, names=FILES) -> list:
    """The files written into ``--out`` (the directory is created when missing); E4's too with ``--train``."""
    if getattr(args, "train", False):
        from ..experiments.e4 import FILES as E4_FILES

        names = (*names, *E4_FILES)
    return [Output("out", os.path.join(args.out, name), create_parent=True) for name in names]


def run_cost(tasks: int, max_n: int, train_steps: int | None = None) -> tuple[float, float]:
    """``(peak bytes, operations)`` of E1-E3 (and E4's six training runs when ``train_steps`` is given).

    E1: two stacks of 50 layers on ``(tasks, 17, 60)`` tokens, every layer's tokens kept;
    E2: four ``mu_x`` batches of ``(tasks, max_n, 16)`` examples, their online-GD weights and
    200 queries; E3: eight ``(mu_x, model)`` jobs of five step sizes, 50 powers of ``40 x 40``
    matrices (with the norm bounds, about six matrix products per power).
    """
    from ..limits import lsa_layer_work, training_cost

    memory = (8.0 * tasks * (2 * 51 * 17 * 60 + 3 * 60 * 60) + 8.0 * 4 * tasks * 16 * (5 * max_n + 400)
              + 8.0 * 3 * tasks * 5 * 40 * 40)
    work = tasks * (100 * lsa_layer_work(60, 17) + 8 * 5 * 50 * 6 * 40.0**3) + 4.0 * tasks * max_n * 16 * 16 * 20
    if train_steps is not None:  # E4: prefix and causal stacks of 1, 2 and 4 layers, one after another
        runs = [training_cost(4, 1, 20, 8, depth, 64, train_steps) for depth in (1, 2, 4)]
        memory = max(memory, max(run[0] for run in runs))
        work += 2 * sum(run[1] for run in runs)
    return memory, work


def check_budget(args, train: bool = False) -> None:
    """Bad values raise PromptError naming the option (the output paths are checked by the CLI); so does a
    run beyond the machine's memory or work (:func:`run_cost`, ``train``: with E4)."""
    if args.tasks < 1:
        raise PromptError(f"tasks: need at least 1 task, got {args.tasks}; pass --tasks 64 (the paper's budget)")
    if args.seed < 0:
        raise PromptError(f"seed: must be an integer >= 0, got {args.seed}")
    if not (math.isfinite(args.noise) and args.noise >= 0):
        raise PromptError(f"noise: the label noise SIGMA must be a finite number >= 0, got {args.noise}")
    if args.train_steps < 1:
        raise PromptError(f"train-steps: E4 needs at least 1 training step, got {args.train_steps}")
    if args.max_n < 20:
        raise PromptError(f"max-n: E2 starts at n = 20; give --max-n >= 20, got {args.max_n}")
    blame = limits.largest({"tasks": args.tasks / 64, "max-n": args.max_n / 300,
                            "train-steps": args.train_steps / 2000 if train else 0})
    # E2 holds every task's examples, per mu_x, in one batch (SPEC section 4: d = 16, four mu_x)
    e2 = limits.largest({"tasks": args.tasks / 64, "max-n": args.max_n / 300})
    check_array(e2, (4, args.tasks, args.max_n, 16), what="E2's batch of examples (mu_x, tasks, max-n, d)")
    check_array("tasks", (4, args.tasks, 200, 16), what="E2's batch of queries (mu_x, tasks, 200, d)")
    memory, work = run_cost(args.tasks, args.max_n, args.train_steps if train else None)
    limits.check_budget(blame, f"the experiments at {args.tasks:,} tasks, E2 up to n = {args.max_n:,}"
                        + (f", E4 {args.train_steps:,} steps" if train else ""), memory, work,
                        "reduce --tasks, --max-n" + (" or --train-steps" if train else ""))


def make_figures(out, tasks: int = 64, seed: int = 0, noise: float = 0.0, max_n: int = 300, show: bool = True,
                 train: bool = False, train_steps: int = 2000) -> dict:
    """Run E1, E2, E3 (and E4 when ``train``), then write the CSVs, PNGs and ``timings.json`` into ``out``
    (created when missing), each file through a temporary file; return the result."""
    from ..plots import plot_e1, plot_e2, plot_e3  # matplotlib only when figures are drawn, not on every CLI start

    timings, rows = {}, {}
    for name, experiment in (("e1", lambda: e1_convergence(tasks, seed, show=show)),
                             ("e2", lambda: e2_stationary(tasks, seed, max_n=max_n, noise=noise, show=show)),
                             ("e3", lambda: e3_transient(tasks, seed, show=show))):
        start = time.perf_counter()
        # every matrix of E1-E3 is small (side <= n + m = 60, or max-n x 16): one BLAS thread, no pool to schedule
        with blas_threads(16):
            rows[name] = experiment()
        timings[f"{name}_seconds"] = time.perf_counter() - start
    if train:
        from ..experiments.e4 import e4_trained

        start = time.perf_counter()
        e4 = e4_trained(seed, steps=train_steps, show=show)
        timings["e4_seconds"] = time.perf_counter() - start
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)  # noqa: E731
    # the settings each figure states (n, d, eta: the experiments' own defaults, which this run used)
    captions = {"e1": f"E1: {e1_setting(tasks)}", "e3": f"E3: {e3_setting(tasks)}",
                "e2": f"E2: d = 16, 200 queries, {tasks} tasks, label noise {noise:g}"}
    for name, columns, plot in (("e1_convergence", E1_COLUMNS, plot_e1), ("e2_stationary", E2_COLUMNS, plot_e2),
                                ("e3_transient", E3_COLUMNS, plot_e3)):
        data = rows[name[:2]]
        with atomic_path(path(f"{name}.csv")) as tmp:
            write_rows(data, columns, tmp)
        with atomic_path(path(f"{name}.png")) as tmp:
            plot(data, tmp, captions[name[:2]])
    write_text(path("timings.json"), json.dumps(timings, indent=2))
    shape = {"e1": e1_shape(rows["e1"]), "e2": e2_shape(rows["e2"], noise), "e3": e3_shape(rows["e3"])}
    files = list(FILES)
    if train:
        from ..experiments.e4 import e4_shape, write_e4

        files += write_e4(e4, out)
        shape["e4"] = e4_shape(e4)
    settings = {"tasks": tasks, "seed": seed, "noise": noise, "max_n": max_n, "e1": e1_setting(tasks),
                "e3": e3_setting(tasks)}
    if train:
        settings["train_steps"] = train_steps
    return {"out": str(out), "files": files, "settings": settings, "timings": timings, "published_shape": shape}


def run(args):
    check_budget(args, args.train)  # before JAX is imported: a refusal takes a fraction of a second
    if args.train:
        from ..train import require_extra

        require_extra()  # one line naming the extra, before anything is written
    result = make_figures(args.out, args.tasks, args.seed, args.noise, args.max_n, show=not args.no_progress,
                          train=args.train, train_steps=args.train_steps)
    return result, summary(result), True


def summary(result: dict) -> str:
    t = result["timings"]
    lines = [f"wrote {', '.join(result['files'])} to {result['out']}",
             f"E1 {t['e1_seconds']:.2f} s, E2 {t['e2_seconds']:.2f} s, E3 {t['e3_seconds']:.2f} s "
             f"({result['settings']['tasks']} tasks)" + (f", E4 {t['e4_seconds']:.2f} s" if "e4_seconds" in t else "")]
    for experiment, checks in result["published_shape"].items():
        for claim, holds in checks.items():
            lines.append(f"  {experiment.upper()} {'yes' if holds else 'NO '}  {claim}")
    return "\n".join(lines)
