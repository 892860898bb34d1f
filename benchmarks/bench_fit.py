"""Benchmark: ``derive --fit``'s stack gap with the package vs a naive per-prompt, per-token loop.

The package runs every prompt of a chunk at once through ``verify.lsa.lsa_forward``
(``verify.fit.stack_predictions``).  The naive side is written the way a reference
script would be: for every prompt, layer and target token it sums
``z_i (z_i^T K^T Q z_j)`` over the sources one pair at a time with small numpy
vectors.  Both run in this process on the same prompts and weights (sampling is not
timed); the naive side runs on fewer prompts, so the ratio is per prompt, and its
predictions are checked against the package's on those prompts.

Usage::

    python benchmarks/bench_fit.py [--prompts 64] [--naive-prompts 2] [--n 200] [--layers 2] [--repeat 3]

Exit status 0 when the ratio reaches ``--target`` (default 50) and the predictions agree.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from verify.fit import fit_stack, stack_predictions
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.regression import TaskDistribution, token_batch


def naive_predictions(Z, KQ, PV, n: int, d: int, causal: bool, c: float) -> np.ndarray:
    """Query predictions of one prompt ``Z (d+k, T)``, token by token and source by source."""
    tokens = [Z[:, j].copy() for j in range(Z.shape[1])]
    for kq, pv in zip(KQ, PV, strict=True):
        new = []
        for j, zj in enumerate(tokens):
            total = np.zeros_like(zj)
            for i, zi in enumerate(tokens[:n]):  # nobody reads a query
                if not causal or j >= n or i <= j:
                    total += zi * float(zi @ (kq @ zj))
            new.append(zj + (pv @ total) / c)
        tokens = new
    return -np.array([z[d:] for z in tokens[n:]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--naive-prompts", type=int, default=2)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--d", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=50.0)
    args = parser.parse_args(argv)
    dist = TaskDistribution(d=args.d, n=args.n, m=8)
    rng = np.random.default_rng(0)
    KQ = 0.5 * rng.standard_normal((args.layers, args.d + 1, args.d + 1))
    PV = 0.5 * rng.standard_normal((args.layers, args.d + 1, args.d + 1))
    X, Y, Xq, _ = dist.sample(rng, args.prompts)
    Z0 = token_batch(X, Y, Xq)
    ok = True
    for attention in ("prefix", "causal"):
        mask = attention_mask(attention, dist.n, dist.m)
        c = normalizer("constant", mask, dist.n)
        package = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ours = stack_predictions(KQ, PV, Z0, dist.n, dist.d, mask, c)
            fit_stack(KQ, PV)
            package.append((time.perf_counter() - start) / args.prompts)
        start = time.perf_counter()
        naive = np.stack([naive_predictions(Z0[t], KQ, PV, dist.n, dist.d, attention == "causal", dist.n)
                          for t in range(args.naive_prompts)])
        naive_time = (time.perf_counter() - start) / args.naive_prompts
        scale = max(1.0, float(np.abs(naive).max()))
        agree = bool(np.abs(naive - ours[:args.naive_prompts]).max() <= 1e-9 * scale)
        ratio = naive_time / min(package)
        ok &= agree and ratio >= args.target
        print(f"{attention}: package {min(package) * 1e3:.3f} ms/prompt, naive {naive_time * 1e3:.1f} ms/prompt, "
              f"ratio {ratio:.0f}x (n = {dist.n}, {args.layers} layers), predictions agree: {agree}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
