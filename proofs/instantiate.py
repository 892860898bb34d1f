"""The symbolic model instantiated at concrete sizes: the reference of E0 (``proofs/conformance.py``).

Everything here is built from the objects the proofs are about, never from the numeric
engine: the SymPy Boolean ``setup.reads(spec, i, j, n)`` evaluated on integer grids by a
small evaluator of its own (:func:`evaluate`), the symbolic normalizer (the count
certificate's ``Lambda``) at concrete ``j, n, m``, ``setup.construction(eta, d)`` at a
symbolic ``d`` substituted and made explicit, and the general lemma's per-token update in
an independent loop (:func:`lemma_stack`), with exact rationals (``Fraction``) for exact
prompts.  ``case`` arguments are :class:`proofs.conformance.Case` rows.
"""
from __future__ import annotations

import importlib
import numbers
from fractions import Fraction

import numpy as np


def package_module(name: str):
    """A module of the package, imported at call time (its attributes are what the commands use now)."""
    return importlib.import_module(name)


def _symbols():
    from .symbolic import I_SRC, J_TGT, D, M, N

    return D, I_SRC, J_TGT, M, N


def evaluate(expr, values: dict):
    """A SymPy integer expression or Boolean at concrete integers: ``values`` maps symbols to numpy
    integer arrays (broadcast).  Written here, not lambdified: only the operations the attention
    rules and the count certificates use (And/Or/Not, relations, +, *, floor, Max, Min, Piecewise);
    anything else raises, so nothing is evaluated by guesswork."""
    import sympy as sp

    relations = {sp.StrictLessThan: np.less, sp.LessThan: np.less_equal, sp.StrictGreaterThan: np.greater,
                 sp.GreaterThan: np.greater_equal, sp.Equality: np.equal, sp.Unequality: np.not_equal}

    def _relation(e):
        # lhs - rhs scaled to integers (q > 0 keeps the relation), so no Fraction arrays are formed
        diff = e.lhs - e.rhs
        q = int(sp.ilcm(1, 1, *[r.q for r in diff.atoms(sp.Rational)]))
        return relations[type(e)](ev(sp.expand(q * diff)), 0)

    def ev(e):
        if e in values:
            return values[e]
        if e is sp.true or e is sp.false:
            return bool(e)
        if e.is_Integer:
            return int(e)
        if e.is_Rational:
            return Fraction(int(e.p), int(e.q))
        if isinstance(e, sp.floor):  # floor(p x / q) of integers: scale to integers, then floor-divide exactly
            q = int(sp.ilcm(1, 1, *[r.q for r in e.args[0].atoms(sp.Rational)]))
            return np.floor_divide(ev(sp.expand(q * e.args[0])), q)
        if isinstance(e, sp.core.relational.Relational):
            return _relation(e)
        args = [ev(a) for a in e.args]
        if isinstance(e, sp.And):
            return _fold(np.logical_and, args)
        if isinstance(e, sp.Or):
            return _fold(np.logical_or, args)
        if isinstance(e, sp.Not):
            return np.logical_not(args[0])
        if isinstance(e, sp.Add):
            return _fold(np.add, args)
        if isinstance(e, sp.Mul):
            return _fold(np.multiply, args)
        if isinstance(e, (sp.Max, sp.Min)):
            return _fold(np.maximum if isinstance(e, sp.Max) else np.minimum, args)
        if isinstance(e, sp.Piecewise):
            out = args[-1][0]
            for value, cond in reversed(args[:-1]):
                out = np.where(cond, value, out)
            return out
        if isinstance(e, sp.Tuple) or isinstance(e, sp.logic.boolalg.BooleanAtom):
            return args
        raise ValueError(f"cannot evaluate {type(e).__name__} in {expr}")

    return ev(expr)


def _fold(op, args):
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


