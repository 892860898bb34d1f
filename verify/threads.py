"""How many BLAS threads the numerics use (issue 16).

Small dense problems run faster on one thread than on a BLAS pool that a busy
machine has to schedule: ``blas_threads(size)`` limits BLAS to one thread when
the largest matrix dimension is at most ``SMALL`` and leaves the BLAS default
otherwise.  The environment variable ``ICL_VERIFY_THREADS`` (a positive integer)
overrides the choice for every problem; ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` still set the BLAS default itself.
"""
from __future__ import annotations

import contextlib
import os

from .errors import PromptError

#: largest matrix dimension still run on one BLAS thread by default
SMALL = 512
ENV = "ICL_VERIFY_THREADS"


def chosen_threads(size: int) -> int | None:
    """The thread count for a problem whose largest dense dimension is ``size`` (None: the BLAS default)."""
    text = os.environ.get(ENV, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise PromptError(f"{ENV}: must be a positive integer number of BLAS threads, got {text!r}")
        return value
    return 1 if size <= SMALL else None


@contextlib.contextmanager
def blas_threads(size: int):
    """Run the block with the BLAS thread count chosen for ``size`` (``threadpoolctl``)."""
    threads = chosen_threads(size)
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
