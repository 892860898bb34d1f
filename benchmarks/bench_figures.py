"""Benchmark: E1, E2 and E3 with the package vs a naive per-task, per-layer, per-position loop.

The naive side is written the way a reference script would be: for every task,
layer and target token it sums ``z_i (z_i^T K^T Q z_j)`` over the sources one pair
at a time with small numpy vectors; for E2 it runs online gradient descent
position by position for every context length separately and calls
``numpy.linalg.lstsq`` per task; for E3 it builds ``N = D^{-1} M`` entry by entry,
takes the stable step size from ``numpy.linalg.eigvals`` and the transient peak from
an SVD of every power ``B^l``.  It shares nothing with the package but the
random tasks.  Both sides run in this process on the same sampled tasks (the
sampling is not timed on either side); the naive side runs on fewer tasks, so the
comparison is per task (package time / its task count vs naive time / its task
count), and its numbers are checked against the package run on the same tasks.

Usage::

    python benchmarks/bench_figures.py [--tasks 64] [--naive-tasks 2] [--seed 0] [--repeat 3]

Exit status 0 when every ratio reaches ``--target`` (default 100) and the results agree.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from verify.experiments import e1_convergence
from verify.experiments.e1 import e1_errors, e1_tasks
from verify.experiments.e2 import MU_X, e2_errors, e2_tasks
from verify.experiments.e3 import FRACTIONS, e3_transient
from verify.experiments.tasks import sample_tasks
from verify.threads import blas_threads

D, N, M, ETA, LAYERS = 16, 40, 20, 0.04, 50
E2_QUERIES = 200


def naive_layer(Z, KQ, PV, reads, c):
    """One LSA layer, token by token: ``z_j += (1/c) P V sum_{i in A(j)} z_i (z_i^T K^T Q z_j)``."""
    new = [z.copy() for z in Z]
    for j, zj in enumerate(Z):
        total = np.zeros_like(zj)
        for i, zi in enumerate(Z):
            if reads(i, j):
                total += zi * float(zi @ (KQ @ zj))
        new[j] = zj + (PV @ total) / c
    return new


def naive_e1(X, Y, Xq, Yq):
    """Per-layer example and query MSE for one task, prefix and causal (lists of floats)."""
    KQ = np.zeros((D + 1, D + 1))
    KQ[:D, :D] = np.eye(D)
    V = np.zeros((D + 1, D + 1))
    V[D, D] = -1.0
    PV = ETA * np.eye(D + 1) @ V
    out = {}
    for model in ("prefix", "causal"):
        def reads(i, j, model=model):
            if i >= N:
                return False  # nobody reads a query
            return model == "prefix" or j >= N or i <= j
        Z = [np.append(x, y) for x, y in zip(X, Y[:, 0])] + [np.append(x, 0.0) for x in Xq]
        ex, q = [], []
        for layer in range(LAYERS + 1):
            ex.append(np.mean([Z[i][D] ** 2 for i in range(N)]))
            q.append(np.mean([(-Z[N + t][D] - Yq[t, 0]) ** 2 for t in range(M)]))
            if layer < LAYERS:
                Z = naive_layer(Z, KQ, PV, reads, 1.0)
        out[model] = (ex, q)
    return out


def naive_e2_task(X, Y, Xq, Yq, ns):
    """Causal stationary (online GD from scratch for each n) and least squares query MSE for one task."""
    causal, ls = [], []
    for n in ns:
        w = np.zeros(D)
        for j in range(n):
            x = X[j]
            w = w + (Y[j, 0] - w @ x) * x / (x @ x)
        w_ls = np.linalg.lstsq(X[:n], Y[:n, 0], rcond=None)[0]
        causal.append(np.mean([(w @ xq - yq) ** 2 for xq, yq in zip(Xq, Yq[:, 0])]))
        ls.append(np.mean([(w_ls @ xq - yq) ** 2 for xq, yq in zip(Xq, Yq[:, 0])]))
    return causal, ls


def naive_e3_task(X, model, layers=LAYERS):
    """Transient peaks of one task at every fraction of its stable step size (a list of floats)."""
    n = X.shape[0]
    N = np.zeros((n, n))
    for j in range(n):
        for i in range(n):
            if model == "prefix" or i <= j:
                N[j, i] = X[i] @ X[j]
    lam = np.linalg.eigvals(N)
    lam = lam[np.abs(lam) > n * np.finfo(float).eps * 10 * np.abs(lam).max()]  # the prefix Gram null space
    top = float(np.min(2 * lam.real / np.abs(lam) ** 2))
    peaks = []
    for fraction in FRACTIONS:
        B = np.eye(n) - fraction * top * N
        P, peak = np.eye(n), 1.0
        for _ in range(layers):
            P = P @ B
            peak = max(peak, np.linalg.norm(P, 2))
        peaks.append(peak)
    return peaks


def close(a, b, rel=1e-8, floor=1e-18):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + floor))


def best_time(fn, repeat):
    """Smallest wall time of ``repeat`` runs after one untimed warm-up run (first-touch page faults of fresh
    arrays and cold caches), on both sides alike (the machine is shared: the minimum is the least disturbed)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def bench_e1(tasks, naive_tasks, seed, repeat):
    Z0, Yq = e1_tasks(tasks, seed, D, N, M)
    package, _ = best_time(lambda: e1_errors(Z0, Yq, N, ETA, layers=LAYERS), repeat)
    X, Y, Xq, Yq = sample_tasks(np.random.default_rng([seed, 1]), naive_tasks, N, M, D)  # e1_tasks' draws
    naive, runs = best_time(lambda: [naive_e1(X[t], Y[t], Xq[t], Yq[t]) for t in range(naive_tasks)], repeat)
    rows = e1_convergence(naive_tasks, seed)  # the package on the very same tasks
    agree = all(close([r[key] for r in rows if r["model"] == model],
                      np.mean([run[model][k] for run in runs], axis=0))
                for model in ("prefix", "causal") for k, key in enumerate(("example_mse", "query_mse")))
    return package / tasks, naive / naive_tasks, agree


