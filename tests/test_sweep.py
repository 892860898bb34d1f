"""icl-verify sweep (issue 23): grids on a real Dask cluster, results in a Parquet dataset.

Every property is checked from outside (the dataset read back with pandas, the single commands
run as subprocesses) and has a mutation it must catch: an appending writer, a sweep that does not
skip finished cells, a sweep that records cells lost with a killed worker instead of rerunning
them, a grid reader that does not check values, floats passed to the commands with fewer digits.
Clusters are small (two worker processes, one thread each) and bound to 127.0.0.1 on random
ports, with no dashboard, so parallel test workers do not collide.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import run_cli

pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from verify.sweep import run as sweep_run  # noqa: E402
from verify.sweep import store  # noqa: E402
from verify.sweep.cell import argv_for, run_cell  # noqa: E402
from verify.sweep.grid import load_grid, parse_grid  # noqa: E402

# 16 cells; the count-normalized ones fail (--scale is refused with --normalization count)
SMALL = """
measure = ["stationary", "rate"]
[axes]
n = [7]
d = [2]
mu_x = [0.0, 0.3333333333333333]
sigma_x = [0.7]
attention = ["prefix", "causal"]
normalization = ["constant", "count"]
scale = [1.0]
eta = [0.05]
seed = [0, 1]
"""

# cells of about a second each on a busy machine: long enough to kill a worker or interrupt mid-run
SLOW = """
measure = ["rate"]
[axes]
n = [120]
d = [3]
attention = ["causal"]
eta = [0.01]
layers = [150]
seed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
"""


def cli(*args, timeout=900):
    """``python -m verify ARGS`` in a subprocess (the environment, PYTHONPATH included, is inherited)."""
    return subprocess.run([sys.executable, "-m", "verify", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def write_grid(tmp_path, text, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def expected_cells(text):
    """The grid's cells computed here, independently of verify.sweep: the product of the [axes] lists."""
    axes = tomllib.loads(text)["axes"]
    return {tuple(combo) for combo in itertools.product(*axes.values())}, list(axes)


def check_exactly_once(out, text):
    """Every cell of the grid appears exactly once in the dataset read with pandas; returns the table."""
    df = pd.read_parquet(out)
    cells, names = expected_cells(text)
    seen = [tuple(row) for row in df[names].itertuples(index=False)]
    assert len(seen) == len(set(seen)), "a cell appears more than once"
    assert set(seen) == cells, "cells are missing or foreign"
    assert df["cell"].is_unique
    return df


def check_complete(out, text):
    """Exactly once and no failed cell."""
    df = check_exactly_once(out, text)
    assert df["error"].isna().all(), df.loc[df["error"].notna(), "error"].tolist()
    return df


def mtimes(out):
    return {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)}


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes whose scheduler gives up on a task at the first worker death
    (allowed-failures 0), so the sweep's own resubmission of lost cells is what is tested."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                         dashboard_address=None, silence_logs=logging.ERROR)
    yield c
    c.close()


def worker_pids(address):
    from dask.distributed import Client

    with Client(address) as client:
        return list(client.run(os.getpid).values())


def when_cells(out, count, action):
    """Start a thread that runs ``action()`` once ``count`` cells are in ``out``; it records how many were."""
    state = {}

    def watch():
        while len(store.finished(str(out))) < count:
            time.sleep(0.02)
        state["at"] = len(store.finished(str(out)))
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, state


# ---------------------------------------------------------------- a small grid on the embedded cluster


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    grid = write_grid(tmp, SMALL)
    out = tmp / "out"
    proc = cli("sweep", grid, "--out", out, "--workers", 2, "--json", tmp / "summary.json")
    assert proc.returncode == 0, proc.stderr
    return grid, out, json.loads((tmp / "summary.json").read_text())