def reference_sets(setup, spec: str, n: int, m: int) -> list[np.ndarray]:
    """``A(j)`` for every token: the SymPy Boolean ``setup.reads(spec, i, j, n)`` at symbols, evaluated on integers."""
    _, i, j, _, size = _symbols()
    sources, targets = np.indices((n + m, n + m))
    rule = setup.reads(spec, i, j, size)
    grid = np.broadcast_to(np.asarray(evaluate(rule, {i: sources, j: targets, size: n}), dtype=bool), sources.shape)
    return [np.flatnonzero(grid[:, t]) for t in range(n + m)]


def reference_normalizers(setup, spec: str, kind: str, scale, n: int, m: int, cache: dict | None = None) -> list:
    """``c_j`` from the symbolic normalizer (for ``count`` the certificate's ``Lambda``, derived from ``reads`` and
    checked by z3) at ``j = 0..n+m-1`` and the concrete ``n``, ``m``; exact (Fractions)."""
    import sympy as sp

    _, _, j, queries, size = _symbols()
    key = (spec, kind, scale)
    if cache is None or key not in cache:
        c = setup.normalizer(kind, setup.mask(spec, size, queries), sp.Rational(Fraction(scale)))
        if cache is not None:
            cache[key] = c
    else:
        c = cache[key]
    tokens = np.arange(n + m)
    values = np.broadcast_to(np.asarray(evaluate(c(j), {j: tokens, size: n, queries: m}), dtype=object), (n + m,))
    # numpy integers become Python ints first: a Fraction of numpy int64 parts would overflow in its arithmetic
    return [Fraction(int(v)) if isinstance(v, numbers.Integral) else Fraction(v) for v in values]


def construction_check(setup, d: int, k: int, eta: float, gamma) -> str:
    """'' when the numeric ``paper(eta, d, k, gamma)`` has the ``K^T Q`` and ``P V`` of the symbolic
    ``setup.construction(ETA, D, k, Gamma)`` instantiated: each of ``K, Q, V, P`` with ``D := d``,
    ``ETA := eta``, ``Gamma := gamma`` and ``.as_explicit()``, the products in exact rationals.
    Only the products are compared: the layer reads nothing else (an entry of ``P`` that ``V``'s
    zero rows remove, or ``Q^T K`` for ``K^T Q`` when they are equal, changes no number)."""
    import sympy as sp

    from verify.construction import Construction

    from .symbolic import ETA

    D = _symbols()[0]
    g = None if gamma is None else sp.MatrixSymbol("Gamma", D, D)
    symbolic = setup.construction(ETA, D, k, g)
    values = {ETA: sp.Rational(eta)}
    if gamma is not None:
        values[sp.MatrixSymbol("Gamma", d, d)] = sp.ImmutableMatrix(exact_rows(gamma))

    def explicit(block):
        out = sp.Matrix(block.subs(D, d).subs(values).as_explicit())
        return np.array([[Fraction(int(v.p), int(v.q)) for v in row] for row in out.tolist()], dtype=object)

    instance = Construction(*(explicit(getattr(symbolic, name)) for name in "KQVP"))
    numeric = package_module("verify.construction").paper(eta, d, k, gamma)
    for name in ("kq", "pv"):
        want = getattr(instance, name)
        got = np.array(exact_rows(np.asarray(getattr(numeric, name), dtype=float)), dtype=object)
        if want.shape != got.shape or not (want == got).all():
            return f"numeric paper(eta, {d}, {k}).{name} is not the symbolic construction at d = {d}"
    return ""


def exact_rows(a) -> list:
    return [[Fraction(float(v)) for v in row] for row in np.atleast_2d(a)]


# ---------------------------------------------------------------- the lemma's stack, with its own loop


