"""Write the blueprint: every theorem's status (computed by running it), statement and dependencies.

The table and the statuses come from running the proofs.  The file goes to
``--out`` (default ``./blueprint.md``, never into the installed package); the
repository keeps it as ``proofs/README.md`` (``--out proofs/README.md`` from a
checkout), which ``tests/test_blueprint.py`` keeps in sync with the registry.
"""
from __future__ import annotations

import json
import os
import sys

from ..output import Output, write_text
from .common import add_json

#: written into the current directory unless --out says otherwise (never into the installed package)
DEFAULT_OUT = "blueprint.md"


def package_readme() -> str:
    """``proofs/README.md`` next to the registry, the committed blueprint (``proofs`` may load as a
    namespace package); regenerate it from a checkout with ``--out proofs/README.md``."""
    from proofs import registry

    return os.path.join(os.path.dirname(os.path.abspath(registry.__file__)), "README.md")


default_out = package_readme  # the name tests/test_blueprint.py reads the committed blueprint by


def register(parser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="FILE.md",
                        help=f"optional: where to write (default ./{DEFAULT_OUT}; the repository's blueprint is "
                             "proofs/README.md)")
    parser.add_argument("--no-progress", action="store_true", help="optional: no progress bar on stderr")
    add_json(parser)
    parser.set_defaults(run=run, outputs=lambda args: [Output("out", args.out)])


#: one paragraph, also in README.md's prove section: what a status says about simulate, stationary and rate
PROMISE = (
    "`simulate`, `stationary` and `rate` run the numeric engine (`verify.construction.paper` at an integer d, "
    "`verify.masks.attention_mask`, `verify.normalizers.normalizer`, `verify.lsa`, the weight-space algorithms, "
    "`verify.lemma.stationary_weights`, `verify.rates.analyse`). `proved` says the theorem holds for the symbolic "
    "model at every n, d (and L): the construction at a symbolic d, the attention rule at symbolic indices, the "
    "normalizer derived from the rule; `conditional` says the same except for the named standard results it assumes. "
    "Neither is about the numeric code by itself: that the printed numbers are this model's is the `checked` "
    "statement E0 (engine conformance), which compares the commands' own entry points with the symbolic objects "
    "instantiated (and the general lemma's per-token update in an independent loop) at the finite sizes of its "
    "scope, to a tolerance relative to the size of the numbers. E0 is a gate: when it `failed`, every theorem the "
    "numeric commands rely on (L6, P1-P9, P11, and what depends on them) is `failed` and `prove` exits 1; when it "
    "is `checked`, their statuses are what their proofs give. So for a prompt within E0's sizes the printed numbers "
    "are the proved model's up to floating-point rounding; beyond them (larger n, d, L, other data) the agreement "
    "is the same code path, tested but not proved. `checked` for any other entry (P10n) holds at its named sizes only."
)


def trusted_base() -> str:
    """What every status trusts, and what is checked only at finite sizes (with E0's sizes, from its case table)."""
    from proofs import conformance

    return (
        "Trusted, not checked by `prove`: (1) SymPy's reduction of an expression to zero (`proofs.symbolic.is_zero`: "
        "conservative, an expression it cannot reduce counts as non-zero); (2) z3's `unsat` answers, over the "
        "integers for the facts about attention rules and count certificates at every n (`verify.logic.holds`) and "
        "over the reals for the inequalities and step-size ranges of the formal statements (`proofs.formal`); "
        "`unknown` counts as not proved; (3) `verify/backend.py`, the only place where the model dispatches on the "
        "representation of its arguments (numpy, JAX, SymPy, Python numbers, a mask kept as its rule): "
        "`paper`, `reads`, `attention_mask`, `normalizer` and the "
        "layer are one definition run on numbers and on symbols through its helpers "
        "(`tests/test_backend_only.py` fails on any other type test in the model's modules); (4) the named "
        "assumptions below, each with a reference and a spot check that runs with `prove`; (5) for a variant "
        "claim refuted by an eigenvalue, SymPy's exact root count (`count_roots`: Sturm sequences on an "
        "`interval`, on the boundary of a `box`) that certifies one root inside; python-flint/Arb's root "
        "enclosures (`complex_roots`: disjoint balls, one root each) only locate the `box`, which is kept only if "
        "it strictly contains its ball, misses the other balls and that count is 1. "
        "Checked at finite sizes only: E0, engine conformance (`proofs/conformance.py`; "
        "`tests/test_conformance.py` plants numeric-only mistakes and requires `prove` to fail on them): "
        f"{conformance.scope()}."
    )


def formal_lines(formal) -> list[str]:
    """One line of text per conclusion of a formal statement (``proofs.formal``)."""
    import sympy as sp

    from proofs.formal import conclusions

    return [sp.sstr(c) for c in conclusions(formal)]


