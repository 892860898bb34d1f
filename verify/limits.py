"""Every size limit of the command line, in one place.

A size the machine cannot hold is refused before anything is allocated, with
the limit named, instead of ending in a MemoryError (or a swap storm) halfway:

- ``MAX_ARRAY_BYTES``: one dense array built from user-given sizes (a prompt's
  arrays, the ``(n+m) x (n+m)`` attention matrices, the layer-by-layer states
  of ``simulate``, the experiments' task batches).
- ``MAX_LAYERS``: the depth of a stack (``--layers``, ``--eta-schedule``).
- ``MAX_ATTENTION_PARAM``: the parameter of ``sliding:K``, ``block:B``, ``hybrid:P``.
- ``MAX_TEXT_CHARS`` and ``MAX_TEXT_DEPTH``: text typed or read as a structure
  (JSON matrices, rule text, schedules), checked before it is parsed.
- ``MAX_DERIVE_SIDE`` / ``MAX_DERIVE_SIDE_SYMBOLIC``: the side ``d + 1`` of the
  matrices ``derive`` classifies, numeric (exact rationals) or with names
  (the symbolic engine's cost grows quickly with ``d``).
"""
from __future__ import annotations

import math

from .errors import PromptError

#: 2 GiB: one dense array the toolkit allocates from sizes a user gives
MAX_ARRAY_BYTES = 2 ** 31
#: layers of a stack (simulate, rate, schedules)
MAX_LAYERS = 1_000_000
#: the K, B or P of sliding:K, block:B, hybrid:P (token indices are int64 in numpy)
MAX_ATTENTION_PARAM = 2 ** 31
#: characters of one structured text input (a matrix, a rule, a schedule)
MAX_TEXT_CHARS = 4_000_000
#: nesting depth of structured text; a matrix needs 2
MAX_TEXT_DEPTH = 16
#: numeric derive matrices up to 80 x 80 (exact rationals: zero tests and products; a few seconds)
MAX_DERIVE_SIDE = 80
#: derive matrices holding names up to 6 x 6 (polynomial identities in SymPy; a few seconds)
MAX_DERIVE_SIDE_SYMBOLIC = 6


def _human(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} EiB"  # pragma: no cover


def check_array(field: str, shape, itemsize: int = 8, what: str = "an array") -> None:
    """Refuse an array of ``shape`` (``prod(shape) * itemsize`` bytes) above ``MAX_ARRAY_BYTES``.

    Raises
    ------
    PromptError : naming ``field``, the bytes needed and the limit.
    """
    size = math.prod(int(s) for s in shape) * int(itemsize)
    if size > MAX_ARRAY_BYTES:
        dims = " x ".join(str(int(s)) for s in shape)
        raise PromptError(f"{field}: {what} ({dims}) would need {_human(size)}; the limit is "
                          f"{_human(MAX_ARRAY_BYTES)} per array (verify.limits.MAX_ARRAY_BYTES): use smaller sizes")


def check_layers(field: str, layers: int) -> None:
    """Refuse a depth outside ``0..MAX_LAYERS``."""
    if layers < 0:
        raise PromptError(f"{field}: must be >= 0, got {layers}")
    if layers > MAX_LAYERS:
        raise PromptError(f"{field}: {layers} layers is above the limit of {MAX_LAYERS:,}; use fewer layers")
