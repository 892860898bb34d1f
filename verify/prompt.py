"""Prompts: the in-context examples and queries a user brings, and their tokens.

Files put one example per row, so ``X`` is ``(n, d)``; the tokens are columns
``z_i = [x_i; y_i]`` (SPEC section 1).
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .backend import hstack, is_numeric, transpose, vstack
from .errors import PromptError
from .limits import check_array


@dataclass(frozen=True)
class Prompt:
    """In-context examples ``(X, y)`` and queries ``Xq`` (labels ``yq`` optional).

    Attributes
    ----------
    X : (n, d) float array, one example per row.
    y : (n,) or (n, k) float array of labels (2-D for multi-output).
    Xq : (m, d) float array of queries.
    yq : (m,) or (m, k) float array, or None.
    """

    X: np.ndarray
    y: np.ndarray
    Xq: np.ndarray
    yq: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def m(self) -> int:
        return self.Xq.shape[0]

    @property
    def k(self) -> int:
        return 1 if self.y.ndim == 1 else self.y.shape[1]

    @property
    def Y(self) -> np.ndarray:
        """Labels as an ``(n, k)`` array whatever the file's shape."""
        return self.y.reshape(self.n, self.k)


def _float_array(name: str, value) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise PromptError(f"{name}: expected a real float array, got dtype {a.dtype}; save it with numpy as float64")
    a = a.astype(float)
    if not np.all(np.isfinite(a)):
        raise PromptError(f"{name}: contains NaN or inf; replace them with finite numbers")
    return a


def make_prompt(X, y, Xq=None, yq=None) -> Prompt:
    """Validate arrays and build a :class:`Prompt`.

    Raises
    ------
    PromptError
        On wrong shapes, mismatched dimensions, ``n = 0``, ``d = 0``, NaN/inf,
        or non-numeric dtypes; the message names the field and the fix.
    """
    X = _float_array("X", X)
    if X.ndim != 2:
        raise PromptError(f"X: expected shape (n, d) with one example per row, got shape {X.shape}")
    n, d = X.shape
    if n == 0:
        raise PromptError("X: the prompt has no examples (n = 0); give at least one row")
    if d == 0:
        raise PromptError("X: examples have dimension d = 0; give at least one column")
    y = _float_array("y", y)
    if y.ndim not in (1, 2) or y.shape[0] != n or (y.ndim == 2 and y.shape[1] == 0):
        raise PromptError(f"y: expected shape ({n},) or ({n}, k) to match X's {n} rows, got shape {y.shape}")
    if Xq is None:
        Xq = np.zeros((0, d))
    Xq = _float_array("Xq", Xq)
    if Xq.ndim != 2 or Xq.shape[1] != d:
        raise PromptError(f"Xq: expected shape (m, {d}) to match X's d = {d} columns, got shape {Xq.shape}")
    if yq is not None:
        yq = _float_array("yq", yq)
        want = (Xq.shape[0],) + y.shape[1:]
        if yq.shape != want:
            raise PromptError(f"yq: expected shape {want} to match Xq and y, got shape {yq.shape}")
    return Prompt(X, y, Xq, yq)


#: the arrays a prompt file may hold (anything else in the file is never read)
PROMPT_KEYS = ("X", "y", "Xq", "yq")


def npy_header(fp, field: str, where: str) -> tuple:
    """``(shape, dtype)`` from the header of an ``.npy`` stream, read without reading the data.

    Refuses (PromptError naming ``field``) a stream that is not ``.npy``, an object
    dtype (pickles are never loaded) and a declared size above ``verify.limits.MAX_ARRAY_BYTES``.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = read(fp)
    except Exception:
        raise PromptError(f"{field}: {where} is not a readable .npy array; write it with numpy.save") from None
    if dtype.hasobject:
        kind = "a boolean" if field == "attention-mask" else "a float"  # masks are boolean, every other array real
        raise PromptError(f"{field}: {where} holds Python objects; save it as {kind} array")
    check_array(field, shape, dtype.itemsize, what=where)
    return shape, dtype


def check_npy_file(path: str, field: str) -> None:
    """Check an ``.npy`` file's header (see :func:`npy_header`) before numpy reads it."""
    if not os.path.exists(path):
        return  # the loader says "not found" in its own words
    if not os.path.isfile(path):  # a directory, or a FIFO or device numpy would block on
        raise PromptError(f"{field}: {path!r} is not a regular file; give the path of a .npy array")
    with open(path, "rb") as fp:
        npy_header(fp, field, repr(path))