def render(theorems, entries) -> str:
    """Markdown for the blueprint: table, statements (text, LaTeX, formula), scopes, witnesses, dependencies."""
    from proofs.assumptions import ASSUMPTIONS
    from proofs.formal import render as formula_text

    by_id = {e["id"]: e for e in entries}
    lines = [
        "# Blueprint: machine-checked theorems",
        "",
        "Generated by `icl-verify blueprint` from `proofs/registry.py`; do not edit by hand "
        "(`tests/test_blueprint.py` checks it is in sync). Run `icl-verify prove` to recheck.",
        "",
        "## What a status means",
        "",
        "Every theorem carries its statement as a formula (`formal`, below each statement): the proof establishes "
        "exactly that formula, one check per conclusion (an equation by SymPy's exact zero test on what the layer "
        "computes, an inequality or a step-size range by z3 over the reals, where only `unsat` counts; a conclusion "
        "no check establishes is `failed`). "
        "A status is computed by running the proof on the package's own model (the construction "
        "`verify.construction.paper`, the attention rule `verify.masks.reads`, the normalizers "
        "`verify.normalizers.normalizer` and the layer `verify.lsa`), read at symbolic sizes:",
        "",
        "- `proved`: every step machine-checked for symbolic n, d (and L by induction where layers matter), "
        "nothing assumed;",
        "- `conditional`: proved, except for the named standard results in its `assumes` (listed below, each "
        "with a reference and a spot check that runs with `prove`);",
        "- `checked`: some conclusion only at the finite sizes named in its scope;",
        "- `failed`: some check did not hold.",
        "",
        "A theorem is never reported better than the worst status of what it depends on "
        "(proved > conditional > checked > failed); `own` is what its own proof gave.",
        "",
        "## What the statuses promise about the numbers the commands print",
        "",
        PROMISE,
        "",
        "## Trusted base",
        "",
        trusted_base(),
        "",
        "| id | title | status | own | assumes | depends on |",
        "|----|-------|--------|-----|---------|------------|",
    ]
    for t in theorems:
        e = by_id[t.id]
        deps = ", ".join(t.depends_on) or "-"
        lines.append(f"| {t.id} | {t.title} | {e['status']} | {e.get('own_status', e['status'])} | "
                     f"{', '.join(e.get('assumes', ())) or '-'} | {deps} |")
    lines += ["", "## Assumptions", "", "Each assumption's formula is what its spot check evaluates (on random and "
              "boundary instances) and what the proofs instantiate.", "",
              "| id | statement | formula | reference | used by |",
              "|----|-----------|---------|-----------|---------|"]
    for a in ASSUMPTIONS.values():
        users = ", ".join(e["id"] for e in entries if a.id in e.get("assumes", ())) or "-"
        formula = formula_text(a.formal).replace("|", "\\|")
        lines.append(f"| {a.id} | {a.statement} | `{formula}` | {a.reference} | {users} |")
    lines += ["", "## Dependencies", ""]
    for t in theorems:
        lines.append(f"- {t.id} <- {', '.join(t.depends_on)}" if t.depends_on else f"- {t.id} (no dependencies)")
    from proofs.registry import GATES

    for gate, gated in GATES.items():
        lines.append(f"- {gate} gates {', '.join(gated)}: if {gate} failed they are failed, otherwise unchanged")
    lines += ["", "```mermaid", "graph TD"]
    for t in theorems:
        lines += [f"  {dep} --> {t.id}" for dep in t.depends_on] or [f"  {t.id}"]
    lines += ["```"]
    lines += ["", "## Statements", ""]
    for t in theorems:
        e = by_id[t.id]
        lines += [f"### {t.id}: {t.title}", "", f"Status: **{e['status']}**.", "", t.statement, "", "$$",
                  t.latex, "$$", "", "Formal statement (what the proof establishes, one conclusion per line):", ""]
        lines += [f"- `{c}`" for c in formal_lines(t.formal)]
        lines += ["", f"Scope: {e['scope']}", ""]
        if e.get("witness"):
            lines += ["Witness (exact; numbers as strings):", "", "```json", json.dumps(e["witness"]), "```", ""]
        if e["status"] == "failed" and e.get("detail"):
            lines += [f"Failed checks: {e['detail']}", ""]
    return "\n".join(lines)


def generate(progress: bool = False) -> tuple[str, list]:
    """Run every theorem of the registry with the default setup and render the blueprint."""
    from tqdm import tqdm

    from proofs import registry

    theorems = registry.theorems()
    bar = tqdm(theorems, desc="blueprint", file=sys.stderr, disable=not progress, leave=False)
    entries = [registry.run(t) for t in bar]
    entries = registry.compose(entries)
    return render(theorems, entries), entries


def run(args):
    out = args.out
    text, entries = generate(progress=not args.no_progress)
    write_text(out, text)
    failed = [e["id"] for e in entries if e["status"] == "failed"]
    summary = f"wrote {out}: {len(entries)} theorems" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    return {"path": out, "theorems": [{k: e[k] for k in ("id", "status")} for e in entries]}, summary, not failed
