"""Write a file whole or not at all: through a temporary file in the same directory, then ``os.replace``.

Used by ``icl-verify train`` and E4 (the integrator may switch them to the shared output helper).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO


def replace_file(path, write: Callable[[IO[bytes]], object]) -> str:
    """Call ``write(fh)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    A failure leaves ``path`` untouched and no temporary file behind.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
