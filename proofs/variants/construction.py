"""The variant's construction ``(K^T Q, P V)``, its class from P10 (``verify.derive``) and V1's witness.

The step size is the symbol ``eta``: ``Gamma`` (from :func:`verify.derive.derive`) must be
``eta Gamma_0`` with a constant ``Gamma_0`` (or constant, read as the layer at ``eta = 1``);
the claims then speak of ``r <- r - eta D^{-1} M r`` with ``M_ji = [i in A(j)] x_i^T Gamma_0 x_j``.
The default is the paper's construction (:func:`verify.construction.paper`), for every ``d``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from verify.errors import PromptError

from . import exact as ex

#: the dimensions at which the paper's construction (defined for every d) is classified and searched
PAPER_DIMS = (1, 2, 3, 4, 5)


def eta_symbol():
    """The step-size symbol, spelled as :mod:`verify.matrix_text` reads ``"eta"``."""
    return sp.Symbol("eta", real=True)


@dataclass(frozen=True)
class VariantConstruction:
    """``kq``, ``pv`` per dimension (``{d: (kq, pv)}``, SymPy, may contain ``eta``) and a name."""

    name: str
    by_dim: dict

    @property
    def dims(self) -> tuple:
        return tuple(sorted(self.by_dim))

    def at_unit_step(self, d: int):
        """``(kq, pv)`` at ``eta = 1``: the layer whose residual operator is ``N``."""
        kq, pv = self.by_dim[d]
        return kq.subs(eta_symbol(), 1), pv.subs(eta_symbol(), 1)

    def as_json(self) -> dict:
        if self.name == "paper":
            return {"name": "paper", "kq": "[[I_d, 0], [0, 0]]", "pv": "[[0, 0], [0, -eta]]"}
        kq, pv = self.by_dim[self.dims[0]]
        return {"name": self.name, "kq": _json(kq), "pv": _json(pv)}


def _json(M: sp.Matrix) -> list:
    return [[sp.sstr(e) for e in row] for row in M.tolist()]


#: the largest dimension added for a rule whose first full block is larger than PAPER_DIMS allow
MAX_BLOCK_DIM = 8


def paper_construction(extra_dims=()) -> VariantConstruction:
    """The paper's construction at ``PAPER_DIMS`` (and ``extra_dims``: a full block of ``b`` examples
    has an invertible Gram matrix only when ``d >= b``, which a counterexample may need)."""
    from verify.construction import paper

    eta = eta_symbol()
    dims = sorted(set(PAPER_DIMS) | set(extra_dims))
    return VariantConstruction("paper", {d: (paper(eta, d).kq, paper(eta, d).pv) for d in dims})


def custom_construction(kq: sp.Matrix, pv: sp.Matrix) -> VariantConstruction:
    """A user's ``(K^T Q, P V)``; only the symbol ``eta`` may appear (PromptError otherwise)."""
    kq, pv = sp.Matrix(kq), sp.Matrix(pv)
    for field, M in (("kq", kq), ("pv", pv)):
        others = sorted(str(s) for s in M.free_symbols if s.name != "eta")
        if others:
            raise PromptError(f"{field}: names other than eta ({', '.join(others)}) are not allowed in a variant "
                              f"construction; give numbers, or eta for the step size")
    eta = eta_symbol()
    rename = {s: eta for M in (kq, pv) for s in M.free_symbols}  # a Symbol('eta') with other assumptions
    return VariantConstruction("custom", {kq.shape[0] - 1: (kq.xreplace(rename), pv.xreplace(rename))})


@dataclass(frozen=True)
class Classification:
    """P10's verdict at one ``d``: ``gamma0`` (``Gamma = eta Gamma_0``) or why there is none."""

    d: int
    in_family: bool
    gamma0: sp.Matrix | None
    reason: str


def classify(con: VariantConstruction, d: int) -> Classification:
    """Run :func:`verify.derive.derive` (the package's layer on symbolic tokens) at ``d``."""
    from verify.derive import derive

    kq, pv = con.by_dim[d]
    result = derive(kq, pv)
    if not result.implements_preconditioned_gd or result.gamma is None:
        return Classification(d, False, None, result.reason or "the token form is not preserved")
    eta = eta_symbol()
    gamma = result.gamma.xreplace({s: eta for s in result.gamma.free_symbols if s.name == "eta"})
    gamma0 = gamma.subs(eta, 1)
    if gamma.free_symbols and any(sp.simplify(g - eta * g0) != 0 for g, g0 in zip(gamma, gamma0, strict=False)):
        raise PromptError(f"kq/pv: Gamma = {sp.sstr(gamma.tolist())} is not eta times a constant matrix; "
                          f"put eta in P V only (e.g. the corner -eta), or give numbers")
    return Classification(d, True, gamma0, "")


