"""The structure of the attention among examples: strongly connected components, in order (issue 13).

Example ``j`` reads example ``i`` when ``mask[i, j]``; the graph ``i -> j`` splits
into strongly connected components, and ordered topologically (every component
after the components it reads) ``N = D^{-1} M`` is block lower triangular.  So

- its eigenvalues are those of the diagonal blocks ``N_CC`` (a lemma about the
  structure, applied to every mask, named or custom);
- ``N s = b`` is solved by block forward substitution in that order.

Each component is one of three kinds:

- ``single``: one example, ``N_jj = [j in A(j)] x_j^T Gamma x_j / c_j`` exactly
  (every triangular rule: causal, sliding, the causal part of hybrid);
- ``full``: every example of ``C`` reads all of ``C`` (block, prefix, the prefix
  of hybrid): ``N_CC = D_C^{-1} X_C Gamma X_C^T``.  With the thin SVD
  ``X_C = U S V^T`` (rank ``r``), ``N_CC = D_C^{-1} U H U^T`` with
  ``H = S V^T Gamma V S`` (``r x r``), whose nonzero eigenvalues are those of
  ``H U^T D_C^{-1} U`` -- similar to the symmetric ``R^T H R`` (``U^T D^{-1} U = R R^T``)
  when ``Gamma`` is symmetric: ``eigvalsh`` of an ``r x r`` matrix, never an
  eigensolver of size ``|C|``;
- ``general``: anything else (a custom mask); its dense ``N_CC`` goes to a
  symmetric solver when ``mask_CC`` is symmetric and ``Gamma`` too (``D^{1/2}``
  similarity), else to a dense non-symmetric one.  Limited to
  ``DENSE_LIMIT`` examples.

The components are found without a graph of size ``n^2``: reads of a later
example (``i > j``) can only happen inside an interval of the natural order
that no such read leaves, so the intervals with no read crossing their end are
unions of components in topological order; only an interval that is neither a
single example nor full is split further (``scipy.sparse.csgraph``, strong
connection, then its condensation ordered by Kahn's algorithm).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PromptError
from .tolerances import EPS, SEMISIMPLE_MIN, rank_tol

#: largest component (or prompt, for the coupled fallback) given to a dense eigensolver
DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Component:
    """Examples ``index`` forming one strongly connected component, and its kind."""

    index: np.ndarray
    kind: str  # "single" | "full" | "general"


def intervals(mask, n: int, runs=None) -> list:
    """Maximal splitting of ``0..n-1`` into intervals that no read of a later example crosses.

    ``reach(j) = max(j, max {i : mask[i, j]})``; a cut after ``p`` is allowed iff
    ``max_{j <= p} reach(j) <= p``.  Returns ``[(start, stop), ...]``.
    """
    runs = runs_of(mask, n) if runs is None else runs
    examples = runs.owner < n
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, runs.owner[examples], runs.stop[examples] - 1)
    positions = np.arange(n)
    ends = np.flatnonzero(np.maximum.accumulate(np.maximum(last, positions)) == positions)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return list(zip(starts.tolist(), (ends + 1).tolist(), strict=True))


def _full(runs, start: int, stop: int) -> bool:
    """Every example of ``[start, stop)`` reads all of it (one of its runs covers the interval)."""
    lo, hi = np.searchsorted(runs.owner, [start, stop])
    covers = (runs.start[lo:hi] <= start) & (runs.stop[lo:hi] >= stop)
    return np.unique(runs.owner[lo:hi][covers]).size == stop - start


def _split(block: np.ndarray) -> list:
    """Strongly connected components of the graph ``i -> j`` when ``block[i, j]``, in topological order."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    count, labels = connected_components(csr_matrix(block), directed=True, connection="strong")
    src, dst = np.nonzero(block)
    a, b = labels[src], labels[dst]
    keep = a != b
    edges = np.unique(np.stack([a[keep], b[keep]], axis=1), axis=0) if keep.any() else np.zeros((0, 2), int)
    indegree = np.bincount(edges[:, 1], minlength=count)
    successors: list[list[int]] = [[] for _ in range(count)]
    for u, v in edges:
        successors[u].append(v)
    # Kahn's algorithm; ties by smallest first example, so a triangular order is kept as it is
    first = np.array([np.flatnonzero(labels == k)[0] for k in range(count)])
    ready = sorted(np.flatnonzero(indegree == 0).tolist(), key=lambda k: first[k])
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for v in successors[k]:
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
        ready.sort(key=lambda q: first[q])
    return [np.flatnonzero(labels == k) for k in order]


