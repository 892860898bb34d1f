"""Benchmark: ``derive`` on numeric matrices, exact path against the symbolic engine.

Run::

    python benchmarks/bench_derive.py            # d = 2, 4, 5 against the engine; 60 x 60 exact
    python benchmarks/bench_derive.py --quick    # d = 2, 4 only

For random dense rational ``(K^T Q, P V)`` of a form-kept, non-GD member of SPEC
P10's family (the most work: every output is computed) it times
:func:`verify.derive.derive_exact` (P10's characterization in exact arithmetic)
and the naive baseline :func:`verify.derive.derive_symbolic` (the package's layer
on symbolic tokens, polynomial identities in SymPy) in the same run, checks they
agree, and prints the ratio; then the exact path alone on a 60 x 60 matrix, with
the text and LaTeX of its update, as ``icl-verify derive`` produces them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import sympy as sp

from verify.derive import derive_exact, derive_symbolic, update_latex, update_text


def member(d: int, seed: int = 0):
    """``K^T Q = [[A, 0], [c^T, 0]]``, ``P V = [[0, 0], [h^T, s]]`` with random rationals: the form is kept,
    the update is not preconditioned GD (extra terms), so every field of the answer is non-trivial."""
    rng = np.random.default_rng(seed)
    draw = lambda: sp.Rational(int(rng.integers(1, 6)) * int(rng.choice([-1, 1])), int(rng.integers(1, 4)))  # noqa: E731
    kq, pv = sp.zeros(d + 1), sp.zeros(d + 1)
    kq[:d, :d] = sp.Matrix(d, d, lambda *_: draw())
    kq[d, :d] = sp.Matrix(1, d, lambda *_: draw())
    pv[d, :] = sp.Matrix(1, d + 1, lambda *_: draw())
    return kq, pv


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for d in (2, 4) if args.quick else (2, 4, 5):
        kq, pv = member(d)
        fast, t_fast = timed(derive_exact, kq, pv)
        slow, t_slow = timed(derive_symbolic, kq, pv)
        agree = (fast.preserves_token_form == slow.preserves_token_form and fast.gamma == slow.gamma
                 and (fast.extra - slow.extra).expand() == sp.zeros(1, d))
        print(f"d = {d}: exact {t_fast:.3f} s, engine {t_slow:.3f} s, ratio {t_slow / t_fast:.0f}x, agree: {agree}")
    kq, pv = member(59)
    start = time.perf_counter()
    result = derive_exact(kq, pv)
    text, latex = update_text(result), update_latex(result)
    print(f"60 x 60, exact path with text ({len(text)} chars) and LaTeX ({len(latex)} chars): "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
