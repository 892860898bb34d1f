"""Run the machine-checked theorems (SymPy proofs of SPEC section 3 and the general lemma).

Each theorem carries its statement as a formula (``formal``: SymPy relations over named
symbols, one per conclusion); its proof applies the package's own layer to symbolic
tokens and establishes exactly that formula.  The status is computed by running it, one of five:

  proved       every conclusion for all sizes (symbolic n, d; induction over L where layers matter)
  conditional  proved, except for named standard results listed in `assumes` (inherited from dependencies)
  checked      verified only at the finite sizes its scope names
  refuted      false: an exact counterexample (witness) is given (variant claims)
  failed       the check did not pass: a defect in the model or the proof (exit status 1)

A theorem is never reported better than what it depends on.  Exit status 0 iff no
theorem failed.  E0 (engine conformance, ``proofs/conformance.py``) checks at finite sizes
that the numbers ``simulate``, ``stationary`` and ``rate`` compute are the proved model's; a
failed E0 fails every theorem those commands rely on (``proofs.registry.GATES``).

With ``--attention SPEC`` or ``--rule TEXT`` (``--query-rule TEXT``) it decides the variant
claims V1-V5 (docs/SPEC.md section 7) for that attention, ``--normalization``/``--scale`` and the
construction ``--kq/--pv`` instead: each claim proved for all sizes, refuted by an
exact witness, or checked at named sizes.  Exit status 0 unless a claim failed.

``--mutation NAME`` (hidden, for tests and demonstrations) runs the proofs against a
deliberately wrong model from ``proofs.registry.MUTATIONS`` (flip-v, double-p,
mask-shift, mask-strict, normalizer-off); every proof must then fail.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import PromptError
from ..masks import ATTENTION_HELP
from .common import add_json, add_rule_options


def register(parser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the status table's lines
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="optional: theorem ids to run (default: all), e.g. L6 P1 P5; E0 is engine conformance "
                             "(it runs whenever a theorem it gates runs)")
    parser.add_argument("--mutation", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true", help="optional: no progress bar on stderr")
    variant = parser.add_argument_group("variant claims V1-V5 (instead of the paper's theorems)")
    variant.add_argument("--attention", metavar="SPEC",
                         help=f"optional: the attention of the variant claims: {ATTENTION_HELP}")
    add_rule_options(variant)
    variant.add_argument("--normalization", choices=("constant", "count"), default="constant",
                         help="optional: constant c_j = C, or count c_j = |A(j)| (default constant)")
    variant.add_argument("--scale", default=None, metavar="C",
                         help="optional: the constant normalizer c > 0, read exactly: an integer, p/q or a decimal "
                              "with |exponent| <= 100 (default 1; not with count); the statuses do not depend on c "
                              "(witnesses are found at c = 1, mapped exactly to c and re-checked there)")
    variant.add_argument("--kq", metavar="MATRIX",
                         help="optional: K^T Q as derive reads it (default: the paper's construction)")
    variant.add_argument("--pv", metavar="MATRIX",
                         help="optional: P V as derive reads it; the symbol eta is the step size")
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
    if args.query_rule is not None and args.rule is None:
        raise PromptError("query-rule: --query-rule gives the queries of a --rule their own pattern; add --rule TEXT")
    if args.attention is not None or args.rule is not None:
        return run_variant(args)
    for name, given in (("normalization", args.normalization != "constant"), ("scale", args.scale is not None),
                        ("kq", args.kq is not None), ("pv", args.pv is not None)):
        if given:
            raise PromptError(f"{name}: --{name} applies to variant claims only; add --attention SPEC or --rule TEXT "
                              "(or drop it to run the paper's theorems)")
    from proofs import registry  # sympy and the proofs load only when the command runs

    setup = None
    if args.mutation is not None:
        if args.mutation not in registry.MUTATIONS:
            raise PromptError(f"mutation: unknown mutation {args.mutation!r}; "
                              f"choose from {', '.join(registry.MUTATIONS)}")
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
             + (f"  [assumes {', '.join(e['assumes'])}]" if e["assumes"] else "") + f"\n     formal: {e['formal']}"
             for e in entries]
    verdict = f"{len(entries)} theorems; " + ", ".join(
        f"{sum(e['status'] == s for e in entries)} {s}" for s in registry.STATUSES
        if any(e["status"] == s for e in entries))
    verdict += f"; FAILED: {', '.join(failed)}" if failed else ""
    result = {"theorems": entries, "assumptions": assumptions}
    if setup is not None:
        result["mutation"] = args.mutation
    return result, "\n".join(lines + [verdict]), not failed


def run_variant(args):
    """``prove --attention/--rule ...``: the variant claims V1-V5 (``proofs.variants``)."""
    if args.ids:
        raise PromptError(f"ID: theorem ids ({' '.join(args.ids)}) cannot be combined with --attention/--rule; "
                          "drop them to prove the variant claims V1-V5")
    if args.attention is not None and args.rule is not None:
        raise PromptError("rule: --rule replaces --attention (queries read every example under a rule); "
                          "give one of them")
    if (args.kq is None) != (args.pv is None):
        raise PromptError(f"{'pv' if args.pv is None else 'kq'}: --kq and --pv go together; give both or neither "
                          "(neither: the paper's construction)")
    if args.scale is not None and args.normalization == "count":
        raise PromptError("scale: --scale sets the constant normalizer c; the count normalizer c_j = |A(j)| takes "
                          "none (drop --scale or use --normalization constant)")
    if args.scale is not None:  # exact, bounded and without SymPy: a refusal takes milliseconds
        from ..rational import parse_number

        if parse_number(args.scale, "scale") <= 0:
            raise PromptError(f"scale: the constant normalizer needs c > 0, got {args.scale}")
    from ..masks import parse_attention
    from ..rule import parse_rule

    rule = parse_rule(args.rule, query=args.query_rule) if args.rule is not None else None
    if args.attention is not None:
        parse_attention(args.attention)
    construction = None
    if args.kq is not None:
        from ..matrix_text import parse_matrix

        kq = parse_matrix(args.kq, "kq")
        construction = (kq, parse_matrix(args.pv, "pv", size=kq.shape[0]))
    from proofs.variants import prove_variant

    scale = "1" if args.scale is None else args.scale
    result = prove_variant(rule if rule is not None else args.attention, args.normalization, scale, construction)
    claims = result["claims"]
    width = max(len(c["status"]) for c in claims)
    name = f"rule {rule.full_text!r}" if rule is not None else args.attention
    built = result["variant"]["construction"]["name"]
    lines = [f"variant: {name}, {args.normalization} normalizer, {built} construction"]
    for c in claims:
        lines.append(f"{c['id']:<3} {c['status']:<{width}} {c['seconds']:6.2f}s  {c['statement']}")
        lines.append(f"    {c['scope']}" + (f"  [assumes {', '.join(c['assumes'])}]" if c["assumes"] else ""))
        if "witness" in c:
            lines.append(f"    witness: {json.dumps(c['witness'])}")
    failed = [c["id"] for c in claims if c["status"] == "failed"]
    counts = [f"{sum(c['status'] == s for c in claims)} {s}" for s in
              ("proved", "conditional", "checked", "refuted", "failed") if any(c["status"] == s for c in claims)]
    lines.append(", ".join(counts) + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return result, "\n".join(lines), not failed