def components(mask, n: int, runs=None) -> list:
    """The strongly connected components of the examples, topologically ordered, each with its kind."""
    mask = np.asarray(mask)
    runs = runs_of(mask, n) if runs is None else runs
    out = []
    for start, stop in intervals(mask, n, runs):
        if stop - start == 1:
            out.append(Component(np.array([start]), "single"))
            continue
        if _full(runs, start, stop):
            out.append(Component(np.arange(start, stop), "full"))
            continue
        block = mask[start:stop, start:stop]
        for part in _split(block):
            index = part + start
            if index.size == 1:
                out.append(Component(index, "single"))
            else:
                out.append(Component(index, "full" if mask[np.ix_(index, index)].all() else "general"))
    return out


def null_space(N: np.ndarray, symmetric: bool = False):
    """Group inverse ``N^#`` and the projector ``P_0`` onto ``N``'s null space along its range.

    With ``K`` a basis of ``null(N)`` and ``L`` one of ``null(N^T)`` (from the SVD),
    ``P_0 = K (L^T K)^{-1} L^T`` and ``N^# = (N + P_0)^{-1} - P_0``; for an invertible
    ``N`` this is ``N^{-1}`` and ``P_0 = 0``, for a symmetric one ``N^# = N^+``.
    Returns None when the zero eigenvalue is not semisimple (``L^T K`` singular: a
    Jordan block, along which ``sum_l (I - eta N)^l`` grows polynomially).
    ``symmetric`` is accepted for symmetry with callers; the construction does not need it.
    """
    n = N.shape[0]
    U, S, Vt = np.linalg.svd(N)
    rank = int(np.sum(S > rank_tol(N))) if n else 0
    if rank == n:
        return np.linalg.inv(N), np.zeros((n, n))
    K, L = Vt[rank:].T, U[:, rank:]
    LK = L.T @ K
    if np.linalg.svd(LK, compute_uv=False).min() < SEMISIMPLE_MIN:
        return None
    P0 = K @ np.linalg.solve(LK, L.T)
    return np.linalg.inv(N + P0) - P0, P0


def check_dense(size: int, what: str) -> None:
    if size > DENSE_LIMIT:
        raise PromptError(f"attention-mask: {what} of {size} examples needs a dense eigensolver, limited to "
                          f"{DENSE_LIMIT} examples; use a mask whose strongly connected components are single "
                          "examples or full blocks, or fewer examples")


@dataclass(frozen=True)
class Gram:
    """A full block in its small basis: ``N_CC = D^{-1} U H U^T``, ``H = S V^T Gamma V S`` (rank ``r``)."""

    U: np.ndarray        # (b, r)
    H: np.ndarray        # (r, r)
    S: np.ndarray        # (r, r)  U^T D^{-1} U
    lam: np.ndarray      # the r nonzero eigenvalues
    zeros: int           # b - r


def gram(X, c, gamma=None) -> Gram:
    """The full block ``N_CC = D^{-1} X_C Gamma X_C^T`` of ``X_C (b, d)`` in its rank-``r`` basis.

    Rank: eigenvalues ``sigma_i^2`` above ``10 b eps sigma_max^2`` (``rank_tol`` of ``N_CC``).  Raises
    PromptError when ``Gamma`` makes ``H`` singular or is not symmetric (then the
    block is handled as a general one by the caller).
    """
    b, d = X.shape
    U, sigma, Vt = np.linalg.svd(X, full_matrices=False)
    # the numerical rank of N_CC (eigenvalues sigma^2 / c) by the convention of rank_tol: an eigenvalue
    # below 10 b eps lambda_max is a null direction (SPEC P4's lambda_min^+ ignores it)
    r = int(np.sum(sigma**2 > b * EPS * 10 * sigma[0] ** 2)) if sigma.size and sigma[0] > 0 else 0
    U, sigma, V = U[:, :r], sigma[:r], Vt[:r].T
    c = np.asarray(c, dtype=float)
    equal = bool(np.all(c == c[0]))
    S = (U.T / c) @ U
    if gamma is None:
        H = np.diag(sigma**2)
        lam = np.sort(sigma**2 / c[0]) if equal else np.linalg.eigvalsh(_similar(H, S))
    else:
        H = sigma[:, None] * (V.T @ gamma @ V) * sigma[None, :]
        if not np.array_equal(gamma, np.asarray(gamma).T):
            raise _NotGram()
        lam = np.linalg.eigvalsh(H / c[0]) if equal else np.linalg.eigvalsh(_similar(H, S))
        if r and np.min(np.abs(lam)) <= rank_tol(H) / c.max():
            raise _NotGram()
    return Gram(U, H, S, lam.astype(complex), b - r)


