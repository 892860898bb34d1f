"""Writing results without ever losing the user's data.

Every command that writes goes through this module:

- :func:`check_outputs` refuses, before any computation, an output path that is
  one of the command's input files (the same file after resolving links), a
  directory or another non-regular file, a read-only file, in a missing or
  unwritable directory, or the same path as another output of the same run;
- :func:`atomic_path` / :func:`write_text` / :func:`write_json` write to a
  temporary file in the target's directory and ``os.replace`` it over the target
  (atomic on POSIX), so an interrupted or failed run leaves the old file, or
  nothing, never a partial or truncated one.

JSON holds plain types; NaN and inf (values that overflowed) are written as ``null``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import PromptError


def to_jsonable(value):
    """Convert numpy values to plain JSON types; NaN and inf become None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


@dataclass(frozen=True)
class Output:
    """A file a command will write: the option that names it, its path, and whether its
    directory may be created by the command (``figures --out DIR`` creates ``DIR``)."""

    field: str
    path: str
    create_parent: bool = False


def _existing_ancestor(directory: str) -> str:
    while directory and not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory or "."


def _probe(directory: str, field: str, shown: str) -> None:
    """Create and remove a temporary file in ``directory``: the only reliable writability test
    (``os.access`` says yes to root everywhere, including ``/proc``)."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".icl-verify-probe-")
    except OSError as exc:
        raise PromptError(f"{field}: cannot write in the directory of {shown!r} ({exc.strerror or exc}); "
                          f"give a writable location") from None
    os.close(fd)
    os.unlink(probe)


def check_output(target: Output, inputs: Iterable[str] = ()) -> str:
    """Validate one output path; return its absolute real path.

    Refused (PromptError naming ``target.field``): the same file as an input, an
    existing directory or non-regular file, a read-only file, a missing parent
    directory (unless ``create_parent``), a parent that is not a directory, or an
    unwritable parent.
    """
    field, path = target.field, os.fspath(target.path)
    if path == "" or path.endswith(os.sep):
        raise PromptError(f"{field}: {path!r} is not a file name; give a file path such as out.json")
    for source in inputs:
        if os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
            raise PromptError(f"{field}: {path!r} is the input file {source!r}; writing there would destroy it, "
                              f"give another output path")
    if os.path.isdir(path):
        raise PromptError(f"{field}: {path!r} is a directory; give a file path inside it")
    if os.path.exists(path) and not os.path.isfile(path):
        raise PromptError(f"{field}: {path!r} exists and is not a regular file; give a regular file path")
    # the mode bits too: os.access says yes to root even for a file its owner made read-only
    if os.path.isfile(path) and not (os.access(path, os.W_OK) and os.stat(path).st_mode & 0o222):
        raise PromptError(f"{field}: {path!r} is read-only; give a writable path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        if os.path.exists(parent) or not target.create_parent:
            why = "is not a directory" if os.path.exists(parent) else "does not exist"
            raise PromptError(f"{field}: the directory of {path!r} {why}; create it first or give another path")
        ancestor = _existing_ancestor(parent)
        if not os.path.isdir(ancestor):
            raise PromptError(f"{field}: {ancestor!r} is not a directory; give a path below a directory")
        _probe(ancestor, field, path)
    else:
        _probe(parent, field, path)
    return os.path.realpath(path)


def check_outputs(outputs: Iterable[Output], inputs: Iterable[str] = ()) -> None:
    """Validate every output of a run (:func:`check_output`) and refuse two outputs on one path."""
    inputs = [os.fspath(p) for p in inputs if p is not None]
    seen: dict[str, str] = {}
    for target in outputs:
        real = check_output(target, inputs)
        if real in seen:
            raise PromptError(f"{target.field}: {target.path!r} is also where {seen[real]} is written; "
                              f"give different paths")
        seen[real] = target.field


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    The temporary name keeps the extension (writers such as ``savefig`` read the
    format from it).  On any exception, ``KeyboardInterrupt`` included, the
    temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}.", suffix=f".tmp{ext}")
    os.close(fd)
    try:
        yield tmp
        _copy_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_mode(path: str, tmp: str) -> None:
    """Give the new file the old file's permissions, or the usual ``0o666 & ~umask`` (mkstemp makes 0o600)."""
    if os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def replace_file(path: str | os.PathLike, write) -> str:
    """Call ``write(fh)`` on a binary file that replaces ``path`` only when it returns (see
    :func:`atomic_path`); a failure leaves ``path`` as it was.  Returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)
    return os.fspath(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(result: dict, target: str) -> None:
    """Write ``result`` as JSON to the file ``target`` (atomically), or to stdout when ``target == '-'``."""
    text = json.dumps(to_jsonable(result), indent=2)
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        write_text(target, text + "\n")
