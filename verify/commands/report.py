"""The main job: run every registered theorem check and the figures, and write DIR/report.md.

``report.md`` holds the theorem table (statuses computed by running the proofs),
the figures (relative PNG paths), a reading of them computed from the CSV
numbers, and what E3 means for choosing depth and step size.  ``theorems.json``
holds the theorem entries.  Exit status 0 iff no theorem failed.
"""
from __future__ import annotations

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
    add_json(parser)
    parser.set_defaults(run=run, outputs=lambda args: figure_outputs(args, FILES + REPORT_FILES))


def run_theorems(show: bool = True) -> list:
    """Run every theorem registered in ``proofs.registry``; one JSON entry each."""
    from proofs import registry

    entries = []
    bar = tqdm(registry.theorems(), desc="theorems", disable=not show, leave=False)
    for theorem in bar:
        bar.set_postfix_str(theorem.id)
        entries.append(registry.run(theorem))
    return entries


def theorem_table(entries: list, skipped: bool) -> list:
    """Markdown lines of the theorem table."""
    if skipped:
        return ["Theorem checks skipped (`--skip-proofs`); run `icl-verify report` without it, or `icl-verify prove`."]
    if not entries:
        return ["No theorems are registered yet (`proofs/registry.py` found no proof modules)."]
    lines = ["| id | title | status | scope | seconds |", "|---|---|---|---|---|"]
    for e in entries:
        status = f"**{e['status'].upper()}**" if e["status"] == "failed" else e["status"]
        cells = [e["id"], e["title"], status, e.get("scope", ""), f"{e.get('seconds', 0):.2f}"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    counts = {s: sum(e["status"] == s for e in entries) for s in ("proved", "checked", "failed")}
    lines += ["", f"{len(entries)} theorems: {counts['proved']} proved, {counts['checked']} checked at finite sizes, "
                  f"{counts['failed']} failed."]
    failed = [e for e in entries if e["status"] == "failed"]
    for e in failed:
        lines.append(f"- {e['id']} failed: {e.get('detail', '(no detail)')}")
    return lines


def render(entries: list, skipped: bool, figures: dict, out) -> str:
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
        *theorem_table(entries, skipped),
        "",
        *reading(out, figures),
    ]
    return "\n".join(lines) + "\n"


def run(args):
    check_budget(args)
    show = not args.no_progress
    entries = [] if args.skip_proofs else run_theorems(show)
    figures = make_figures(args.out, args.tasks, args.seed, args.noise, args.max_n, show)
    write_text(os.path.join(args.out, "theorems.json"),
               json.dumps(to_jsonable({"skipped": args.skip_proofs, "theorems": entries}), indent=2))
    path = os.path.join(args.out, "report.md")
    write_text(path, render(entries, args.skip_proofs, figures, args.out))
    failed = [e["id"] for e in entries if e["status"] == "failed"]
    result = {"report": path, "theorems": entries, "failed": failed, "figures": figures}
    summary = (f"wrote {path} ({len(entries)} theorems run"
               + (f", FAILED: {', '.join(failed)}" if failed else ", none failed") + ")")
    return result, summary, not failed
