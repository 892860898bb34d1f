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

An output that is a symbolic link is written *through*: its final target (also a
dangling link's, when the target's directory exists) is replaced atomically and the
link stays a link.  A link is refused where that is unsafe: to an input, a
directory, a device, a loop, or through ``/dev``, ``/proc`` or ``/sys``.  The names
``-``, ``/dev/stdout`` and ``/dev/stderr`` (and ``/dev/fd/1``, ``/dev/fd/2``) write to
the process's own stream; nothing is ever renamed over them.

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


#: output names that are the process's own streams (``/dev/stdout`` is a system link: never rename over it)
STREAMS = {"-": "stdout", "/dev/stdout": "stdout", "/dev/stderr": "stderr", "/dev/fd/1": "stdout",
           "/dev/fd/2": "stderr", "/proc/self/fd/1": "stdout", "/proc/self/fd/2": "stderr"}
#: a link whose chain passes through these is refused (devices, kernel files, other processes' descriptors)
SYSTEM_DIRS = ("/dev", "/proc", "/sys")
#: hops followed before a chain of links counts as a loop (the kernel's own limit is 40)
MAX_LINK_HOPS = 40


def stream_of(path) -> str | None:
    """``"stdout"`` or ``"stderr"`` when ``path`` names one of the process's streams, else None."""
    path = os.fspath(path)
    return STREAMS.get(path if path == "-" else os.path.normpath(path))


def _system(path: str) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in SYSTEM_DIRS) and not path.startswith("/dev/shm/")


def link_target(path: str, field: str = "out") -> str:
    """The file a link ``path`` finally names (absolute), following the chain hop by hop.

    Raises
    ------
    PromptError : a loop (more than ``MAX_LINK_HOPS`` hops) or a hop into ``/dev``, ``/proc`` or ``/sys``.
    """
    current = os.path.abspath(path)
    for _ in range(MAX_LINK_HOPS):
        if not os.path.islink(current):
            return current
        # resolve the directories of the link (themselves maybe links), then its own target relative to them
        hop = os.path.normpath(os.path.join(os.path.realpath(os.path.dirname(current)), os.readlink(current)))
        if _system(hop):
            raise PromptError(f"{field}: {path!r} is a link to the system path {hop!r}, which is not written "
                              f"through; give a regular file path (or - for stdout)")
        current = hop
    raise PromptError(f"{field}: {path!r} is a loop of symbolic links; give a regular file path")


def write_target(path) -> str:
    """Where writing ``path`` puts the bytes: ``path`` itself, or the final target when it is a link."""
    path = os.fspath(path)
    return link_target(path) if os.path.islink(path) else path


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
    directory (unless ``create_parent``), a parent that is not a directory, an
    unwritable parent, or a directory in ``/dev``, ``/proc`` or ``/sys``.  A link is
    judged by its final target (:func:`link_target`: loops and hops into system
    directories are refused; a dangling link needs its target's directory); a stream
    name (:data:`STREAMS`) passes and returns ``"<stdout>"`` or ``"<stderr>"``.
    """
    field, path = target.field, os.fspath(target.path)
    if stream_of(path):
        return f"<{stream_of(path)}>"
    if path == "" or path.endswith(os.sep):
        raise PromptError(f"{field}: {path!r} is not a file name; give a file path such as out.json")
    shown = path
    if os.path.islink(path):  # written through: every check below is about the link's final target
        path = link_target(path, field)
        if not os.path.isdir(os.path.dirname(path)):
            raise PromptError(f"{field}: {shown!r} is a dangling link to {path!r}, whose directory does not exist; "
                              f"create it or give another path")
    for source in inputs:
        if os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
            raise PromptError(f"{field}: {shown!r} is the input file {source!r}; writing there would destroy it, "
                              f"give another output path")
    via = "" if shown == path else f" (a link to {path!r})"
    if os.path.isdir(path):
        raise PromptError(f"{field}: {shown!r}{via} is a directory; give a file path inside it")
    if os.path.exists(path) and not os.path.isfile(path):
        raise PromptError(f"{field}: {shown!r}{via} exists and is not a regular file; give a regular file path")
    # the mode bits too: os.access says yes to root even for a file its owner made read-only
    if os.path.isfile(path) and not (os.access(path, os.W_OK) and os.stat(path).st_mode & 0o222):
        raise PromptError(f"{field}: {shown!r}{via} is read-only; give a writable path")
    parent = os.path.dirname(os.path.abspath(path))
    if _system(os.path.realpath(parent)):
        raise PromptError(f"{field}: {shown!r}{via} is in a system directory ({os.path.realpath(parent)}); "
                          f"give a path outside /dev, /proc and /sys")
    if not os.path.isdir(parent):
        if os.path.exists(parent) or not target.create_parent:
            why = "is not a directory" if os.path.exists(parent) else "does not exist"
            raise PromptError(f"{field}: the directory of {path!r} {why}; create it first or give another path")
        ancestor = _existing_ancestor(parent)
        if not os.path.isdir(ancestor):
            raise PromptError(f"{field}: {ancestor!r} is not a directory; give a path below a directory")
        _probe(ancestor, field, shown)
    else:
        _probe(parent, field, shown)
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
    temporary file is removed and ``path`` is left as it was.  A link is written
    through (the temporary file sits beside its final target, which it replaces;
    the link stays); a stream name (:data:`STREAMS`) gets the finished bytes.
    """
    stream = stream_of(path)
    if stream:
        with _to_stream(path, stream) as tmp:
            yield tmp
        return
    path = write_target(path)
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


@contextlib.contextmanager
def _to_stream(path, stream: str) -> Iterator[str]:
    """Yield a temporary file; on success copy its bytes to ``sys.stdout`` or ``sys.stderr``.

    A stream without a byte ``buffer`` (``contextlib.redirect_stdout`` to a ``StringIO``, a notebook kernel's
    stream, when ``main`` runs in-process) gets the text decoded as UTF-8; bytes that are not text (an ``.npz``)
    are refused in one line, and nothing is written.
    """
    stem, ext = os.path.splitext(os.path.basename(os.fspath(path)))
    fd, tmp = tempfile.mkstemp(prefix=".icl-verify-stream.", suffix=f".tmp{ext}")
    os.close(fd)
    try:
        yield tmp
        handle = getattr(sys, stream)
        with open(tmp, "rb") as fh:
            data = fh.read()
        _write_stream(handle, data, os.fspath(path))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_stream(handle, data: bytes, path: str) -> None:
    """Write ``data`` to the text stream ``handle``: through its byte ``buffer`` when it has one, else as text."""
    binary = getattr(handle, "buffer", None)
    if binary is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PromptError(f"{path!r}: this output is binary and the stream it names takes text only; "
                              f"give a file path") from None
    handle.flush()
    if binary is None:
        handle.write(text)
    else:
        binary.write(data)
        binary.flush()
    handle.flush()


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
    """Write ``result`` as JSON to the file ``target`` (atomically), or to the stream it names (:data:`STREAMS`)."""
    text = json.dumps(to_jsonable(result), indent=2)
    stream = stream_of(target)
    if stream:
        getattr(sys, stream).write(text + "\n")
    else:
        write_text(target, text + "\n")
