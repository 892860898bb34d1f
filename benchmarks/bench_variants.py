"""Benchmark: time of the variant claims V1-V5 (``prove --attention/--rule``), against a naive baseline.

Run::

    python benchmarks/bench_variants.py           # every variant below + the baseline
    python benchmarks/bench_variants.py --quick   # three variants

Prints, per variant, the wall time of ``proofs.variants.prove_variant`` and its statuses,
against the 30 s budget of issue 20 (2 cores).  The baseline is what a tool without a
decision procedure would do for the rule's structure: build the mask with the same rule at
every n up to ``N_NAIVE`` and test the properties there (it still covers only those n);
z3 decides them for every n.  The ratio naive / z3 is printed.
"""
from __future__ import annotations

import argparse
import time

from proofs.variants import prove_variant
from proofs.variants.structure import PROPERTIES, _brute, custom, decide, named
from verify.rule import parse_rule

BUDGET_SECONDS = 30.0
N_NAIVE = 120
VARIANTS = [("prefix", "constant"), ("causal", "constant"), ("causal", "count"), ("sliding:3", "count"),
            ("block:3", "constant"), ("hybrid:2", "count"),
            ("rule:kv_idx <= q_idx and (q_idx - kv_idx) % 2 == 0", "constant"),
            ("rule:kv_idx // 3 == q_idx // 3", "count"),
            ("rule:kv_idx // 4 == q_idx // 4 or (kv_idx < q_idx and kv_idx % 4 == 0)", "constant"),
            ("rule:kv_idx // 4 == q_idx // 4 or (kv_idx <= q_idx and q_idx - kv_idx < 4)", "constant"),
            ("rule:q_idx - kv_idx <= 1 and kv_idx - q_idx <= 1", "constant"),
            ("rule:kv_idx <= q_idx or q_idx < 2", "constant")]


def attention_of(spec: str):
    return parse_rule(spec[5:]) if spec.startswith("rule:") else spec


def naive_structure(spec: str) -> float:
    start = time.perf_counter()
    attention = custom(parse_rule(spec[5:])) if spec.startswith("rule:") else named(spec)
    for prop in PROPERTIES:
        all(_brute(attention, prop, n) for n in range(1, N_NAIVE + 1))
    return time.perf_counter() - start


def z3_structure(spec: str) -> float:
    start = time.perf_counter()
    decide(custom(parse_rule(spec[5:])) if spec.startswith("rule:") else named(spec))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three variants only")
    args = parser.parse_args()
    worst = 0.0
    for spec, kind in VARIANTS[:3] if args.quick else VARIANTS:
        start = time.perf_counter()
        report = prove_variant(attention_of(spec), kind)
        seconds = time.perf_counter() - start
        worst = max(worst, seconds)
        statuses = " ".join(f"{c['id']}={c['status']}" for c in report["claims"])
        print(f"{spec:<36} {kind:<8} {seconds:6.2f} s  {statuses}")
        z3_time, naive_time = z3_structure(spec), naive_structure(spec)
        print(f"    structure: z3 (every n) {z3_time:.3f} s, naive masks n <= {N_NAIVE} {naive_time:.3f} s "
              f"(ratio naive / z3 = {naive_time / z3_time:.1f}; the naive one covers only those n)")
    verdict = "within" if worst <= BUDGET_SECONDS else "OVER"
    print(f"slowest variant: {worst:.2f} s ({verdict} the {BUDGET_SECONDS:.0f} s budget)")


if __name__ == "__main__":
    main()
