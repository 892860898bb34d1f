"""Preload of the embedded cluster's worker processes (``LocalCluster(preload=[__name__])``).

A Ctrl-C at the terminal reaches every process of the foreground group; the client handles it
(cancels, closes the cluster, exits 130 keeping the finished cells), so the workers ignore it
instead of each printing a traceback.  Workers started with the cluster inherit an ignored
SIGINT (``verify.sweep.run.open_client``); this covers those a nanny restarts later.
"""
from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:
    """Called by Dask in each worker process when it starts."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
