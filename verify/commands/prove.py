"""Run the machine-checked theorems (SymPy proofs of SPEC section 3 and the general lemma).

Each proof applies the package's own layer to symbolic tokens and reports a status
computed by running it: ``proved`` (symbolic n, d; induction over L where layers
matter), ``checked`` (only at the finite sizes its scope names) or ``failed``.
Exit status 0 iff no theorem failed.

``--mutation NAME`` (hidden, for tests and demonstrations) runs the proofs against a
deliberately wrong model from ``proofs.registry.MUTATIONS`` (flip-v, double-p,
mask-shift, mask-strict, normalizer-off); every proof must then fail.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import PromptError
from .common import add_json


def register(parser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="optional: theorem ids to run (default: all), e.g. L6 P1 P5")
    parser.add_argument("--mutation", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true", help="optional: no progress bar on stderr")
    add_json(parser)
    parser.set_defaults(run=run)


def select(theorems, ids):
    """The theorems named by ``ids`` (case-insensitive; ``L``/``LEMMA`` mean the lemma), in registry order."""
    if not ids:
        return list(theorems)
    known = {t.id.upper(): t for t in theorems}
    lemma = next((t.id for t in theorems if t.id.upper().startswith("L")), None)
    wanted = []
    for raw in ids:
        key = raw.upper()
        if key in ("L", "LEMMA") and lemma:
            key = lemma.upper()
        if key not in known:
            raise PromptError(f"ID: unknown theorem {raw!r}; choose from {', '.join(t.id for t in theorems)}")
        wanted.append(known[key].id)
    return [t for t in theorems if t.id in wanted]


def run(args):
    from proofs import registry  # sympy and the proofs load only when the command runs

    setup = None
    if args.mutation is not None:
        if args.mutation not in registry.MUTATIONS:
            raise PromptError(f"mutation: unknown mutation {args.mutation!r}; choose from {', '.join(registry.MUTATIONS)}")
        setup = registry.MUTATIONS[args.mutation]
    everything = registry.theorems()
    chosen = select(everything, args.ids)
    # a status composes along depends_on, so the dependencies run too (reported only when asked for)
    needed = registry.closure(everything, [t.id for t in chosen])
    from tqdm import tqdm

    entries = []
    bar = tqdm(needed, desc="prove", unit="thm", file=sys.stderr, disable=args.no_progress, leave=False)
    for theorem in bar:
        bar.set_postfix_str(theorem.id)
        entries.append(registry.run(theorem, setup))
    bar.close()
    wanted = {t.id for t in chosen}
    entries = [e for e in registry.compose(entries) if e["id"] in wanted]
    from proofs.assumptions import ASSUMPTIONS, as_json

    used = sorted({a for e in entries for a in e["assumes"]}, key=list(ASSUMPTIONS).index)
    assumptions = [as_json(ASSUMPTIONS[a]) for a in (used if args.ids else ASSUMPTIONS)]
    failed = [e["id"] for e in entries if e["status"] == "failed"]
    failed += [f"assumption {a['id']} (spot check)" for a in assumptions if not a["spot_check"]["passed"]]
    lines = [f"{e['id']:<4} {e['status']:<11} {e['seconds']:7.2f}s  {e['title']}"
             + (f"  [assumes {', '.join(e['assumes'])}]" if e["assumes"] else "") for e in entries]
    verdict = f"{len(entries)} theorems; " + ", ".join(
        f"{sum(e['status'] == s for e in entries)} {s}" for s in registry.STATUSES if any(e["status"] == s for e in entries))
    verdict += f"; FAILED: {', '.join(failed)}" if failed else ""
    result = {"theorems": entries, "assumptions": assumptions}
    if setup is not None:
        result["mutation"] = args.mutation
    return result, "\n".join(lines + [verdict]), not failed