def load_prompt(path: str | os.PathLike, check=None) -> Prompt:
    """Read a prompt from an ``.npz`` file with arrays ``X``, ``y``, ``Xq`` and optionally ``yq``.

    Each array's header is checked before its data is read (object dtypes and sizes
    above ``verify.limits.MAX_ARRAY_BYTES`` are refused); only the four arrays of
    ``PROMPT_KEYS`` are read, with ``allow_pickle=False``.  ``check(n, d, m, k)``, when
    given, runs on the sizes the headers declare, before any data is read: a command
    refuses a run its limits cannot admit without reading a long prompt first.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "not found" if not os.path.exists(path) else "is not a regular file"
        raise PromptError(f"PROMPT: {path!r} {what}; give the path of an .npz prompt file")
    unreadable = f"PROMPT: {path!r} is not a readable .npz file; write it with numpy.savez"
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
            shapes = {}
            for key in PROMPT_KEYS:
                if key in members:
                    with archive.open(members[key]) as fp:
                        shapes[key] = npy_header(fp, key, f"array {key} of {path!r}")[0]
    except PromptError:
        raise
    except Exception:
        raise PromptError(unreadable) from None
    for key in ("X", "y", "Xq"):
        if key not in members:
            raise PromptError(f"{key}: missing from {path!r}; the file needs arrays X (n, d), y (n,), Xq (m, d)")
    X, y, Xq = (shapes[key] for key in ("X", "y", "Xq"))
    if check is not None and len(X) == 2 and len(Xq) == 2 and len(y) in (1, 2):  # else make_prompt says what
        check(X[0], X[1], Xq[0], 1 if len(y) == 1 else y[1])
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in PROMPT_KEYS if key in members}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise PromptError(f"PROMPT: {path!r} holds object arrays; save X, y, Xq as float arrays") from None
        raise PromptError(unreadable) from None
    except Exception:
        raise PromptError(unreadable) from None
    return make_prompt(arrays["X"], arrays["y"], arrays["Xq"], arrays.get("yq"))


def example_prompt(n: int = 12, d: int = 3, m: int = 4, seed: int = 0, noise: float = 0.0,
                   mu_x: float = 0.0, sigma_x: float = 1.0) -> Prompt:
    """A small random prompt: ``x = mu_x + sigma_x u`` with ``u ~ U(-1, 1)^d`` (examples and queries),
    ``w ~ N(0, I)``, ``y = w x + noise``.

    The defaults ``mu_x = 0``, ``sigma_x = 1`` give exactly ``x = u`` (the draws do not depend on them).
    """
    rng = np.random.default_rng(seed)
    X = mu_x + sigma_x * rng.uniform(-1, 1, (n, d))
    Xq = mu_x + sigma_x * rng.uniform(-1, 1, (m, d))
    w = rng.standard_normal(d)
    y = X @ w + noise * rng.standard_normal(n)
    yq = Xq @ w
    return make_prompt(X, y, Xq, yq)


def tokens(X, Y, Xq, W0=None):
    """Token matrix ``Z`` with one column per token, examples first, then queries.

    ``z_i = [x_i; y_i - W0 x_i]`` and ``z_q = [x_q; -W0 x_q]`` (SPEC sections 1 and 5).

    Parameters
    ----------
    X : (n, d), Y : (n, k), Xq : (m, d) -- numpy arrays or SymPy matrices.
    W0 : (k, d) initial weight, or None for zero.

    Returns
    -------
    Z : (d + k, n + m)
    """
    XT, XqT, YT = transpose(X), transpose(Xq), transpose(Y)
    if W0 is None:
        query_labels = 0 * (YT[:, :1] @ XqT[:1, :])  # zeros of the right type and shape
    else:
        YT = YT - W0 @ XT
        query_labels = -(W0 @ XqT)
    return vstack([hstack([XT, XqT]), hstack([YT, query_labels])])


def split_tokens(Z, n: int, d: int):
    """Read a token matrix back: ``(example residuals (n, k), query predictions (m, k))``.

    The example part is the last ``k`` coordinates of each example token; the
    prediction for a query is minus the last ``k`` coordinates of its token.
    """
    if not is_numeric(Z):  # SymPy matrices have no ``...`` indexing
        return Z[d:, :n].T, -Z[d:, n:].T
    if is_numeric(Z):
        labels = Z[..., d:, :]
        return transpose(labels[..., :n]), -transpose(labels[..., n:])
    return Z[d:, :n].T, -Z[d:, n:].T  # SymPy matrices take no ellipsis