def lemma_stack(X, Y, Xq, W0, gamma, sets, c, etas, exact: bool):
    """The general lemma applied layer by layer, one token at a time.

    Token ``t`` carries ``x_t`` (unchanged) and ``u_t``: ``y_t - W0 x_t`` for examples,
    ``-W0 x_t`` for queries; ``u_t <- u_t - (eta/c_t) sum_{i in A(t)} u_i (x_i^T Gamma x_t)``.
    Returns ``(states, majorants)``, each a list over layers of ``(n + m, k)`` arrays (object
    arrays of Fractions when ``exact``); the majorant runs the same loop on absolute values.
    """
    n, d = X.shape
    allx = np.vstack([X, Xq])
    G = np.eye(d) if gamma is None else np.asarray(gamma, dtype=float)
    W = np.zeros((Y.shape[1], d)) if W0 is None else np.asarray(W0, dtype=float)
    if exact:
        allx, G, W, Y = (np.array(exact_rows(a), dtype=object) for a in (allx, G, W, Y))
        c = np.array(c, dtype=object)
    else:
        c = np.array([float(v) for v in c])
    labels = np.vstack([Y, np.zeros((Xq.shape[0], Y.shape[1]), dtype=Y.dtype)])
    u = labels - allx @ W.T
    a = np.abs(labels) + np.abs(allx) @ np.abs(W).T
    # row t: x_i^T Gamma x_t over sources i (and its majorant |x_i|^T |Gamma| |x_t|)
    scores, bounds = (allx @ G @ allx.T).T.copy(), (np.abs(allx) @ np.abs(G) @ np.abs(allx).T).T.copy()
    states, majorants = [u], [a]
    for eta in etas:
        eta = Fraction(eta) if exact else float(eta)
        new_u, new_a = u.copy(), a.copy()
        for t, sources in enumerate(sets):
            if sources.size:
                step = eta / c[t]
                new_u[t] = u[t] - step * (scores[t, sources] @ u[sources])
                new_a[t] = a[t] + step * (bounds[t, sources] @ a[sources])
        u, a = new_u, new_a
        states.append(u)
        majorants.append(a)
    return states, majorants


def residual_operator_exact(X, gamma, sets, c, n: int):
    """``N = D^{-1} M`` over examples, exact: ``N_{ji} = [i in A(j)] x_i^T Gamma x_j / c_j``."""
    import sympy as sp

    G = sp.eye(X.shape[1]) if gamma is None else sp.Matrix(exact_rows(gamma))
    Xs = sp.Matrix(exact_rows(X))
    S = Xs * G * Xs.T
    return sp.Matrix(n, n, lambda j, i: S[i, j] / sp.Rational(c[j]) if i in set(sets[j].tolist()) else 0)


def _symmetric_examples(sets, c, n: int) -> bool:
    """The example iteration is symmetric by structure: ``i in A(j) <=> j in A(i)`` and equal ``c_j`` (prefix)."""
    inside = [set(s.tolist()) & set(range(n)) for s in sets[:n]]
    return all(c[j] == c[0] for j in range(n)) and all((j in inside[i]) == (i in inside[j])
                                                         for j in range(n) for i in range(n))


def residual_operator_float(X, gamma, sets, c, n: int) -> np.ndarray:
    """``N = D^{-1} M`` over examples in float64, from the reference sets and normalizers."""
    G = np.eye(X.shape[1]) if gamma is None else gamma
    S = X @ G @ X.T
    N = np.zeros((n, n))
    for j in range(n):
        sources = sets[j][sets[j] < n]
        N[j, sources] = S[sources, j] / float(c[j])
    return N


