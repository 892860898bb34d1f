"""Benchmark: time of the machine-checked proofs, against a naive baseline.

Run::

    python benchmarks/bench_prove.py            # every theorem + the baseline
    python benchmarks/bench_prove.py --quick    # baseline at the smallest size only

Prints, per theorem, the wall time of ``proofs.registry.run`` (default setup), the
total for all theorems (E0 included) against the 60 s budget, and a ratio against a naive
baseline: the P1 induction step checked the way one would without block matrices,
``sympy.simplify`` on the fully expanded difference of explicit (d+1) x (n+1) token
matrices with a symbol in every entry.  The naive check only covers one (n, d) per
run and grows with the size; the block proof covers every n and d at once.
"""
from __future__ import annotations

import argparse
import time

import sympy as sp

from proofs import p1, registry
from proofs.symbolic import construction
from verify.construction import paper
from verify.lsa import lsa_layer
from verify.masks import attention_mask
from verify.prompt import tokens

BUDGET_SECONDS = 60.0  # issue 19: the whole of `prove` (E0 included) on 2 cores


def naive_p1_step(n: int, d: int) -> float:
    """Seconds for the P1 step at one explicit size by plain ``simplify`` of the expanded difference."""
    start = time.perf_counter()
    eta, c = sp.symbols("eta c", positive=True)
    X = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x{i}_{k}"))
    Xq = sp.Matrix(1, d, lambda i, k: sp.Symbol(f"q{i}_{k}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y{i}"))
    w = sp.Matrix(1, d, lambda _, k: sp.Symbol(f"w{k}"))
    Z = tokens(X, y, Xq, W0=w)
    w_next = w + (eta / c) * (y.T - w * X.T) * X
    diff = sp.Matrix(lsa_layer(Z, paper(eta, d), attention_mask("prefix", n, 1), c)) - tokens(X, y, Xq, W0=w_next)
    assert all(sp.simplify(sp.expand(t)) == 0 for t in diff)
    return time.perf_counter() - start


def block_p1_step() -> float:
    """Seconds for the same step with symbolic n and d (block matrices)."""
    start = time.perf_counter()
    s = p1.symbols()
    setup = registry.Setup()
    assert p1.induction_step(setup, construction(setup), s, p1.gd_step(s)) == (True, True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="baseline at the smallest size only")
    args = parser.parse_args()

    start, cpu_start = time.perf_counter(), time.process_time()
    entries = registry.compose([registry.run(theorem) for theorem in registry.theorems()])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    for entry in entries:
        print(f"{entry['id']:<5} {entry['status']:<11} {entry['seconds']:7.2f} s")
    verdict = "within" if wall <= BUDGET_SECONDS else "OVER"
    print(f"all {len(entries)} theorems: {wall:.2f} s ({verdict} the {BUDGET_SECONDS:.0f} s budget); "
          f"{cpu:.2f} s of CPU (about the wall time on an idle machine; a busy one inflates the wall)")

    block = block_p1_step()
    print(f"P1 induction step, symbolic n and d (block matrices): {block:.3f} s")
    sizes = [(2, 1)] if args.quick else [(2, 1), (3, 2), (4, 3), (6, 3)]
    for n, d in sizes:
        naive = naive_p1_step(n, d)
        print(f"naive simplify on expanded matrices, n = {n}, d = {d}: {naive:.3f} s "
              f"(ratio naive / block = {naive / block:.1f}; covers only this n, d)")
    if not args.quick:
        # what a finite-size "checked" status up to n <= 6, d <= 3 would cost the naive way
        sweep = sum(naive_p1_step(n, d) for n in range(1, 7) for d in range(1, 4))
        print(f"naive sweep over all n <= 6, d <= 3: {sweep:.2f} s (ratio naive / block = {sweep / block:.1f}); "
              "the block proof covers every n, d")


if __name__ == "__main__":
    main()
