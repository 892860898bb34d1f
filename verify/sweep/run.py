"""Run a grid's cells as Dask tasks and write each result as it arrives.

By default an embedded ``LocalCluster`` of worker processes (one thread each, no dashboard,
random ports on 127.0.0.1) is started and stopped; ``scheduler`` connects to an existing one
(``dask scheduler`` / ``dask worker``, dask-jobqueue, dask-kubernetes).  Each cell is one task,
:func:`verify.sweep.cell.run_cell`.  The client writes each row when its task finishes
(:func:`verify.sweep.store.write_cell`), so the workers need no shared file system.  Finished
cells are skipped; a worker that dies loses only the tasks it held, which the scheduler gives
to another worker (and a task lost too often is submitted again, up to ``RESUBMIT`` times,
before it becomes a row with its error).
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tqdm import tqdm

from ..errors import PromptError
from . import store
from .cell import run_cell
from .grid import Grid, cell_key

#: times a cell whose workers kept dying is submitted again before it is recorded as failed
RESUBMIT = 2
#: tasks submitted at a time (each finished cell lets the next one in)
IN_FLIGHT = 2000
#: seconds between checks for finished tasks (and for Ctrl-C)
POLL_SECONDS = 0.05
#: seconds to wait for an existing scheduler
CONNECT_TIMEOUT = "20s"


@dataclass(frozen=True)
class Summary:
    """What a sweep did: cells in the grid, computed now, skipped (already finished), failed now."""

    cells: int
    computed: int
    skipped: int
    failed: int
    seconds: float


def open_client(scheduler: str | None, workers: int | None):
    """``(client, cluster)``: a client of ``scheduler``, or of a new ``LocalCluster`` (``cluster`` to close)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise PromptError(f"scheduler: cannot connect to {scheduler!r} ({' '.join(str(exc).split())[:200]}); "
                              "start one with `dask scheduler` or leave --scheduler out") from None
    # processes, one thread each: the numerics hold the GIL and BLAS runs single-threaded on small problems.
    # SIGINT is ignored while they start: an ignored signal stays ignored across exec, so a Ctrl-C at the
    # terminal reaches only this process, not the workers (which would each print a traceback and die)
    with _sigint_ignored():
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                               silence_logs=logging.ERROR, preload=["verify.sweep.worker"])
    return Client(cluster), cluster


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _lost_row(cell: dict, key: str, why: str) -> dict:
    from ..cli import version

    return {**cell, "cell": key, "version": version(), "error": why, "seconds": None}


@contextlib.contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """While inside, Ctrl-C (SIGINT) sets the yielded event instead of raising wherever the main thread is.

    Dask's client is not safe against a KeyboardInterrupt raised inside its own calls; the sweep checks
    the event between results and raises KeyboardInterrupt itself, outside of them.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _compute(measure, todo: list, out: str, scheduler, workers, bar, interrupted: threading.Event) -> int:
    """Run the ``todo`` cells as tasks, writing each row as it arrives; the number of failed cells."""
    from dask.distributed import as_completed
    from distributed.scheduler import KilledWorker

    client, cluster = open_client(scheduler, workers)
    meta: dict = {}
    failed = 0

    def submit(key, cell, attempt):
        future = client.submit(run_cell, measure, cell, key, key=f"icl-verify-{key}-{attempt}")
        meta[future] = (key, cell, attempt)
        return future

    try:
        waiting = iter(todo)  # at most IN_FLIGHT tasks at a time: the scheduler's memory stays bounded
        pending = as_completed([submit(key, cell, 0) for key, cell in itertools.islice(waiting, IN_FLIGHT)])
        while not pending.is_empty():
            if interrupted.is_set():
                raise KeyboardInterrupt
            batch = pending.next_batch(block=False)
            if not batch:
                time.sleep(POLL_SECONDS)
            for future in batch:
                key, cell, attempt = meta.pop(future)
                try:
                    row = future.result()
                except KilledWorker as exc:
                    if attempt < RESUBMIT:
                        pending.add(submit(key, cell, attempt + 1))
                        continue
                    row = _lost_row(cell, key, f"sweep: workers died running this cell {attempt + 1} times ({exc})")
                except Exception as exc:  # the task could not run (e.g. a worker without icl-verify)
                    row = _lost_row(cell, key, f"sweep: the task failed ({type(exc).__name__}: {exc})"[:400])
                store.write_cell(out, row)
                future.release()
                failed += row["error"] is not None
                bar.update(1)
                bar.set_postfix(failed=failed)
                for key, cell in itertools.islice(waiting, 1):
                    pending.add(submit(key, cell, 0))
    finally:
        with _quiet_teardown(bool(meta)):
            if meta:  # interrupted: the unfinished tasks are not wanted any more
                client.cancel(list(meta))
            client.close()
            if cluster is not None:
                cluster.close()
    return failed


@contextlib.contextmanager
def _quiet_teardown(interrupted: bool) -> Iterator[None]:
    """After an interruption, Dask's complaints about tasks cancelled mid-flight are not news: the user
    gets the one line of the CLI."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if interrupted:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def sweep(grid: Grid, out: str, scheduler: str | None = None, workers: int | None = None,
          show: bool = True) -> Summary:
    """Compute every unfinished cell of ``grid`` into the dataset ``out`` (created if missing).

    Ctrl-C raises KeyboardInterrupt after the running tasks are cancelled and the cluster is closed;
    the cells written so far are kept.
    """
    start = time.perf_counter()
    cells = grid.cells()
    done = store.finished(out)
    todo = [(key, cell) for key, cell in ((cell_key(grid.measure, c), c) for c in cells) if key not in done]
    os.makedirs(out, exist_ok=True)
    failed = 0
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="sweep", unit="cell", file=sys.stderr,
               disable=not show, dynamic_ncols=True)
    bar.set_postfix(failed=0)
    try:
        if todo:  # dask is imported only when there is work: a finished grid is read and left alone
            with interrupt_flag() as interrupted:
                failed = _compute(grid.measure, todo, out, scheduler, workers, bar, interrupted)
    finally:
        bar.close()
    store.compact(out)
    return Summary(len(cells), len(todo), len(cells) - len(todo), failed, time.perf_counter() - start)