def stationary_reference(case, X, Y, Xq, W0, gamma, sets, c):
    """``(want, size)`` of the stationary weights ``(n + m, k, d)``: ``N s = r^(0)`` (``N^+`` when the iteration
    is symmetric and singular: the prefix least squares), read out as ``W_t = W_0 + (1/c_t) sum_{i in A(t)} s_i
    x_i^T Gamma``; exact rationals for exact prompts, float64 otherwise.  ``size`` bounds the terms and, for a
    float solve, the componentwise error of the solve (``|N^{-1}| (|N| |s| + |r^(0)|)``, or ``cond |s|``)."""
    import sympy as sp

    n, d, k = case.n, case.d, case.k
    W0f = np.zeros((k, d)) if W0 is None else W0
    G = np.eye(d) if gamma is None else gamma
    if case.prompt == "exact":
        N = residual_operator_exact(X, gamma, sets, c, n)
        r0 = sp.Matrix(exact_rows(Y)) - sp.Matrix(exact_rows(X)) * sp.Matrix(exact_rows(W0f)).T
        s_exact = N.LUsolve(r0) if N.det() != 0 else N.pinv() * r0
        s = np.array(s_exact, dtype=float)
        Nf = np.array(N, dtype=float)
    else:
        Nf = residual_operator_float(X, gamma, sets, c, n)
        r0 = Y - X @ W0f.T
        singular = _symmetric_examples(sets, c, n) and np.linalg.matrix_rank(Nf) < n
        s = np.linalg.pinv(Nf) @ r0 if singular else np.linalg.solve(Nf, r0)
    sv = np.linalg.svd(Nf, compute_uv=False)
    cond = float(sv[0] / sv[sv > sv[0] * 1e-12].min())
    if sv[-1] > sv[0] * 1e-12:
        err = np.abs(np.linalg.inv(Nf)) @ (np.abs(Nf) @ np.abs(s) + np.abs(Y) + np.abs(X) @ np.abs(W0f).T)
    else:
        err = cond * np.abs(s)
    XG, aXG = X @ G, np.abs(X) @ np.abs(G)
    if case.prompt == "exact":
        Gs = sp.Matrix(exact_rows(G))
        XGs = sp.Matrix(exact_rows(X)) * Gs
    want, size = [], []
    for t, sources in enumerate(sets):
        sources = sources[sources < n]
        if case.prompt == "exact":
            total = sp.Matrix(exact_rows(W0f))
            for i in sources.tolist():
                total += s_exact[i, :].T * XGs[i, :] / sp.Rational(c[t])
            want.append(np.array(total, dtype=float))
        else:
            want.append(W0f + np.einsum("ik,id->kd", s[sources], XG[sources]) / float(c[t]))
        size.append(np.abs(W0f) + np.einsum("ik,id->kd", np.abs(s[sources]) + err[sources], aXG[sources]) / float(c[t]))
    return np.array(want), np.array(size)


def eigenvalues_reference(case, X, gamma, sets, c) -> tuple[list, float]:
    """The eigenvalues of ``N`` that govern the rate, and their spread ``||N||_1 / min |lambda|``: exact ``N`` at
    50 digits (mpmath) for exact prompts, float64 (``eigvalsh``/``eigvals``) otherwise; zero eigenvalues of a
    symmetric iteration dropped (P4's ``lambda_min^+``)."""
    import mpmath

    n = case.n
    symmetric = _symmetric_examples(sets, c, n)
    if case.prompt == "exact":
        N = residual_operator_exact(X, gamma, sets, c, n)
        with mpmath.workdps(50):
            exact_N = mpmath.matrix([[mpmath.mpf(v.p) / v.q for v in row] for row in N.tolist()])
            lam = [complex(v) for v in mpmath.eig(exact_N, left=False, right=False)]
            norm = float(mpmath.mnorm(exact_N, 1))
        floor = max(abs(v) for v in lam) * 1e-30
    else:
        Nf = residual_operator_float(X, gamma, sets, c, n)
        lam = list(np.linalg.eigvalsh((Nf + Nf.T) / 2) if symmetric else np.linalg.eigvals(Nf))
        norm = float(np.abs(Nf).sum(axis=0).max())
        floor = n * 10 * np.finfo(float).eps * norm
    if symmetric:
        lam = [v for v in lam if abs(v) > floor]
    return lam, norm / min(abs(v) for v in lam)