def bench_e2(tasks, naive_tasks, seed, repeat, max_n=300):
    ns, X, Y, Xq, Yq = e2_tasks(tasks, seed, D, E2_QUERIES, max_n)
    package, _ = best_time(lambda: e2_errors(X, Y, Xq, Yq, ns), repeat)
    ns, X, Y, Xq, Yq = e2_tasks(naive_tasks, seed, D, E2_QUERIES, max_n)
    causal_pkg, ls_pkg = e2_errors(X, Y, Xq, Yq, ns)
    naive, runs = best_time(lambda: [[naive_e2_task(X[i, t], Y[i, t], Xq[i, t], Yq[i, t], ns)
                                      for t in range(naive_tasks)] for i in range(len(MU_X))], repeat)
    causal = np.mean([[r[0] for r in per_mu] for per_mu in runs], axis=1)
    ls = np.mean([[r[1] for r in per_mu] for per_mu in runs], axis=1)
    # least squares is zero up to rounding on both sides: compare at the rounding scale
    agree = close(causal_pkg, causal, rel=1e-6) and close(ls_pkg, ls, rel=1.0, floor=1e-18)
    return package / tasks, naive / naive_tasks, agree


def bench_e3(tasks, naive_tasks, seed, repeat):
    package, _ = best_time(lambda: e3_transient(tasks, seed), repeat)
    samples = [sample_tasks(np.random.default_rng([seed, 3, index]), naive_tasks, N, 0, D, mu)[0]
               for index, mu in enumerate(MU_X)]  # e3_transient's draws
    naive, runs = best_time(lambda: {(mu, model): np.median([naive_e3_task(x, model) for x in samples[i]], axis=0)
                                     for i, mu in enumerate(MU_X) for model in ("prefix", "causal")}, repeat)
    rows = e3_transient(naive_tasks, seed)  # the package on the very same tasks
    agree = all(close([r["median_peak"] for r in rows if (r["mu_x"], r["model"]) == key], value, rel=1e-6)
                for key, value in runs.items())
    return package / (tasks * len(MU_X)), naive / (naive_tasks * len(MU_X)), agree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=64, help="tasks for the package (default 64)")
    parser.add_argument("--naive-tasks", type=int, default=2, help="tasks for the naive loop (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of this many runs on each side, after one warm-up run (default 3)")
    parser.add_argument("--target", type=float, default=100.0, help="required speed-up per task (default 100)")
    args = parser.parse_args(argv)
    print(f"per-task compute time on the same random tasks (sampling excluded on both sides), best of "
          f"{args.repeat} after a warm-up run: package on {args.tasks} tasks, naive loop on {args.naive_tasks} tasks")
    ok = True
    for name, bench in (("E1", bench_e1), ("E2", bench_e2), ("E3", bench_e3)):
        with blas_threads(16):  # as verify.commands.figures runs them: one BLAS thread for small matrices
            package, naive, agree = bench(args.tasks, args.naive_tasks, args.seed, args.repeat)
        ratio = naive / package
        ok &= agree and ratio >= args.target
        print(f"{name}: package {package * 1e3:.3f} ms/task, naive {naive * 1e3:.1f} ms/task, "
              f"ratio {ratio:.0f}x (target {args.target:g}x), results agree: {agree}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
