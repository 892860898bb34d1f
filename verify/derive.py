"""Derive what one LSA layer does to ``[x; y - w x]`` tokens, for any ``(K^T Q, P V)`` (SPEC P10).

The question, for all data: does one layer keep every token in the form
``[x_j; y_j - w_j x_j]`` (queries ``[x_q; -w_q x_q]``), and is the new weight

    w_j' = w_j + (1/c_j) sum_{i in A(j)} r_i x_i^T Gamma,    r_i = y_i - w_i x_i,

preconditioned gradient descent, and for which ``Gamma``?

How it is decided (no hand-derived rule: the package's one layer is applied to
symbolic tokens and the answers are polynomial identities in the data):

1. ``Construction(K=I, Q=KQ, V=PV, P=I)`` has ``K^T Q = KQ`` and ``P V = PV``;
   :func:`verify.lsa.attend` updates an example target ``z_0 = [x_0; y_0 - w_0 x_0]``
   and a query ``z_q = [x_q; -w_q x_q]`` that both read the attention set
   ``{z_0, z_1, ..., z_S}`` (the example reads itself, as under prefix and causal
   attention; ``z_i = [x_i; r_i]`` with ``r_i`` free because ``y_i`` is free).
2. *Token form*: the first ``d`` coordinates of both updates vanish identically,
   and the example's last coordinate moves by ``-dw x_0`` with the same weight
   change ``dw`` as the query reading the same set (``dw`` read off the query's
   update, which is linear in ``x_q``; the query's ``w_q`` is renamed ``w_0``).
   A weight change shared by every token reading a set is what makes "the
   weight" meaningful (SPEC P1, P2 and section 6); without that requirement
   every number is ``y_j - w' x_j`` for some ``w'``.
3. *Preconditioned GD*: ``c dw = sum_i t(x_i, r_i)`` (the layer is linear in the
   attended sum); ``t(x, r) = r x^T Gamma`` is solved for the ``d^2`` unknowns of
   ``Gamma`` by matching the coefficients of every monomial in ``x, r, w``.

Entries of the matrices may be SymPy symbols (parameters such as ``eta``); the
identities are then required for all parameter values, and a parameter
condition that would make them hold (``a = 0``) is reported in ``conditions``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from . import lsa  # the model, looked up at call time
from .construction import Construction
from .masks import parse_attention

#: other example tokens in the symbolic attention set besides the target itself;
#: one is enough: every term of the layer involves one source at a time, and the
#: identities must hold for the target's own term and for another source's
SOURCES = 1


@dataclass(frozen=True)
class Derivation:
    """What one layer with ``K^T Q = kq`` and ``P V = pv`` does to ``[x; y - w x]`` tokens.

    d : input dimension (the matrices are ``(d+1) x (d+1)``).
    preserves_token_form : every token stays ``[x; y - w' x]`` for all data.
    implements_preconditioned_gd : and ``w' = w + (1/c_j) sum_i r_i x_i^T Gamma``.
    gamma : ``Gamma`` (exact ``d x d`` SymPy matrix) or None.
    term : the per-source term ``t(x, r)`` (1 x d, in :func:`data_symbols`) with
        ``w' = w + (1/c_j) sum_{i in A(j)} t(x_i, r_i)``; None when the form is lost.
    extra : ``t(x, r) - r x^T Gamma_0`` where ``Gamma_0`` is the bilinear part of
        ``t`` (zero exactly when the update is preconditioned GD); None when the form is lost.
    conditions : parameter expressions that must vanish for the failing identity
        to hold (empty when it holds, or when no parameter choice rescues it).
    reason : one line saying which identity failed, or "".
    bilinear : ``Gamma_0``, the coefficient matrix of ``r x_k`` in ``term`` (the
        preconditioned-GD part; equal to ``gamma`` when that exists), or None when the
        form is lost or it was not computed (then read off ``term``).
    """

    d: int
    preserves_token_form: bool
    implements_preconditioned_gd: bool
    gamma: sp.Matrix | None
    term: sp.Matrix | None
    extra: sp.Matrix | None
    conditions: tuple
    reason: str
    bilinear: sp.Matrix | None = None

    @property
    def trivial(self) -> bool:
        """True when the layer is the identity on tokens: ``t = 0``, i.e. preconditioned GD with ``Gamma = 0``
        (``t = r x^T Gamma`` vanishes for all data exactly when ``Gamma`` does)."""
        return self.gamma is not None and all(sp.expand(g) == 0 for g in self.gamma)


@cache
def _symbol(name: str, positive: bool = False):
    """The engine's own symbol ``name``: a Dummy, so a user's matrix entry called ``r``
    or ``x_1`` can never be confused with the data; cached so every call agrees."""
    return sp.Dummy(name, positive=True) if positive else sp.Dummy(name, real=True)


def data_symbols(d: int):
    """The symbols of one generic source: ``x = (x_1..x_d)`` (column) and residual ``r``."""
    return _vector("x", d), _symbol("r")


def _vector(name: str, d: int, row: bool = False) -> sp.Matrix:
    v = sp.Matrix([_symbol(f"{name}_{k}") for k in range(1, d + 1)])
    return v.T if row else v


def _token(x: sp.Matrix, last) -> sp.Matrix:
    return sp.Matrix.vstack(x, sp.Matrix([[last]]))


def _identity_coefficients(expr, variables) -> list:
    """Non-zero coefficients of ``expr`` (an expression or a Poly) as a polynomial in ``variables``."""
    poly = expr if isinstance(expr, sp.Poly) else sp.Poly(expr, *variables)
    return [] if poly.is_zero else [c for c in poly.coeffs() if c != 0]


def _conditions(coefficients) -> tuple:
    """Parameter conditions ``expr = 0`` that would make every coefficient vanish.

    Empty when some coefficient is a non-zero number (no parameter choice helps).
    """
    found = []
    for c in coefficients:
        if not c.free_symbols:
            return ()
        c = sp.factor(c.as_content_primitive()[1])  # a, -a and 2a are one condition
        if c.could_extract_minus_sign():
            c = -c
        if c not in found:
            found.append(c)
    return tuple(found)


def _check_shapes(kq: sp.Matrix, pv: sp.Matrix) -> int:
    if kq.shape != pv.shape or kq.shape[0] != kq.shape[1] or kq.shape[0] < 2:
        raise ValueError(f"kq and pv must be square (d+1) x (d+1) with d >= 1, got {kq.shape} and {pv.shape}")
    return kq.shape[0] - 1


def layer_update(kq: sp.Matrix, pv: sp.Matrix, sources: int = SOURCES):
    """Apply the package's layer to the symbolic tokens of the module docstring.

    Returns ``(example_delta, query_delta, data, c)``: the change of the example
    target ``z_0`` and of the query ``z_q`` (columns of length ``d + 1``), the
    symbols ``data`` (dict of name -> symbols) and the normalizer symbol ``c``.
    """
    d = _check_shapes(kq, pv)
    c = _symbol("c_j", positive=True)
    x0, y0, w0 = _vector("x0", d), _symbol("y0"), _vector("w0", d, row=True)
    xs = [_vector(f"x{i}", d) for i in range(1, sources + 1)]
    rs = [_symbol(f"r{i}") for i in range(1, sources + 1)]
    xq, wq = _vector("xq", d), _vector("wq", d, row=True)
    target = _token(x0, y0 - (w0 * x0)[0, 0])
    attended = sp.Matrix.hstack(target, *[_token(x, r) for x, r in zip(xs, rs, strict=True)])
    query = _token(xq, -(wq * xq)[0, 0])
    layer = Construction(K=sp.eye(d + 1), Q=kq, V=pv, P=sp.eye(d + 1))
    example_delta = lsa.attend(target, attended, layer, None, c) - target
    query_delta = lsa.attend(query, attended, layer, None, c) - query
    data = {"x0": x0, "y0": y0, "w0": w0, "xs": xs, "rs": rs, "xq": xq, "wq": wq}
    return example_delta, query_delta, data, c


def _all_data(data) -> list:
    symbols = list(data["x0"]) + [data["y0"]] + list(data["w0"]) + list(data["xq"]) + list(data["wq"])
    for x, r in zip(data["xs"], data["rs"], strict=True):
        symbols += list(x) + [r]
    return symbols


def source_term(kq: sp.Matrix, pv: sp.Matrix) -> sp.Matrix:
    """``c_j dw`` for a query (weight ``w``) reading one source ``[x; r]``: the layer's per-source term.

    Read off the layer: the query's last coordinate moves by ``-dw x_q``.
    """
    d = _check_shapes(kq, pv)
    x, r = data_symbols(d)
    xq, w = _vector("xq", d), _vector("w", d, row=True)
    c = _symbol("c_j", positive=True)
    query = _token(xq, -(w * xq)[0, 0])
    layer = Construction(K=sp.eye(d + 1), Q=kq, V=pv, P=sp.eye(d + 1))
    moved = sp.expand(c * (lsa.attend(query, _token(x, r), layer, None, c) - query)[d, 0])
    return sp.Matrix([[-sp.diff(moved, xq[k]) for k in range(d)]])


def solve_gamma(term: sp.Matrix, d: int):
    """Solve ``term(x, r) = r x^T Gamma`` for ``Gamma`` by matching coefficients.

    Returns ``(Gamma or None, conditions)``.  ``term`` may contain ``w_1..w_d``
    (the target's own weight); every monomial in ``x, r, w`` is matched.
    """
    x, r = data_symbols(d)
    w = list(_vector("w", d, row=True))
    unknowns = tuple(_symbol(f"G_{k}_{j}") for k in range(1, d + 1) for j in range(1, d + 1))
    G = sp.Matrix(d, d, unknowns)
    residual = term - r * x.T * G
    equations = []
    for entry in residual:
        equations += sp.Poly(sp.expand(entry), *x, r, *w).coeffs()
    solutions = sp.linsolve(equations, unknowns)
    if solutions == sp.EmptySet:
        bilinear = _bilinear_part(term, d)
        leftover = [e for entry in term - r * x.T * bilinear
                    for e in _identity_coefficients(entry, [*x, r, *w])]
        return None, _conditions(leftover)
    (solution,) = solutions
    if any(s.free_symbols & set(unknowns) for s in solution):  # cannot happen: G_kl is the coefficient of r x_k
        raise AssertionError("Gamma is not determined by the layer")
    return sp.Matrix(d, d, [sp.simplify(s) for s in solution]), ()


def _bilinear_part(term: sp.Matrix, d: int) -> sp.Matrix:
    """``Gamma_0[k, l]`` = coefficient of ``r x_k`` in ``term[l]``: the preconditioned-GD part."""
    x, r = data_symbols(d)
    w = list(_vector("w", d, row=True))
    return sp.Matrix(d, d, lambda k, j: sp.Poly(sp.expand(term[j]), *x, r, *w).coeff_monomial(r * x[k]))


def form_equations(kq: sp.Matrix, pv: sp.Matrix, sources: int = SOURCES) -> tuple[list, list, sp.Matrix]:
    """The polynomial identities behind "the token form is preserved".

    Returns ``(moved_x, mismatch, dw)``: the non-zero coefficients (expressions in
    the matrices' entries) of ``c_j`` times the ``x`` part of the example's and the
    query's update, those of ``c_j (dr_0 + dw x_0)``, and ``c_j`` times the query's
    weight change ``dw`` (1 x d).  The form is preserved exactly when both lists are empty.
    """
    d = _check_shapes(kq, pv)
    example_delta, query_delta, data, c = layer_update(kq, pv, sources)
    variables = _all_data(data)
    # the layer divides the whole update by c_j, so c_j times it is a polynomial in the data
    poly = lambda e: sp.Poly(c * e, *variables)  # noqa: E731  (c * (E / c) is E, structurally)
    moved_x = [e for v in list(example_delta[:d, 0]) + list(query_delta[:d, 0])
               for e in _identity_coefficients(poly(v), variables)]
    # the query's last coordinate is linear in x_q (scores are linear in z_q = [x_q; -w_q x_q])
    query_last = poly(query_delta[d, 0])
    xq, x0 = [sp.Poly(v, *variables) for v in data["xq"]], [sp.Poly(v, *variables) for v in data["x0"]]
    dw = [-query_last.diff(v) for v in data["xq"]]
    if not (query_last + sum((a * b for a, b in zip(dw, xq, strict=True)), sp.Poly(0, *variables))).is_zero:
        raise AssertionError("a query's update is not linear in x_q")
    rename = dict(zip(data["wq"], data["w0"], strict=True))
    shared = [sp.Poly(a.as_expr().xreplace(rename), *variables) for a in dw]
    mismatch = _identity_coefficients(poly(example_delta[d, 0]) + sum((a * b for a, b in zip(shared, x0, strict=True)),
                                                                     sp.Poly(0, *variables)), variables)
    return moved_x, mismatch, sp.Matrix([[a.as_expr() for a in dw]])


def derive(kq: sp.Matrix, pv: sp.Matrix, sources: int = SOURCES) -> Derivation:
    """Classify the layer ``(K^T Q, P V) = (kq, pv)``.

    Matrices holding names (SymPy symbols) go through the engine of the module
    docstring (:func:`derive_symbolic`), which also reports parameter conditions;
    numeric matrices through :func:`derive_exact`, P10's characterization in exact
    arithmetic (zero tests and products, no polynomial algebra), which the engine
    agrees with (``tests/test_derive.py``) and which answers a 100 x 100 matrix in
    a second.

    Parameters
    ----------
    kq, pv : ``(d+1) x (d+1)`` SymPy matrices (exact numbers or symbols).
    sources : other example tokens in the engine's symbolic attention set.

    Returns
    -------
    Derivation
    """
    kq, pv = sp.Matrix(kq), sp.Matrix(pv)
    _check_shapes(kq, pv)
    if kq.free_symbols or pv.free_symbols:
        return derive_symbolic(kq, pv, sources)
    return derive_exact(kq, pv)


def blocks(M: sp.Matrix) -> tuple:
    """``M = [[A, b], [c^T, e]]``: ``(A (d x d), b (d x 1), c (d x 1), e)``."""
    d = M.shape[0] - 1
    return M[:d, :d], M[:d, d], M[d, :d].T, M[d, d]


def _is_zero(M) -> bool:
    return all(v == 0 for v in M)


def derive_exact(kq: sp.Matrix, pv: sp.Matrix) -> Derivation:
    """Classify numeric ``(K^T Q, P V)`` by SPEC P10's characterization (proved for every d in ``proofs/p10.py``).

    With ``K^T Q = [[A, b], [c^T, e]]`` and ``P V = [[F, g], [h^T, s]]``:

    - the token form is kept iff ``K^T Q = 0``, ``P V = 0`` or ``F, g, b, e = 0``; then
      ``t(x, r) = -(h^T x + s r)(x^T A + r c^T)``;
    - the update is preconditioned GD iff moreover ``(h = 0 or A = 0)`` and ``(s = 0 or c = 0)``,
      with ``Gamma = -(s A + h c^T)``; otherwise the extra terms are
      ``t - r x^T Gamma_0 = -(h^T x) x^T A - s r^2 c^T`` with ``Gamma_0 = -(s A + h c^T)``.

    The lost-form reasons follow the engine's order: the x part first (``K^T Q != 0`` and
    ``(F, g) != 0``), then the shared weight change (``P V != 0`` and ``(b, e) != 0``).
    Entries are exact (SymPy Rationals); ``term`` and ``extra`` are left factored.
    """
    d = _check_shapes(kq, pv)
    A, b, c, e = blocks(kq)
    F, g, h, s = blocks(pv)
    kq_zero, pv_zero = _is_zero(kq), _is_zero(pv)
    if not kq_zero and not (_is_zero(F) and _is_zero(g)):
        return _lost(d, "the x part of a token changes", ())
    if not kq_zero and not pv_zero and not (_is_zero(b) and e == 0):
        return _lost(d, "an example's label part does not move by -dw x_j with the weight change dw of a query "
                        "reading the same tokens", ())
    x, r = data_symbols(d)
    # K^T Q = 0 gives A = 0, c = 0 and P V = 0 gives h = 0, s = 0: the identity layer, Gamma = 0
    term = -((h.T * x)[0, 0] + s * r) * (x.T * A + r * c.T)
    gamma0 = -(s * A + h * c.T)
    is_gd = (_is_zero(h) or _is_zero(A)) and (s == 0 or _is_zero(c))
    extra = sp.zeros(1, d) if is_gd else -(h.T * x)[0, 0] * (x.T * A) - s * r ** 2 * c.T
    reason = "" if is_gd else "the update has terms other than r_i x_i^T Gamma"
    return Derivation(d, True, is_gd, gamma0 if is_gd else None, term, extra, (), reason, gamma0)


def derive_symbolic(kq: sp.Matrix, pv: sp.Matrix, sources: int = SOURCES) -> Derivation:
    """Classify ``(K^T Q, P V)`` with the engine of the module docstring (any entries, names included).

    Parameters
    ----------
    kq, pv : ``(d+1) x (d+1)`` SymPy matrices (exact numbers or symbols).
    sources : other example tokens in the symbolic attention set.
    """
    kq, pv = sp.Matrix(kq), sp.Matrix(pv)
    d = _check_shapes(kq, pv)
    moved_x, mismatch, _ = form_equations(kq, pv, sources)
    if moved_x:
        return _lost(d, "the x part of a token changes", moved_x)
    if mismatch:
        return _lost(d, "an example's label part does not move by -dw x_j with the weight change dw of a query "
                        "reading the same tokens", mismatch)
    term = source_term(kq, pv)
    gamma, conditions = solve_gamma(term, d)
    x, r = data_symbols(d)
    bilinear = gamma if gamma is not None else _bilinear_part(term, d)
    extra = (term - r * x.T * bilinear).applyfunc(sp.expand)
    reason = "" if gamma is not None else "the update has terms other than r_i x_i^T Gamma"
    return Derivation(d, True, gamma is not None, gamma, term.applyfunc(sp.expand), extra, conditions, reason, bilinear)


def _lost(d: int, reason: str, coefficients) -> Derivation:
    return Derivation(d, False, False, None, None, None, _conditions(coefficients), reason)


# ----------------------------------------------------------------------------- presentation

def attention_sets(spec: str) -> str:
    """The attention set ``A(j)`` of a named attention, in words (1-based examples).

    Raises PromptError (via :func:`verify.masks.parse_attention`) for an unknown spec.
    """
    name, p = parse_attention(spec)
    if name == "prefix":
        return "A(j) = {1..n} for every token"
    if name == "sliding":
        assert p is not None  # parse_attention gives sliding its K
        if p == 1:
            return "A(j) = {j} for example j, {n} for queries"
        return f"A(j) = {{max(1, j-{p - 1})..j}} for example j, {{max(1, n-{p - 1})..n}} for queries"
    example = {
        "causal": "{1..j}",
        "block": f"every example in j's block of size {p} and in earlier blocks",
        "hybrid": f"{{1..max(j, {p})}}",
    }[name]
    return f"A(j) = {example} for example j, {{1..n}} for queries"


def exact_text(value) -> str:
    """An exact entry as plain text: ``1/25``, ``-eta``, ``2*eta/3``."""
    return sp.sstr(sp.nsimplify(value) if value.is_Float else value)


def _term_text(vector: sp.Matrix, d: int) -> str:
    """A per-source row vector written with ``x_i`` and ``r_i`` of source ``i``."""
    x, r = data_symbols(d)
    rename = {r: sp.Symbol("r_i")}
    rename.update({x[k]: sp.Symbol(f"x_i{k + 1}") for k in range(d)})
    return "[" + ", ".join(sp.sstr(e.xreplace(rename)) for e in vector) + "]"


def update_text(result: Derivation, attention: str = "prefix") -> str:
    """The weight update as one plain-text line (or why there is none)."""
    where = attention_sets(attention)
    if not result.preserves_token_form:
        return f"no weight update: the token form [x; y - w x] is not preserved ({result.reason})"
    head = "w_j' = w_j + (1/c_j) sum_{i in A(j)}"
    tail = f", r_i = y_i - w_i x_i, {where}"
    if result.implements_preconditioned_gd and result.gamma is not None:
        gamma = sp.sstr(result.gamma.tolist())
        return f"{head} r_i x_i^T Gamma with Gamma = {gamma}{tail}"
    gamma = sp.sstr(_bilinear(result).tolist())
    return (f"{head} (r_i x_i^T Gamma_0 + e(x_i, r_i)) with Gamma_0 = {gamma} and extra terms "
            f"e(x_i, r_i) = {_term_text(result.extra, result.d)}{tail}")


def _bilinear(result: Derivation) -> sp.Matrix:
    if result.bilinear is not None:
        return result.bilinear
    return result.gamma if result.gamma is not None else _bilinear_part(result.term, result.d)


def update_latex(result: Derivation, attention: str = "prefix") -> str:
    """The update in LaTeX."""
    if not result.preserves_token_form:
        return r"\text{token form } [x; y - w x] \text{ not preserved}"
    head = r"w_j' = w_j + \frac{1}{c_j} \sum_{i \in A(j)} "
    if result.implements_preconditioned_gd:
        return head + r"(y_i - w_i x_i)\, x_i^\top \Gamma, \quad \Gamma = " + sp.latex(result.gamma)
    x, r = data_symbols(result.d)
    rename = {r: sp.Symbol("r_i")}
    rename.update({x[k]: sp.Symbol(f"x_{{i{k + 1}}}") for k in range(result.d)})
    assert result.extra is not None  # the form is kept
    extra = sp.latex(result.extra.xreplace(rename))
    gamma0 = sp.latex(_bilinear(result))
    return head + r"\left(r_i\, x_i^\top \Gamma_0 + " + extra + r"\right), \quad \Gamma_0 = " + gamma0
