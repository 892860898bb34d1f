"""Benchmark: the commands on long prompts, against the previous dense method (issue 13).

For n = 1,000, 5,000 and 10,000 (d = 20, m = 100) and every named mask, times
``stationary``, ``rate`` (asymptotic keys), ``rate --layers 100`` (n = 1,000 only)
and ``simulate --layers 10``, each in a fresh process from outside (wall clock and
peak resident memory), and the previous dense method on the same prompt where it
finishes within ``--budget`` seconds.  The dense method is kept here only, as the
baseline: ``N = D^{-1} M`` formed whole, its eigenvalues by ``numpy.linalg.eigvals``,
the stationary point by an SVD-based group inverse of ``N`` and an
``(n + m) x n x d`` read-out, the transient by an SVD of every power, the literal
forward with ``(n + m) x (n + m)`` scores.

Usage::

    python benchmarks/bench_scale.py [--sizes 1000 5000 10000] [--budget 120] [--masks prefix causal ...]

Prints one row per (n, mask, command): seconds, peak MB, baseline seconds (or
``> budget``) and the ratio.

``--large 100000 1000000`` adds rows at those sizes for ``stationary`` and ``rate`` of
prefix, causal, sliding:8 and block:16 (issue 21: the structured ``O(n d^2)`` engine,
``verify.structured``), each in a fresh process, with a column for numpy's ``lstsq``
on the same prompt in the same run (the physical reference for prefix) and the ratio
to it; for prefix and causal also the relative distance of the stationary query
predictions to the closed forms (``lstsq``'s, and the online-GD recursion run token by
token).  The engine is called through the API (``verify.lemma.stationary_weights``,
``verify.rates.analyse`` with ``attention=``), so the rows measure the engine itself.
``--simulate-long 100000 1000000`` adds ``simulate --layers 10`` rows at those sizes for
prefix, causal and sliding:8 (issue 21: the associative form of ``verify.linear``, no
``(n + m)^2`` array), from outside like the rows above; the previous dense method
runs only where its ``(n + m)^2`` float matrices fit (``DENSE_BYTES``), else the row
says it cannot.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASKS = ("prefix", "causal", "sliding:8", "block:16", "hybrid:100")
ETA = 1e-3

#: run one command in-process and report its peak memory (ru_maxrss, KB on Linux) on stderr
RUNNER = """
import resource, sys, time
from verify.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
print(f"@@ {code} {seconds} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""

#: the previous dense method, run in its own process on the same prompt
BASELINE = r"""
import sys, time, resource
import numpy as np
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.lsa import attend
from verify.construction import paper
from verify.prompt import load_prompt, tokens

path, spec, command, layers, eta = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
p = load_prompt(path)
n, d = p.X.shape
mask = attention_mask(spec, n, p.m)
c = normalizer("constant", mask, 1.0)
start = time.perf_counter()
N = (mask[:n, :n] * (p.X @ p.X.T)).T / c[:n, None]
if command == "rate":
    lam = np.linalg.eigvals(N)
    rate = float(np.max(np.abs(1 - eta * lam)))
    if layers:
        B, P = np.eye(n) - eta * N, np.eye(n)
        for _ in range(layers):
            P = P @ B
            np.linalg.svd(P, compute_uv=False)
elif command == "stationary":
    U, S, Vt = np.linalg.svd(N)
    rank = int(np.sum(S > n * np.finfo(float).eps * S[0] * 10))
    K, L = Vt[rank:].T, U[:, rank:]
    P0 = K @ np.linalg.solve(L.T @ K, L.T) if rank < n else np.zeros((n, n))
    s = (np.linalg.inv(N + P0) - P0) @ p.Y
    reads = mask[:n, :].astype(float)
    W = np.einsum("ij,ik,id->jkd", reads, s, p.X) / c[:, None, None]
    np.einsum("ij,ik,id->jkd", reads, np.eye(n), p.X)  # the old null-space reach test
elif command == "simulate":
    Z = tokens(p.X, p.Y, p.Xq)
    for _ in range(layers):
        Z = attend(Z, Z, paper(eta, d), mask, c)
print(f"@@ 0 {time.perf_counter() - start} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""


#: the structured engine on a named attention, in its own process (the API: no mask is formed)
LARGE_RUNNER = r"""
import resource, sys, time
import numpy as np
from verify.lemma import stationary_weights
from verify.prompt import load_prompt
from verify.rates import analyse
from verify.threads import blas_threads

path, spec, command, eta = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
p = load_prompt(path)
c = np.ones(p.n + p.m)
start = time.perf_counter()
with blas_threads(p.d):
    if command == "stationary":
        W = stationary_weights(p.X, p.Y, None, c, attention=spec)
        pred = np.einsum("md,md->m", p.Xq, W[p.n:, 0])
        np.save(sys.argv[5], pred)
    else:
        analyse(p.X, None, c, eta, attention=spec)
print(f"@@ 0 {time.perf_counter() - start} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""

#: numpy's lstsq on the same prompt: the physical reference for prefix (least squares, SPEC P3)
LSTSQ = r"""
import resource, sys, time
import numpy as np
from verify.prompt import load_prompt

p = load_prompt(sys.argv[1])
start = time.perf_counter()
w = np.linalg.lstsq(p.X, p.Y, rcond=None)[0]
np.save(sys.argv[2], p.Xq @ w[:, 0])
print(f"@@ 0 {time.perf_counter() - start} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""

#: the online-GD recursion (SPEC P6) token by token: the closed form the causal stationary point must equal
ONLINE = r"""
import sys
import numpy as np
from verify.prompt import load_prompt

p = load_prompt(sys.argv[1])
w = np.zeros(p.d)
for x, y in zip(p.X, p.Y[:, 0]):
    w += (y - w @ x) / (x @ x) * x
np.save(sys.argv[2], p.Xq @ w)
print("@@ 0 0 0", file=sys.stderr)
"""

LARGE_MASKS = ("prefix", "causal", "sliding:8", "block:16")


def large_rows(sizes: list, tmp: str) -> list:
    """Rows at large ``n`` (module doc): the structured engine against ``lstsq`` in the same run."""
    rows = []
    for n in sizes:
        path = os.path.join(tmp, f"large{n}.npz")
        prompt(path, n)
        ls_pred = os.path.join(tmp, "lstsq.npy")
        ls = run(LSTSQ, [path, ls_pred])
        online_pred = os.path.join(tmp, "online.npy")
        online = run(ONLINE, [path, online_pred])
        print(f"n={n:8d} numpy lstsq {ls[0]:8.2f} s {ls[1]:7.0f} MB" if ls else f"n={n:8d} numpy lstsq failed",
              flush=True)
        for spec in LARGE_MASKS:
            for command in ("stationary", "rate"):
                pred = os.path.join(tmp, "pred.npy")
                ours = run(LARGE_RUNNER, [path, spec, command, ETA, pred])
                row = {"n": n, "mask": spec, "command": command, "seconds": ours and ours[0],
                       "peak_mb": ours and ours[1], "lstsq_seconds": ls and ls[0],
                       "ratio_to_lstsq": (ours[0] / ls[0]) if (ours and ls) else None}
                line = (f"n={n:8d} {spec:11s} {command:11s} "
                        + (f"{ours[0]:8.2f} s {ours[1]:7.0f} MB  {row['ratio_to_lstsq']:6.2f}x lstsq" if ours
                           else "failed"))
                reference = {"prefix": (ls, ls_pred, "lstsq"), "causal": (online, online_pred, "online GD")}.get(spec)
                if ours and command == "stationary" and reference and reference[0]:
                    a, b = np.load(pred), np.load(reference[1])
                    row["relative_to_closed_form"] = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
                    line += f"  predictions within {row['relative_to_closed_form']:.1e} of {reference[2]}"
                rows.append(row)
                print(line, flush=True)
#: the masks of the long simulate rows, and the largest dense baseline started (its (n + m)^2 floats)
LONG_MASKS = ("prefix", "causal", "sliding:8")
DENSE_BYTES = 8 * 2 ** 30


def long_simulate_rows(sizes: list, tmp: str, budget: float) -> list:
    """``simulate --layers 10`` at long prompts (module doc), with the dense baseline where it can run."""
    rows = []
    for n in sizes:
        path = os.path.join(tmp, f"long{n}.npz")
        prompt(path, n)
        for spec in LONG_MASKS:
            out = os.path.join(tmp, "out.json")
            start = time.perf_counter()
            ours = run(RUNNER, ["simulate", path, "--attention", spec, "--eta", ETA, "--layers", 10, "--json", out])
            wall = time.perf_counter() - start
            dense = 8 * (n + 100) ** 2 <= DENSE_BYTES
            base = run(BASELINE, [path, spec, "simulate", 10, ETA], budget) if dense else None
            row = {"n": n, "mask": spec, "command": "simulate", "seconds": ours and ours[0], "wall": wall,
                   "peak_mb": ours and ours[1], "baseline_seconds": base and base[0],
                   "ratio": (base[0] / ours[0]) if (base and ours and ours[0] > 0) else None}
            rows.append(row)
            print(f"n={n:8d} {spec:11s} simulate --layers 10 "
                  + (f"{ours[0]:8.2f} s (wall {wall:6.2f} s) {ours[1]:7.0f} MB" if ours else "failed")
                  + ("   baseline " + (f"{base[0]:8.2f} s  ratio {row['ratio']:7.1f}x" if base and row["ratio"]
                                       else f"> {budget:.0f} s (or out of memory)" if dense
                                       else "cannot run: (n+m)^2 float matrices")), flush=True)
    return rows


def run(code: str, argv: list, budget: float | None = None):
    """``(seconds, peak MB)`` of one process, or None when it exceeds ``budget`` or fails."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    try:
        done = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True,
                              env=env, timeout=budget)
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in done.stderr.splitlines() if line.startswith("@@")]
    if not lines:
        errors = [line for line in done.stderr.splitlines() if "error" in line]
        if errors:
            print(f"    refused or failed: {errors[-1][:160]}", flush=True)
        return None
    _, status, seconds, kb = lines[-1].split()
    return (float(seconds), int(kb) / 1024) if status == "0" else None


