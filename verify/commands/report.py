"""The main job: run every registered theorem check and the figures, and write DIR/report.md.

``report.md`` holds the theorem table (statuses computed by running the proofs),
the figures (relative PNG paths), a reading of them computed from the CSV
numbers, and what E3 means for choosing depth and step size; E4 (trained stacks)
when the ``[train]`` extra is installed, else a line saying it was skipped.  ``theorems.json``
holds the theorem entries.  Exit status 0 iff no theorem failed.

A report describes exactly the files beside it: without E4, ``e4_*`` files of an
earlier report in DIR are removed (and the report says so); with ``--skip-proofs``
no ``theorems.json`` is written and one from an earlier run is left as it was
(and the report says so).
"""
from __future__ import annotations

import argparse
import json
import os

from tqdm import tqdm

from ..experiments.reading import reading
from ..output import to_jsonable, write_text
from .common import add_json
from .figures import FILES, add_budget_options, check_budget, make_figures
from .figures import outputs as figure_outputs

#: written into --out besides the figures' files
REPORT_FILES = ("theorems.json", "report.md")


def register(parser) -> None:
    add_budget_options(parser)
    parser.add_argument("--skip-proofs", action="store_true", help="optional: do not run the theorem checks")
    parser.add_argument("--skip-train", action="store_true",
                        help="optional: do not run E4 even when the [train] extra is installed")
    parser.add_argument("--sweep", metavar="DIR",
                        help="optional: add a section on the sweep in DIR (icl-verify sweep --out DIR; [sweep] extra)")
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args) -> list:
    """Every file ``report`` writes into ``--out``: the figures', E4's when it will train, and its own."""
    from ..experiments.e4 import FILES as E4_FILES
    from ..train import extra_available

    own = ("report.md",) if args.skip_proofs else REPORT_FILES  # --skip-proofs leaves theorems.json alone
    names = FILES + own + (E4_FILES if not args.skip_train and extra_available() else ())
    return figure_outputs(argparse.Namespace(out=args.out), names)


def run_theorems(show: bool = True) -> list:
    """Run every theorem registered in ``proofs.registry``; one JSON entry each."""
    from proofs import registry

    entries = []
    bar = tqdm(registry.theorems(), desc="theorems", disable=not show, leave=False)
    for theorem in bar:
        bar.set_postfix_str(theorem.id)
        entries.append(registry.run(theorem))
    return registry.compose(entries)  # never better than what a theorem depends on