def symbolic_step(con: VariantConstruction, d: int, gamma0: sp.Matrix) -> bool:
    """The general lemma for this construction at a source block of symbolic size ``n_A``.

    :func:`verify.lsa.attend` updates a target ``z = [x; r]`` (``x`` and ``r`` symbols) reading
    ``Z_A``, a ``MatrixSymbol`` of shape ``(d + 1, n_A)`` with ``n_A`` symbolic, under a symbolic
    ``c_j``.  The layer sees the sources only through ``Z_A Z_A^T``, replaced by a symmetric
    matrix of symbols ``W`` (every value of ``W`` is reached by some sources); the claim is
    ``[x; r - (eta / c_j) r_A X_A^T Gamma_0 x]`` with ``r_A X_A^T`` the last row of ``W``.
    True means: for every attention set of any size and every ``c_j``, the token keeps its ``x``
    and its residual moves as V1 says (``r = y - w x`` is arbitrary, so the weight moves by
    ``(eta/c_j) sum_i r_i x_i^T Gamma_0``).
    """
    from verify.construction import Construction
    from verify.lsa import attend

    kq, pv = con.by_dim[d]
    eta = eta_symbol()
    n_a = sp.Symbol("n_A", integer=True, positive=True)
    Z = sp.MatrixSymbol("Z_A", d + 1, n_a)
    x = sp.Matrix(d, 1, lambda a, _: sp.Symbol(f"x_{a}", real=True))
    r, c = sp.Symbol("r", real=True), sp.Symbol("c_j", positive=True)
    z = sp.ImmutableMatrix(sp.Matrix.vstack(x, sp.Matrix([[r]])))
    layer = Construction(K=sp.eye(d + 1), Q=sp.ImmutableMatrix(kq), V=sp.ImmutableMatrix(pv), P=sp.eye(d + 1))
    W = sp.Matrix(d + 1, d + 1, lambda a, b: sp.Symbol(f"W_{min(a, b)}_{max(a, b)}", real=True))
    try:
        out = attend(z, Z, layer, None, c).subs(Z * Z.T, sp.ImmutableMatrix(W))
        out = sp.Matrix(out.doit().as_explicit())
    except Exception:  # the sources did not enter through Z_A Z_A^T: not the layer this lemma is about
        return False
    want = sp.Matrix.vstack(x, sp.Matrix([[r - eta * (W[d, :d] * gamma0 * x)[0, 0] / c]]))
    return all(sp.expand(e) == 0 for e in out - want)


# ----------------------------------------------------------------------------- V1 witness


def _layer(kq, pv, Z, c=1):
    from verify.construction import Construction
    from verify.lsa import attend

    size = kq.shape[0]
    return attend(Z, Z[:, :2], Construction(K=sp.eye(size), Q=kq, V=pv, P=sp.eye(size)), None, c)


def v1_witness(con: VariantConstruction, d: int) -> dict | None:
    """Concrete tokens where the layer at ``eta = 1`` leaves the form ``[x; y - w x]``.

    Two examples ``z_0 = [x_0; y_0]``, ``z_1 = [x_1; y_1]`` (``w = 0``) and ``d`` queries
    ``[e_k; 0]``; every token reads ``{z_0, z_1}`` (``c = 1``).  The form is kept only if
    no ``x`` part moves and example 0's label moves by ``-dw x_0``, with the weight change
    ``dw`` of the queries reading the same tokens (query ``k`` moves by ``-dw_k``).
    """
    kq, pv = con.at_unit_step(d)
    values = (1, 2, -1, 3)
    for x0, x1, y in itertools.product(itertools.product(values, repeat=d), itertools.product(values, repeat=d),
                                       itertools.product(values, repeat=2)):
        witness = _v1_at(kq, pv, d, [list(x0), list(x1)], list(y))
        if witness is not None:
            return witness
    return None


def _v1_at(kq, pv, d, X, y) -> dict | None:
    def entry(a, b):  # columns: the two examples [x; y], then the queries [e_k; 0]
        if b < 2:
            return X[b][a] if a < d else y[b]
        return int(a == b - 2) if a < d else 0

    Z = sp.Matrix(d + 1, 2 + d, entry)
    out = _layer(kq, pv, Z)
    moved = out - Z
    before = [[ex.text(ex.frac(v)) for v in Z[:, b]] for b in range(Z.shape[1])]
    after = [[ex.text(ex.frac(v)) for v in out[:, b]] for b in range(Z.shape[1])]
    base = {"d": d, "X": [[str(a) for a in r] for r in X], "y": [str(v) for v in y],
            "tokens_before": before, "tokens_after": after, "eta": "1"}
    for b in range(Z.shape[1]):
        if any(moved[a, b] != 0 for a in range(d)):
            name = f"example {b}" if b < 2 else f"query {b - 2} (x_q = e_{b - 2})"
            return {**base, "token": name, "breaks": "its x part changes"}
    dw = [-moved[d, 2 + k] for k in range(d)]
    predicted = y[0] - sum(dw[k] * X[0][k] for k in range(d))
    if out[d, 0] != predicted:
        return {**base, "token": "example 0", "breaks": "its label part is not y_0 - dw x_0 with the weight change "
                f"dw = {[ex.text(ex.frac(v)) for v in dw]} of the queries reading the same tokens",
                "expected": ex.text(ex.frac(predicted)), "got": ex.text(ex.frac(out[d, 0]))}
    return None


def check_v1(con: VariantConstruction, w: dict) -> bool:
    """Exact re-check of :func:`v1_witness`'s output from its ``X`` and ``y``."""
    kq, pv = con.at_unit_step(w["d"])
    again = _v1_at(kq, pv, w["d"], [[int(a) for a in r] for r in w["X"]], [int(v) for v in w["y"]])
    return again == w


def gamma_text(gamma0: sp.Matrix) -> str:
    return sp.sstr(gamma0.tolist())


def symmetric_psd(gamma0: sp.Matrix) -> bool:
    """``Gamma_0`` symmetric positive semi-definite (exact: eigenvalues of a symmetric rational matrix)."""
    if gamma0 != gamma0.T:
        return False
    return bool(gamma0.is_positive_semidefinite)


def scalar_positive(gamma0: sp.Matrix) -> Fraction | None:
    """``g`` when ``Gamma_0 = g I`` with ``g > 0``, else None."""
    g = gamma0[0, 0]
    if gamma0 == g * sp.eye(gamma0.shape[0]) and g.is_positive:
        return ex.frac(g)
    return None