def prompt(path: str, n: int, d: int = 20, m: int = 100, seed: int = 0) -> None:
    rng = np.random.default_rng([seed, n])
    X = rng.uniform(-1, 1, (n, d))
    Xq = rng.uniform(-1, 1, (m, d))
    w = rng.standard_normal(d)
    np.savez(path, X=X, y=X @ w, Xq=Xq, yq=Xq @ w)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--masks", nargs="+", default=list(MASKS))
    parser.add_argument("--budget", type=float, default=120.0, help="seconds allowed to the dense baseline")
    parser.add_argument("--large", type=int, nargs="*", default=[], metavar="N",
                        help="also these large sizes (e.g. 100000 1000000): structured engine vs numpy lstsq")
    parser.add_argument("--simulate-long", type=int, nargs="*", default=[], metavar="N",
                        help="also simulate --layers 10 at these sizes (e.g. 100000 1000000)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.large:
            rows += large_rows(args.large, tmp)
        if args.simulate_long:
            rows += long_simulate_rows(args.simulate_long, tmp, args.budget)
        for n in args.sizes:
            path = os.path.join(tmp, f"p{n}.npz")
            prompt(path, n)
            jobs = [("stationary", [], 0), ("rate", ["--eta", ETA], 0),
                    ("simulate", ["--eta", ETA, "--layers", 10], 10)]
            if n <= 1000:
                jobs.insert(2, ("rate --layers 100", ["--eta", ETA, "--layers", 100], 100))
            for spec in args.masks:
                for label, extra, layers in jobs:
                    command = label.split()[0]
                    out = os.path.join(tmp, "out.json")
                    start = time.perf_counter()
                    ours = run(RUNNER, [command, path, "--attention", spec, *extra, "--json", out])
                    wall = time.perf_counter() - start
                    base = run(BASELINE, [path, spec, command, layers, ETA], args.budget)
                    row = {"n": n, "mask": spec, "command": label, "seconds": ours and ours[0], "wall": wall,
                           "peak_mb": ours and ours[1], "baseline_seconds": base and base[0],
                           "baseline_peak_mb": base and base[1]}
                    row["ratio"] = (base[0] / ours[0]) if (base and ours and ours[0] > 0) else None
                    rows.append(row)
                    print(f"n={n:6d} {spec:11s} {label:18s} {row['seconds'] or float('nan'):8.2f} s "
                          f"(wall {wall:6.2f} s) {row['peak_mb'] or float('nan'):8.0f} MB   baseline "
                          + (f"{base[0]:8.2f} s {base[1]:7.0f} MB  ratio {row['ratio']:7.1f}x" if base
                             else f"> {args.budget:.0f} s (or out of memory)"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