class _NotGram(Exception):
    """A full block whose preconditioner leaves the Gram form (non-symmetric or singular ``H``)."""


def _similar(H, S):
    """``R^T H R`` with ``S = R R^T``: symmetric and similar to ``H S``."""
    R = np.linalg.cholesky((S + S.T) / 2)
    A = R.T @ H @ R
    return (A + A.T) / 2


def gram_solve(g: Gram, b: np.ndarray, c) -> np.ndarray:
    """``s = N_CC^# b`` (group inverse: the part of ``b`` in ``range(N_CC)``, solved within it).

    ``range(N_CC) = D^{-1} U``, ``null(N_CC) = null(U^T)``: with
    ``b = D^{-1} U beta + nu`` (``U^T nu = 0``), ``beta = S^{-1} U^T b`` and
    ``s = D^{-1} U a`` with ``H S a = beta``.
    """
    if g.U.shape[1] == 0:
        return np.zeros_like(b)
    beta = np.linalg.solve(g.S, g.U.T @ b)
    a = np.linalg.solve(g.S, np.linalg.solve(g.H, beta))
    return (g.U @ a) / np.asarray(c, dtype=float)[:, None]


def block_operator(X, mask, c, index, gamma=None) -> np.ndarray:
    """The diagonal block ``N_CC`` (``|C| x |C|``) formed densely."""
    XC = X[index]
    XG = XC if gamma is None else XC @ gamma
    return (np.asarray(mask)[np.ix_(index, index)] * (XG @ XC.T)).T / np.asarray(c, dtype=float)[index, None]


def general_eigenvalues(X, mask, c, index, gamma=None) -> np.ndarray:
    """Eigenvalues of a general block: symmetric solver after a ``D^{1/2}`` similarity when possible."""
    check_dense(index.size, "a strongly connected component")
    mask = np.asarray(mask)
    sub = mask[np.ix_(index, index)]
    NC = block_operator(X, mask, c, index, gamma)
    if np.array_equal(sub, sub.T) and (gamma is None or np.array_equal(gamma, np.asarray(gamma).T)):
        root = np.sqrt(np.asarray(c, dtype=float)[index])
        A = NC * root[:, None] / root[None, :]  # D^{1/2} N D^{-1/2} = D^{-1/2} M D^{-1/2}, symmetric
        return np.linalg.eigvalsh((A + A.T) / 2).astype(complex)
    return np.linalg.eigvals(NC)


@dataclass(frozen=True)
class Block:
    """One component with its eigenvalues and what solving ``N_CC s = b`` needs.

    ``lam``: eigenvalues of ``N_CC`` that are not (numerically) zero; ``zeros``: how many are;
    ``solver``: a float (single), a :class:`Gram` (full) or the group inverse (general);
    ``visible``: the zero eigenvalue's null space reaches some token's read-out (or leaves the block);
    ``semisimple``: False when the zero eigenvalue has a Jordan block.
    """

    component: Component
    lam: np.ndarray
    zeros: int
    solver: object
    visible: bool = False
    semisimple: bool = True


def _readers(mask, index, runs=None) -> np.ndarray:
    """How many examples of ``C`` each token reads (``n + m`` counts); from the runs when ``C`` is an interval."""
    if runs is not None and index.size and index[-1] - index[0] + 1 == index.size:
        a, b = int(index[0]), int(index[-1]) + 1
        overlap = np.maximum(0, np.minimum(runs.stop, b) - np.maximum(runs.start, a))
        return np.bincount(runs.owner, weights=overlap, minlength=runs.tokens)
    return np.asarray(mask)[index, :].sum(axis=0)