def test_small_grid_completes_once_and_rerun_recomputes_nothing(small_sweep, tmp_path):
    grid, out, summary = small_sweep
    assert summary["cells"] == summary["computed"] == 16 and summary["skipped"] == 0
    df = check_exactly_once(out, SMALL)
    failed = df[df["normalization"] == "count"]
    assert len(failed) == 8 and failed["error"].str.contains("scale").all()  # a failing cell is a row
    ok = df[df["normalization"] == "constant"]
    assert ok["error"].isna().all()
    for column in ("stationary.query_mse", "rate.rate", "rate.stable_eta_max", "rate.stable", "seconds"):
        assert ok[column].notna().all(), column
    assert set(df["version"]) == {cli("--version").stdout.split()[-1]}
    assert summary["failed"] == 8
    before = mtimes(out)
    proc = cli("sweep", grid, "--out", out, "--no-progress", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["computed"] == 0 and again["skipped"] == 16
    assert mtimes(out) == before  # nothing recomputed or rewritten


def single_command_row(tmp_path, row):
    """The row's numbers from the single commands, run as a user would on example-prompt's file."""
    prompt = tmp_path / f"p{row['seed']}.npz"
    made = cli("example-prompt", prompt, "--n", row["n"], "--d", row["d"], "--seed", row["seed"],
               "--mu-x", repr(row["mu_x"]), "--sigma-x", repr(row["sigma_x"]))
    assert made.returncode == 0, made.stderr
    model = ["--attention", row["attention"], "--normalization", row["normalization"], "--scale", "1.0"]
    values = {}
    for command, extra in (("stationary", []), ("rate", ["--eta", repr(row["eta"])])):
        proc = cli(command, prompt, *model, *extra, "--json", "-")
        if proc.returncode:
            return {"error": proc.stderr}
        values.update({f"{command}.{k}": v for k, v in json.loads(proc.stdout).items()
                       if v is None or isinstance(v, (bool, int, float, str))})
    return values


def assert_row_equals_commands(row, single):
    if "error" in single:
        assert row["error"] is not None and row["error"].split(": ", 1)[1] in single["error"]
        return
    assert row["error"] is None
    for key, value in single.items():
        got = row[key]
        got = got.item() if hasattr(got, "item") else got
        assert got == value, (key, got, value)  # exactly: the same code on the same prompt


def test_sampled_cells_equal_the_single_commands(small_sweep, tmp_path):
    _, out, _ = small_sweep
    df = pd.read_parquet(out)
    rows = [df[(df["attention"] == a) & (df["normalization"] == nz) & (df["mu_x"] > 0) & (df["seed"] == s)]
            for a, nz, s in (("causal", "constant", 1), ("prefix", "constant", 0), ("causal", "count", 0))]
    for sample in rows:
        row = sample.iloc[0].to_dict()
        row = {k: (None if isinstance(v, float) and np.isnan(v) and k == "error" else v) for k, v in row.items()}
        assert_row_equals_commands(row, single_command_row(tmp_path, row))


def test_mutant_with_fewer_digits_is_caught(small_sweep, tmp_path, monkeypatch):
    """Floats written with %g lose digits (mu_x = 1/3): the cell no longer equals the command."""
    _, out, _ = small_sweep
    df = pd.read_parquet(out)
    row = df[(df["attention"] == "causal") & (df["normalization"] == "constant") & (df["mu_x"] > 0)].iloc[0].to_dict()
    cell = {k: row[k] for k in expected_cells(SMALL)[1]}
    cell = {k: (v.item() if hasattr(v, "item") else v) for k, v in cell.items()}
    import verify.sweep.cell as cell_module

    good = run_cell(("stationary", "rate"), cell, row["cell"])
    single = single_command_row(tmp_path, row)
    assert_row_equals_commands(good, single)
    monkeypatch.setattr(cell_module, "argv_for",
                        lambda c, values, p: [a.split("=")[0] + f"={float(a.split('=')[1]):g}"
                                              if a.startswith("--mu-x=") else a for a in argv_for(c, values, p)])
    bad = run_cell(("stationary", "rate"), cell, row["cell"])
    with pytest.raises(AssertionError):
        assert_row_equals_commands(bad, single)


def test_plot_and_derived_gap(small_sweep, tmp_path):
    _, out, _ = small_sweep
    figure = tmp_path / "gap.png"
    proc = cli("sweep", "--plot", out, "--x", "mu_x", "--y", "causal_gap", "--hue", "seed", "--out", figure)
    assert proc.returncode == 0, proc.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    heat = tmp_path / "heat.png"
    assert cli("sweep", "--plot", out, "--x", "mu_x", "--y", "rate.rate", "--hue", "attention", "--kind", "heatmap",
               "--out", heat).returncode == 0
    # causal_gap recomputed here: the causal cell's query MSE minus the prefix cell's with every other axis equal
    from verify.sweep.plot import frame

    df, raw = frame(str(out)), pd.read_parquet(out)
    causal = df[(df["attention"] == "causal") & df["error"].isna()]
    assert len(causal) == 4
    for row in causal.itertuples():  # (columns with dots are read with .loc)
        prefix = raw[(raw["attention"] == "prefix") & (raw["normalization"] == row.normalization)
                     & (raw["mu_x"] == row.mu_x) & (raw["seed"] == row.seed)]
        mse = df.loc[row.Index, "stationary.query_mse"]
        assert df.loc[row.Index, "causal_gap"] == mse - prefix["stationary.query_mse"].item()
    # refused in one line: an unknown column, a figure inside the dataset
    code, _, err = run_cli_sweep("--plot", out, "--x", "n", "--y", "nope", "--out", tmp_path / "x.png")
    assert code == 2 and "y: no column 'nope'" in err and err.count("\n") == 1
    code, _, err = run_cli_sweep("--plot", out, "--x", "n", "--y", "rate.rate", "--out", out / "x.png")
    assert code == 2 and "inside the dataset" in err and not (out / "x.png").exists()


def run_cli_sweep(*args):
    proc = cli("sweep", *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_report_gains_a_sweep_section(small_sweep, tmp_path):
    _, out, _ = small_sweep
    report = tmp_path / "report"
    proc = cli("report", "--out", report, "--tasks", "1", "--max-n", "20", "--skip-proofs", "--skip-train",
               "--no-progress", "--sweep", out)
    assert proc.returncode == 0, proc.stderr
    text = (report / "report.md").read_text()
    assert "## Sweep" in text and "16 cells" in text and "8 failed" in text and "median causal_gap" in text
    missing = cli("report", "--out", tmp_path / "r2", "--tasks", "1", "--skip-proofs", "--skip-train",
                  "--sweep", tmp_path / "nothing")
    assert missing.returncode == 2 and "no sweep results" in missing.stderr
    assert not (tmp_path / "r2" / "report.md").exists()


# ---------------------------------------------------------------- a worker killed mid-run


def kill_one_worker_mid_run(cluster, out, text):
    """Run the SLOW grid on ``cluster`` and SIGKILL one worker process once 3 cells are finished."""
    pid = worker_pids(cluster.scheduler_address)[0]
    thread, state = when_cells(out, 3, lambda: os.kill(pid, signal.SIGKILL))
    summary = sweep_run.sweep(parse_grid(tomllib.loads(text)), str(out), cluster.scheduler_address, show=False)
    thread.join(timeout=60)
    assert state["at"] < 16, "the worker was killed after the sweep had finished"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return summary


def test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    out = tmp_path / "out"
    summary = kill_one_worker_mid_run(cluster, out, SLOW)
    assert summary.computed == 16 and summary.failed == 0
    check_complete(out, SLOW)
    before = mtimes(out)
    again = sweep_run.sweep(parse_grid(tomllib.loads(SLOW)), str(out), cluster.scheduler_address, show=False)
    assert again.computed == 0 and mtimes(out) == before


def test_mutant_that_does_not_rerun_lost_cells_is_caught(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_run, "RESUBMIT", 0)
    out = tmp_path / "out"
    kill_one_worker_mid_run(cluster, out, SLOW)
    with pytest.raises(AssertionError):
        check_complete(out, SLOW)


# ---------------------------------------------------------------- resuming: nothing done twice

FAST = """
measure = ["stationary"]
[axes]
n = [4, 5]
attention = ["prefix", "causal"]
seed = [0, 1, 2]
"""


def resume(cluster, tmp_path):
    """Run the grid's first seed (an interrupted sweep), then the whole grid: returns the second summary."""
    out = tmp_path / "out"
    first = FAST.replace("seed = [0, 1, 2]", "seed = [0]")
    sweep_run.sweep(parse_grid(tomllib.loads(first)), str(out), cluster.scheduler_address, show=False)
    kept = mtimes(out)
    summary = sweep_run.sweep(parse_grid(tomllib.loads(FAST)), str(out), cluster.scheduler_address, show=False)
    return out, kept, summary


def check_resumed(out, kept, summary):
    check_complete(out, FAST)
    assert summary.computed == 8 and summary.skipped == 4
    assert {name: t for name, t in mtimes(out).items() if name in kept} == kept


def test_resume_skips_finished_cells(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_run, "IN_FLIGHT", 3)  # and a window smaller than the grid lets every cell in
    check_resumed(*resume(cluster, tmp_path))


def test_mutant_appending_writer_is_caught(cluster, tmp_path, monkeypatch):
    """pyarrow's write_to_dataset adds a new part file per call: no dedup, so resuming duplicates cells."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def appending(out, row):
        pq.write_to_dataset(pa.Table.from_pylist([row]), out)

    monkeypatch.setattr(store, "write_cell", appending)
    monkeypatch.setattr(store, "finished", lambda out: set())  # part files are not KEY.parquet
    with pytest.raises(AssertionError):
        check_resumed(*resume(cluster, tmp_path))


def test_mutant_that_recomputes_finished_cells_is_caught(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "finished", lambda out: set())
    with pytest.raises(AssertionError):
        check_resumed(*resume(cluster, tmp_path))


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_exits_130_keeps_finished_cells_and_rerun_resumes(cluster, tmp_path):
    grid = write_grid(tmp_path, SLOW)
    out = tmp_path / "out"
    # in its own process group, and the SIGINT goes to the whole group, as a Ctrl-C at a terminal does:
    # the worker processes get it too and must stay quiet
    proc = subprocess.Popen([sys.executable, "-m", "verify", "sweep", str(grid), "--out", str(out), "--workers", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    thread, state = when_cells(out, 2, lambda: os.killpg(proc.pid, signal.SIGINT))
    _, err = proc.communicate(timeout=900)
    thread.join(timeout=60)
    kept = store.finished(str(out))
    assert proc.returncode == 130, (err, state, len(kept))
    assert "interrupted; finished cells are kept" in err and err.strip().count("\n") == 0, err
    assert state["at"] <= len(kept) < 16, (state, len(kept))
    before = mtimes(out)
    summary = sweep_run.sweep(parse_grid(tomllib.loads(SLOW)), str(out), cluster.scheduler_address, show=False)
    assert summary.computed == 16 - len(kept)
    check_complete(out, SLOW)
    assert {name: t for name, t in mtimes(out).items() if name in before} == before


# ---------------------------------------------------------------- --scheduler: a cluster started separately


def test_scheduler_started_separately(tmp_path):
    info = tmp_path / "scheduler.json"
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
        for _ in range(600):
            if info.exists() and info.read_text().strip():
                break
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
        grid = write_grid(tmp_path, FAST)
        out = tmp_path / "out"
        proc = cli("sweep", grid, "--out", out, "--scheduler", address, "--no-progress", "--json", "-")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["computed"] == 12
        check_complete(out, FAST)
    finally:
        for p in reversed(started):  # our own process groups only
            os.killpg(p.pid, signal.SIGTERM)
        for p in started:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    grid = write_grid(tmp_path, FAST)
    proc = cli("sweep", grid, "--out", tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}", "--no-progress")
    assert proc.returncode == 2 and "scheduler: cannot connect" in proc.stderr
    assert proc.stderr.count("\n") == 1


# ---------------------------------------------------------------- malformed grids: one line, exit 2, nothing written

MALFORMED = {
    "not TOML": ('measure = ["stationary"\n', "not valid TOML"),
    "unknown axis": ('measure = ["stationary"]\n[axes]\nwidth = [3]\n', "axes.width: unknown axis"),
    "axis of another command": ('measure = ["stationary"]\n[axes]\neta = [0.1]\n', "axes.eta: unknown axis"),
    "not a list": ('measure = ["stationary"]\n[axes]\nn = 3\n', "axes.n: expected a non-empty list"),
    "empty list": ('measure = ["stationary"]\n[axes]\nn = []\n', "axes.n: expected a non-empty list"),
    "bad value": ('measure = ["stationary"]\n[axes]\nn = [0]\n', "axes.n: must be a positive integer"),
    "wrong type": ('measure = ["stationary"]\n[axes]\nmu_x = ["big"]\n', "axes.mu_x: 'big' is not a number"),
    "bad attention": ('measure = ["rate"]\n[axes]\nattention = ["sideways"]\n', "axes.attention: unknown attention"),
    "bad eta": ('measure = ["rate"]\n[axes]\neta = [-1.0]\n', "axes.eta: step size must be"),
    "bad choice": ('measure = ["rate"]\n[axes]\nnormalization = ["max"]\n', "axes.normalization: 'max' is not one"),
    "repeated value": ('measure = ["stationary"]\n[axes]\nseed = [1, 1]\n', "axes.seed: a value is listed twice"),
    "unknown command": ('measure = ["train"]\n', "measure: 'train' cannot be measured"),
    "no measure": ('[axes]\nn = [3]\n', "measure: missing"),
    "unknown key": ('measure = ["rate"]\ncolour = 1\n', "colour: unknown top-level key"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_grid_is_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    text, message = MALFORMED[case]
    grid = write_grid(tmp_path, text)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "sweep", grid, "--out", out)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["grid.toml"]


def test_mutant_grid_reader_without_value_checks_is_caught(tmp_path, monkeypatch):
    import verify.sweep.grid as grid_module

    bad = ("bad value", "bad attention", "bad eta")
    for case in bad:
        with pytest.raises(Exception, match="axes"):
            load_grid(str(write_grid(tmp_path, MALFORMED[case][0])))
    monkeypatch.setattr(grid_module, "check_value", lambda axis, action, value: value)
    for case in bad:
        load_grid(str(write_grid(tmp_path, MALFORMED[case][0])))  # accepted: the test above would fail


def test_refused_options_and_directories(tmp_path, capsys):
    grid = write_grid(tmp_path, FAST)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    cases = [(("--out", afile), "out:"), (("--out", other), "not sweep results"),
             (("--out", tmp_path / "o", "--workers", "0"), "workers: must be >= 1"),
             (("--out", tmp_path / "o", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), "workers:"),
             ((), "out: give the dataset directory"),
             (("--out", tmp_path / "o", "--json", tmp_path / "o" / "s.json"), "json: the summary would go inside")]
    for args, message in cases:
        code, _, err = run_cli(capsys, "sweep", grid, *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    assert afile.read_text() == "mine" and os.listdir(other) == ["notes.txt"] and not (tmp_path / "o").exists()
    code, _, err = run_cli(capsys, "sweep", "--out", tmp_path / "o")
    assert code == 2 and "GRID:" in err


def test_without_the_extra_sweep_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    grid = write_grid(tmp_path, FAST)
    code, _, err = run_cli(capsys, "sweep", grid, "--out", tmp_path / "out")
    assert code == 2 and "pip install 'icl-verify[sweep]'" in err and not (tmp_path / "out").exists()


def test_example_grid_is_valid():
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "open_question_1.toml")
    grid = load_grid(path)
    assert set(grid.measure) == {"stationary", "rate"}
    assert {"d", "n", "mu_x", "attention"} <= set(grid.names)
    assert {"prefix", "causal"} <= set(dict(grid.axes)["attention"])


# ---------------------------------------------------------------- example-prompt --mu-x --sigma-x


def test_example_prompt_mean_and_scale(tmp_path, capsys):
    base, moved = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run_cli(capsys, "example-prompt", base, "--seed", "3")[0] == 0
    assert run_cli(capsys, "example-prompt", moved, "--seed", "3", "--mu-x=-2.5", "--sigma-x", "0.25")[0] == 0
    a, b = np.load(base), np.load(moved)
    for key in ("X", "Xq"):  # the same draws u, placed at mu_x + sigma_x u
        assert np.array_equal(b[key], -2.5 + 0.25 * a[key])
        assert np.all(np.abs(a[key]) <= 1)
    w = np.linalg.lstsq(a["X"], a["y"], rcond=None)[0]  # the same w labels both (noise 0)
    assert np.allclose(b["y"], b["X"] @ w) and np.allclose(b["yq"], b["Xq"] @ w)
    code, _, err = run_cli(capsys, "example-prompt", tmp_path / "c.npz", "--sigma-x", "0")
    assert code == 2 and "sigma_x" in err and not (tmp_path / "c.npz").exists()


# ---------------------------------------------------------------- one schema for the whole dataset


def cells_with_a_failure(out):
    """A failed cell (no result columns) whose file sorts first, then a finished one with a null value."""
    out.mkdir()
    store.write_cell(str(out), {"n": 3, "cell": "0" * 24, "version": "x", "error": "stationary: refused",
                                "seconds": 0.1})
    store.write_cell(str(out), {"n": 4, "cell": "f" * 24, "version": "x", "error": None,
                                "rate.rate": 0.5, "rate.stable_eta_max": None, "seconds": 0.2})


def test_compacted_dataset_reads_as_one_table(tmp_path):
    out = tmp_path / "out"
    cells_with_a_failure(out)
    assert store.compact(str(out)) == 2 and store.compact(str(out)) == 0
    df = pd.read_parquet(out).sort_values("n")
    assert df["rate.rate"].isna().tolist() == [True, False] and df["rate.rate"].iloc[1] == 0.5
    assert df["error"].iloc[0] == "stationary: refused" and df["error"].isna().tolist() == [False, True]


def test_mutant_without_compaction_is_caught(tmp_path):
    out = tmp_path / "out"
    cells_with_a_failure(out)
    with pytest.raises(KeyError):  # the first file's schema hides rate.rate
        df = pd.read_parquet(out).sort_values("n")
        assert df["rate.rate"].isna().tolist() == [True, False]
