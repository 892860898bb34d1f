"""Benchmark: ``icl-verify sweep`` on an embedded LocalCluster against a plain loop over the same cells.

Run::

    python benchmarks/bench_sweep.py                 # the 200-cell grid below, 2 worker processes
    python benchmarks/bench_sweep.py --grid examples/open_question_1.toml --workers 4

Prints the wall time of the sweep (cluster start, tasks, one Parquet file per cell), of a rerun of
the finished grid (nothing computed), and of the baseline: the same cells run one after another in
this process by :func:`verify.sweep.cell.run_cell` with nothing written, i.e. what a user's own loop
over the commands costs.  The ratio baseline / sweep is the speed-up of the workers net of Dask's
and Parquet's overhead (about the number of workers once cells take more than a few milliseconds).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from verify.sweep.cell import run_cell
from verify.sweep.grid import cell_key, load_grid, parse_grid
from verify.sweep.run import sweep

GRID_200 = """
measure = ["stationary", "rate"]
[axes]
attention = ["prefix", "causal"]
n = [10, 20, 40, 80, 160]
mu_x = [0.0, 1.0]
d = [2, 4]
eta = [0.01]
seed = [0, 1, 2, 3, 4]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", help="a grid file (default: the 200-cell grid in this file)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    grid = load_grid(args.grid) if args.grid else parse_grid(tomllib.loads(GRID_200))
    cells = grid.cells()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        start = time.perf_counter()
        summary = sweep(grid, out, workers=args.workers, show=False)
        swept = time.perf_counter() - start
        start = time.perf_counter()
        again = sweep(grid, out, workers=args.workers, show=False)
        rerun = time.perf_counter() - start
    assert summary.computed == len(cells) and again.computed == 0
    start = time.perf_counter()
    for cell in cells:
        run_cell(grid.measure, cell, cell_key(grid.measure, cell))
    baseline = time.perf_counter() - start
    print(f"{len(cells)} cells, {args.workers} workers: sweep {swept:.1f} s ({summary.failed} failed), "
          f"rerun {rerun:.2f} s, baseline loop {baseline:.1f} s; baseline / sweep = {baseline / swept:.2f}")


if __name__ == "__main__":
    main()