def block_of(X, mask, c, comp: Component, gamma=None, runs=None) -> Block:
    """Eigenvalues and solver of one component (module doc)."""
    mask = np.asarray(mask)
    c = np.asarray(c, dtype=float)
    index = comp.index
    if comp.kind == "single":
        return _singles(X, mask, c, [comp], gamma)[0]
    if comp.kind == "full":
        try:
            g = gram(X[index], c[index], gamma)
        except _NotGram:
            return _general(X, mask, c, Component(index, "general"), gamma)
        visible = False
        if g.zeros:
            counts = _readers(mask, index, runs)
            visible = bool(np.any((counts > 0) & (counts < index.size)))
        return Block(comp, g.lam, g.zeros, g, visible=visible)
    return _general(X, mask, c, comp, gamma)


def _singles(X, mask, c, comps: list, gamma=None) -> list:
    """Blocks of single examples, all at once: ``N_jj = [j in A(j)] x_j^T Gamma x_j / c_j``."""
    j = np.array([int(comp.index[0]) for comp in comps], dtype=np.int64)
    XC = X[j]
    XG = XC if gamma is None else XC @ gamma
    reads_self = mask[j, j]
    value = np.where(reads_self, np.einsum("jd,jd->j", XG, XC) / c[j], 0.0)
    scale = np.linalg.norm(XG, axis=1) * np.linalg.norm(XC, axis=1) / c[j]
    nonzero = (value != 0) & (np.abs(value) > X.shape[1] * EPS * 10 * scale)
    seen = np.zeros(j.size, dtype=bool)
    zero = np.flatnonzero(~nonzero)
    if zero.size:  # a null direction e_j is seen by the tokens that read j (when x_j^T Gamma != 0)
        seen[zero] = np.any(XG[zero] != 0, axis=1) & mask[j[zero], :].any(axis=1)
    return [Block(comp, np.array([v], dtype=complex), 0, float(v)) if ok
            else Block(comp, np.zeros(0, dtype=complex), 1, 0.0, visible=bool(vis))
            for comp, v, ok, vis in zip(comps, value, nonzero, seen, strict=True)]


def _general(X, mask, c, comp: Component, gamma=None) -> Block:
    index = comp.index
    lam = general_eigenvalues(X, mask, c, index, gamma)
    NC = block_operator(X, mask, c, index, gamma)
    found = null_space(NC)
    if found is None:  # a Jordan chain at 0: at least the nullity's count of zero eigenvalues, none semisimple
        sigma = np.linalg.svd(NC, compute_uv=False)
        zeros = max(1, int(np.sum(sigma <= rank_tol(NC))))
        return Block(comp, lam[np.argsort(np.abs(lam))[zeros:]], zeros, None, visible=True, semisimple=False)
    inverse, P0 = found
    zeros = int(round(float(np.trace(P0)))) if index.size else 0
    if zeros == 0:
        return Block(comp, lam, 0, inverse)
    XC = X[index]
    XG = XC if gamma is None else XC @ gamma
    reads = np.asarray(mask)[index, :].astype(float)  # (b, n + m)
    reach = (reads.T @ (P0[:, :, None] * XG[:, None, :]).reshape(index.size, -1)) / np.asarray(c, dtype=float)[:, None]
    tol = 10 * np.sqrt(rank_tol(NC) * c.max()) / c.min() * (1.0 if gamma is None else float(np.linalg.norm(gamma, 2)))
    visible = bool(np.abs(reach).max(initial=0.0) > tol + 1e-12 * float(np.abs(XG).max(initial=0.0)) / c.min())
    kept = lam[np.argsort(np.abs(lam))[zeros:]]
    return Block(comp, kept, zeros, inverse, visible=visible)


def blocks(X, mask, c, gamma=None, runs=None) -> list:
    """Every component of the examples, in topological order, as a :class:`Block`."""
    n = X.shape[0]
    mask = np.asarray(mask)
    c = np.asarray(c, dtype=float)
    runs = runs_of(mask, n) if runs is None else runs
    comps = components(mask, n, runs)
    singles = [comp for comp in comps if comp.kind == "single"]
    done = iter(_singles(X, mask, c, singles, gamma) if singles else [])
    return [next(done) if comp.kind == "single" else block_of(X, mask, c, comp, gamma, runs) for comp in comps]