def theorem_table(entries: list, skipped: bool, earlier: bool = False) -> list:
    """Markdown lines of the theorem table (``earlier``: a ``theorems.json`` of an earlier run is beside it)."""
    if skipped:
        return ["Theorem checks skipped (`--skip-proofs`); run `icl-verify report` without it, or `icl-verify prove`."
                + (" The `theorems.json` beside this report is from an earlier run and was left as it was; this "
                   "report does not vouch for it." if earlier else " No `theorems.json` was written.")]
    if not entries:
        return ["No theorems are registered yet (`proofs/registry.py` found no proof modules)."]
    lines = ["| id | title | status | assumes | scope | seconds |", "|---|---|---|---|---|---|"]
    for e in entries:
        status = f"**{e['status'].upper()}**" if e["status"] == "failed" else e["status"]
        cells = [e["id"], e["title"], status, ", ".join(e.get("assumes", ())) or "-", e.get("scope", ""),
                 f"{e.get('seconds', 0):.2f}"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    counts = {s: sum(e["status"] == s for e in entries) for s in ("proved", "conditional", "checked", "failed")}
    lines += ["", f"{len(entries)} theorems: {counts['proved']} proved, {counts['conditional']} conditional (proved "
                  f"except for the named standard results in `assumes`, its own and its dependencies', see "
                  "`icl-verify prove --json`), "
                  f"{counts['checked']} checked at finite sizes, {counts['failed']} failed. A theorem is never "
                  "reported better than what it depends on."]
    failed = [e for e in entries if e["status"] == "failed"]
    for e in failed:
        lines.append(f"- {e['id']} failed: {e.get('detail', '(no detail)')}")
    formal = [f"- {e['id']}: `{e['formal']}`" for e in entries if e.get("formal")]
    if formal:  # what each proof established, as the formula it checked (``proofs.formal``)
        lines += ["", "Formal statements (what each proof establishes; conclusions separated by `;`):", "", *formal]
    return lines


def e4_section(out, figures: dict, skipped_train: bool = False) -> list:
    """E4's lines when it ran (the ``[train]`` extra is installed), else a line saying why it did not."""
    from ..experiments.e4 import e4_lines, e4_skipped_lines, read_e4

    if "e4_seconds" in figures["timings"]:
        return e4_lines(read_e4(out))
    return e4_skipped_lines(extra_missing=not skipped_train)


def stale_e4_files(out) -> list:
    """E4's files in ``out`` (regular files or links) from an earlier report: a report without E4 removes them."""
    from ..experiments.e4 import FILES as E4_FILES

    return [name for name in E4_FILES if os.path.isfile(os.path.join(out, name))
            or os.path.islink(os.path.join(out, name))]


def render(entries: list, skipped: bool, figures: dict, out, skipped_train: bool = False,
           removed: tuple = ()) -> str:
    """The text of ``report.md``."""
    s = figures["settings"]
    lines = [
        "# icl-verify report",
        "",
        "Verification of *CausalLM is not optimal for in-context learning* (Ding et al., arXiv:2308.06912): "
        "the theorems of SPEC section 3, checked by running their proofs, and the experiments of SPEC section 4 "
        f"run on the package's own LSA layer ({s['tasks']} tasks, seed {s['seed']}, E2 label noise {s['noise']:g}, "
        f"E2 up to n = {s['max_n']}).",
        "",
        "## Theorems",
        "",
        *theorem_table(entries, skipped, skipped and os.path.exists(os.path.join(out, "theorems.json"))),
        "",
        *reading(out, figures),
        "",
        *e4_section(out, figures, skipped_train),
        *(["", f"Removed {', '.join(f'`{name}`' for name in removed)} of an earlier report from this directory: "
               "E4 did not run, so they did not describe this report."] if removed else []),
    ]
    return "\n".join(lines) + "\n"


def run(args):
    from ..train import extra_available

    train = not args.skip_train and extra_available()
    check_budget(args, train)
    sweep_lines = []
    if args.sweep is not None:  # read first: a bad DIR is refused before anything is computed
        from ..sweep import require_extra
        from ..sweep.plot import report_lines

        require_extra()
        sweep_lines = ["", *report_lines(args.sweep)]
    show = not args.no_progress
    entries = [] if args.skip_proofs else run_theorems(show)
    figures = make_figures(args.out, args.tasks, args.seed, args.noise, args.max_n, show, train, args.train_steps)
    from proofs.assumptions import ASSUMPTIONS, as_json

    used = [as_json(a) for a in ASSUMPTIONS.values() if any(a.id in e.get("assumes", ()) for e in entries)]
    if not args.skip_proofs:  # never replace a good theorems.json with an empty one
        write_text(os.path.join(args.out, "theorems.json"),
                   json.dumps(to_jsonable({"skipped": False, "theorems": entries, "assumptions": used}), indent=2))
    removed = [] if train else stale_e4_files(args.out)
    for name in removed:  # the link itself when it is one: its target is not this report's
        os.unlink(os.path.join(args.out, name))
    path = os.path.join(args.out, "report.md")
    write_text(path, render(entries, args.skip_proofs, figures, args.out, args.skip_train, tuple(removed))
               + "".join(line + "\n" for line in sweep_lines))
    failed = [e["id"] for e in entries if e["status"] == "failed"]
    result = {"report": path, "theorems": entries, "failed": failed, "figures": figures, "removed": removed}
    summary = (f"wrote {path} ({len(entries)} theorems run"
               + (f", FAILED: {', '.join(failed)}" if failed else ", none failed") + ")")
    return result, summary, not failed