# ----------------------------------------------------------------------------- runs: read-outs without a dense mask

#: columns of the mask scanned at a time when finding runs (a boolean chunk is ``n x RUN_CHUNK``)
RUN_CHUNK = 2048
#: above this many runs per token on average, read-outs fall back to dense products of mask chunks
MAX_RUNS_PER_TOKEN = 16


@dataclass(frozen=True)
class Runs:
    """The examples each token reads, as runs ``[start, stop)``: token ``owner[r]`` reads ``start[r]..stop[r]-1``.

    Runs are sorted by owner, then by start.
    """

    owner: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    tokens: int


def runs_of(mask, n: int) -> Runs:
    """The runs of every column of ``mask[:n, :]`` (one pass over the mask, a chunk of columns at a time)."""
    mask = np.asarray(mask)
    size = mask.shape[1]
    owners, starts, stops = [], [], []
    for c0 in range(0, size, RUN_CHUNK):
        c1 = min(size, c0 + RUN_CHUNK)
        padded = np.zeros((c1 - c0, n + 2), dtype=np.int8)
        padded[:, 1:-1] = mask[:n, c0:c1].T
        step = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it stops
        cols, rows = np.nonzero(step == 1)  # ordered by column, then row
        owners.append(cols + c0)
        starts.append(rows)
        stops.append(np.nonzero(step == -1)[1])
    cat = (lambda parts: np.concatenate(parts).astype(np.int64)) if owners else (lambda parts: np.zeros(0, np.int64))
    return Runs(cat(owners), cat(starts), cat(stops), size)


class DyadicSums:
    """Sums of rows of ``values`` over runs ``[a, b)`` from aligned power-of-two blocks.

    A run is covered by at most ``2 log2 n`` aligned blocks whose sums are stored
    (a segment tree), so a run's sum is a sum of a few partial sums with no
    subtraction: accurate like pairwise summation, unlike differences of prefix sums.
    """

    def __init__(self, values: np.ndarray):
        self.levels = [np.asarray(values, dtype=float)]
        while self.levels[-1].shape[0] > 1:
            last = self.levels[-1]
            if last.shape[0] % 2:
                last = np.concatenate([last, np.zeros((1,) + last.shape[1:])])
            self.levels.append(last[0::2] + last[1::2])

    def update(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set rows ``index`` to ``values`` and recompute the blocks above them."""
        self.levels[0][index] = values
        index = np.unique(np.asarray(index) >> 1)
        for level in range(1, len(self.levels)):
            below = self.levels[level - 1]
            left = below[2 * index]
            right_index = 2 * index + 1
            inside = (right_index < below.shape[0])[:, None]
            right = np.where(inside, below[np.minimum(right_index, below.shape[0] - 1)], 0.0)
            self.levels[level][index] = left + right
            index = np.unique(index >> 1)

    def query(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """``sum_{i in [start_r, stop_r)} values_i`` for every run ``r``."""
        lo, hi = np.asarray(start).copy(), np.asarray(stop).copy()
        out = np.zeros((lo.size,) + self.levels[0].shape[1:])
        for level in self.levels:
            live = lo < hi
            if not live.any():
                break
            take = live & (lo % 2 == 1)
            out[take] += level[lo[take]]
            lo[take] += 1
            take = live & (hi % 2 == 1) & (lo < hi)
            hi[take] -= 1
            out[take] += level[hi[take]]
            lo >>= 1
            hi >>= 1
        return out


def run_sums(runs: Runs, sums: DyadicSums, tokens=None) -> np.ndarray:
    """``sum_{i in A(t)} values_i`` for every token (or the given sorted ``tokens``), from the runs."""
    if tokens is None:
        pick = np.arange(runs.owner.size)
        where = runs.owner
        size = runs.tokens
    else:
        tokens = np.asarray(tokens)
        first = np.searchsorted(runs.owner, tokens, side="left")
        last = np.searchsorted(runs.owner, tokens, side="right")
        counts = last - first
        pick = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        where = np.repeat(np.arange(tokens.size), counts)
        size = tokens.size
    parts = sums.query(runs.start[pick], runs.stop[pick])
    out = np.zeros((size,) + parts.shape[1:])
    np.add.at(out, where, parts)
    return out
