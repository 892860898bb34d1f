"""Stable, exactly: the one meaning of "stable" (docs/SPEC.md section 7) decided in rational arithmetic.

The residuals follow ``r <- (I - eta N) r`` with ``N = D^{-1} M``; a query's prediction gains
``(eta / c_q) sum_{i in A(q)} r_i x_i^T Gamma x_q`` per layer.  The stack is *stable at eta* (every
residual and every query prediction converges for every label vector) exactly when

(a) every nonzero eigenvalue ``l`` of ``N`` has ``|1 - eta l| < 1``,
(b) the eigenvalue 0 has no Jordan chain: ``rank N^2 = rank N``,
(c) no query reads a null vector: ``R v = 0`` for every ``v`` with ``N v = 0``, where
    ``R[(q, k), i] = [i in A(q)] (x_i^T Gamma)_k`` is the query read-out,

(named result ``stability-characterisation`` of :mod:`proofs.assumptions`).  (b) and (c) do not
depend on ``eta``; (a) is decided without computing eigenvalues: ``p_N(t) = t^z q(t)`` with
``q(0) != 0`` and the Routh-Hurwitz test on the Moebius transform of ``q``'s iteration
polynomial (:func:`proofs.variants.exact.schur_stable_poly`).  A failure comes with exact
evidence (:func:`decide`): an irreducible factor of ``q`` (the minimal polynomial of the
offending eigenvalues, with a rational isolating interval when a real root is to blame, else a
rational isolating box ``[re_lo, re_hi] x [im_lo, im_hi]`` outside the disc ``|1 - eta z| < 1``), a Jordan
chain vector ``v`` (``N v != 0``, ``N^2 v = 0``) or a visible null vector (``N v = 0``,
``R v != 0``).  :func:`check` re-derives each from the witness alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import flint

from . import exact as ex


def fmat(A) -> flint.fmpq_mat:
    """A list-of-rows rational matrix as python-flint's exact ``fmpq_mat``."""
    rows, cols = len(A), (len(A[0]) if A else 0)
    return flint.fmpq_mat(rows, cols, [flint.fmpq(a.numerator, a.denominator) for row in A for a in row])


def to_fractions(M: flint.fmpq_mat) -> list:
    return [[Fraction(int(a.p), int(a.q)) for a in row] for row in M.tolist()]


def poly_fractions(p: flint.fmpq_poly) -> list:
    """Coefficients highest degree first, as Fractions."""
    coeffs = p.coeffs()
    return [Fraction(int(c.p), int(c.q)) for c in reversed(coeffs)]


def null_basis(A: flint.fmpq_mat) -> list:
    """A basis of ``{v : A v = 0}`` (lists of Fractions), from the reduced row echelon form."""
    R, rank = A.rref()
    n = A.ncols()
    rows = to_fractions(R)[:rank]
    pivots = [next(c for c in range(n) if row[c] != 0) for row in rows]
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        v = [Fraction(0)] * n
        v[free] = Fraction(1)
        for row, p in zip(rows, pivots, strict=False):
            v[p] = -row[free]
        basis.append(v)
    return basis


@dataclass
class Decision:
    """Whether ``I - eta N`` is stable (SPEC section 7), and if not, why (``kind``) with exact evidence."""

    stable: bool
    kind: str = "stable"  # "stable", "eigenvalue", "jordan_chain" or "null_vector"
    evidence: dict = field(default_factory=dict)


@dataclass
class Operator:
    """``N`` with its query read-out ``R`` and what does not depend on ``eta`` (decided once)."""

    N: list
    R: list
    _cache: dict = field(default_factory=dict)

    @property
    def flint(self) -> flint.fmpq_mat:
        if "N" not in self._cache:
            self._cache["N"] = fmat(self.N)
        return self._cache["N"]

    @property
    def nonzero_poly(self) -> list:
        """``q`` with ``det(t I - N) = t^z q(t)``, ``q(0) != 0`` (highest degree first)."""
        if "q" not in self._cache:
            coeffs = poly_fractions(self.flint.charpoly())
            while len(coeffs) > 1 and coeffs[-1] == 0:
                coeffs = coeffs[:-1]
            self._cache["q"] = coeffs
        return self._cache["q"]

    @property
    def structural(self) -> Decision:
        """(b) and (c), which hold or fail at every ``eta``."""
        if "structural" not in self._cache:
            self._cache["structural"] = _structural(self)
        return self._cache["structural"]


def _structural(op: Operator) -> Decision:
    N = op.flint
    n = N.nrows()
    if n == 0:
        return Decision(True)
    if (N * N).rank() != N.rank():
        for v in null_basis(N * N):
            Nv = ex.matvec(op.N, v)
            if any(a != 0 for a in Nv):
                return Decision(False, "jordan_chain", {"vector": v, "N_vector": Nv})
    for v in null_basis(N):
        read = ex.matvec(op.R, v) if op.R else []
        if any(a != 0 for a in read):
            return Decision(False, "null_vector", {"vector": v, "query_read": read})
    return Decision(True)


def eigen_stable(q: list, eta: Fraction) -> bool:
    """(a): every root ``l`` of ``q`` (``q(0) != 0``) has ``|1 - eta l| < 1`` (exact Routh-Hurwitz)."""
    if len(q) == 1:
        return True
    return ex.schur_stable_poly(ex.iteration_charpoly(_monic(q), eta))


def _monic(q: list) -> list:
    return [a / q[0] for a in q]


def decide(op: Operator, eta: Fraction) -> Decision:
    """The exact decision at ``eta > 0``; the evidence of an unstable eigenvalue is an irreducible factor."""
    if eta <= 0:
        return Decision(False, "eta", {})
    structural = op.structural
    if not structural.stable:
        return structural
    q = op.nonzero_poly
    if eigen_stable(q, eta):
        return Decision(True)
    return Decision(False, "eigenvalue", eigen_evidence(q, eta))


def eigen_evidence(q: list, eta: Fraction) -> dict:
    """The irreducible factor of ``q`` (monic, rational) that fails (a), with a rational interval
    isolating a real root ``l`` of it with ``|1 - eta l| >= 1`` when there is one, else (complex culprits)
    a rational ``box`` isolating such a root when :func:`_complex_box` finds one."""
    poly = flint.fmpq_poly([flint.fmpq(a.numerator, a.denominator) for a in reversed(q)])
    _, factors = poly.factor()
    for factor, _mult in factors:
        f = _monic(poly_fractions(factor))
        if not eigen_stable(f, eta):
            out: dict = {"minimal_polynomial": f}
            interval = _real_interval(f, eta)
            if interval is not None:
                out["interval"] = interval
            else:
                box = _complex_box(f, eta)
                if box is not None:
                    out["box"] = box
            return out
    return {"minimal_polynomial": _monic(q)}  # pragma: no cover - some factor must fail when q fails


def _value(p: list, t: Fraction) -> Fraction:
    out = Fraction(0)
    for a in p:
        out = out * t + a
    return out


def _real_interval(f: list, eta: Fraction) -> list | None:
    """``[a, b]`` (rationals) with a sign change of ``f`` (so a root inside) and ``|1 - eta l| >= 1``
    on all of it (``b < 0``, or ``a > 0`` and ``eta a >= 2``)."""
    poly = flint.fmpq_poly([flint.fmpq(a.numerator, a.denominator) for a in reversed(f)])
    roots: list = poly.complex_roots()  # [(acb, multiplicity)]
    for root, _ in roots:
        if not root.imag.contains(0):
            continue
        mid = float(root.real.mid())
        for den in (10**2, 10**4, 10**6, 10**9, 10**12):  # the shortest rational interval that still isolates it
            m, width = Fraction(mid).limit_denominator(den), Fraction(1, den)
            a, b = m - width, m + width
            if _value(f, a) * _value(f, b) < 0 and _bad_interval(a, b, eta) and _isolates(f, a, b):
                return [a, b]
    return None


def _isolates(f: list, a: Fraction, b: Fraction) -> bool:
    """Exactly one real root of ``f`` in ``[a, b]`` (Sturm's theorem, SymPy's exact ``count_roots``)."""
    import sympy as sp

    t = sp.Symbol("t")
    poly = sp.Poly([sp.Rational(c.numerator, c.denominator) for c in f], t)
    return poly.count_roots(sp.Rational(a.numerator, a.denominator), sp.Rational(b.numerator, b.denominator)) == 1


def _bad_interval(a: Fraction, b: Fraction, eta: Fraction) -> bool:
    return b < 0 or (a > 0 and eta * a >= 2)


#: working precisions (bits) for python-flint's root enclosures: a culprit close to the circle
#: ``|1 - eta z| = 1`` needs a narrower box, hence a tighter enclosure, before its box clears the disc
BOX_PRECISIONS = (53, 128, 320, 800)
#: box half-widths ``1 / den`` tried at each precision, widest first (short rationals in the witness)
BOX_DENOMINATORS = tuple(10**k for k in (2, 4, 6, 9, 12, 18, 30, 50, 80, 120, 200))


def _exact(x: flint.arb) -> Fraction:
    """A zero-radius ``arb`` (a midpoint or a radius bound) as the exact binary rational it is."""
    m, e = x.man_exp()
    return Fraction(int(m)) * Fraction(2) ** int(e)


def _enclosure(root: flint.acb) -> list:
    """flint's ball as the rational rectangle ``[[re_lo, re_hi], [im_lo, im_hi]]`` containing it."""
    out = []
    for part in (root.real, root.imag):
        mid, rad = _exact(part.mid()), _exact(part.rad())
        out.append([mid - rad, mid + rad])
    return out


def _inside(inner: list, outer: list) -> bool:
    return all(o[0] < i[0] and i[1] < o[1] for i, o in zip(inner, outer, strict=True))


def _disjoint(a: list, b: list) -> bool:
    return any(x[1] < y[0] or y[1] < x[0] for x, y in zip(a, b, strict=True))


def _bad_box(box: list, eta: Fraction) -> bool:
    """The rectangle misses the open disc ``|1 - eta z| < 1`` (centre ``1/eta``, radius ``1/eta``): its point
    nearest the centre is at squared distance ``>= 1/eta^2`` (exact)."""
    (re_lo, re_hi), (im_lo, im_hi) = box
    centre = 1 / eta
    dx = max(re_lo - centre, Fraction(0), centre - re_hi)
    dy = max(im_lo, Fraction(0), -im_hi)
    return dx * dx + dy * dy >= centre * centre


def _box_isolates(f: list, box: list) -> bool:
    """Exactly one root of ``f`` in the closed rectangle (SymPy's exact ``count_roots``: Sturm sequences
    along the boundary, in rational arithmetic)."""
    import sympy as sp

    t = sp.Symbol("t")
    poly = sp.Poly([sp.Rational(c.numerator, c.denominator) for c in f], t)
    (re_lo, re_hi), (im_lo, im_hi) = (
        [sp.Rational(a.numerator, a.denominator) for a in side] for side in box)
    return poly.count_roots(re_lo + sp.I * im_lo, re_hi + sp.I * im_hi) == 1


def _complex_box(f: list, eta: Fraction) -> list | None:
    """``[[re_lo, re_hi], [im_lo, im_hi]]`` (rationals) holding exactly one root ``l`` of ``f`` and missing the
    disc ``|1 - eta z| < 1``, so ``|1 - eta l| >= 1``; None when none is found within :data:`BOX_PRECISIONS`.

    python-flint's ``complex_roots`` (Arb) returns one ball per root, pairwise disjoint, each certified to
    hold exactly that root.  A box made of short rationals around a ball's midpoint is kept when it strictly
    contains the ball, is disjoint from every other ball (so it holds that root and no other), misses the
    disc (:func:`_bad_box`), and SymPy's exact root count in it is 1 (:func:`_box_isolates`, the check
    :func:`check` repeats from the witness alone).
    """
    poly = flint.fmpq_poly([flint.fmpq(a.numerator, a.denominator) for a in reversed(f)])
    for prec in BOX_PRECISIONS:
        with flint.ctx.workprec(prec):
            roots: list = poly.complex_roots()  # [(acb, multiplicity)], the balls pairwise disjoint
        balls = [_enclosure(root) for root, _ in roots]
        for k, ball in enumerate(balls):
            others = balls[:k] + balls[k + 1:]
            for den in BOX_DENOMINATORS:
                width = Fraction(1, den)
                box = []
                for lo, hi in ball:
                    m = Fraction(round((lo + hi) * 2 * den), 4 * den)  # within 1/(8 den) of the midpoint
                    box.append([m - width, m + width])
                if not _inside(ball, box):
                    continue  # the ball is wider than the box: a narrower one misses it too, unless rounding did
                if all(_disjoint(box, o) for o in others) and _bad_box(box, eta) and _box_isolates(f, box):
                    return box
    return None


# ----------------------------------------------------------------------------- witnesses


def witness_fields(decision: Decision) -> dict:
    """The witness keys of an unstable decision (exact numbers as strings, SPEC section 7)."""
    e = decision.evidence
    if decision.kind == "eigenvalue":
        out = {"eigenvalue": {"minimal_polynomial": ex.texts(e["minimal_polynomial"]),
                              "meaning": "an irreducible factor of det(t I - N), nonzero at 0: some root l of it has "
                                         "|1 - eta l| >= 1 (Routh-Hurwitz on its iteration polynomial)"}}
        f = e["minimal_polynomial"]
        if len(f) == 2:
            out["eigenvalue"]["value"] = ex.text(-f[1])
        if "interval" in e:
            out["eigenvalue"]["interval"] = ex.texts(e["interval"])
        if "box" in e:
            out["eigenvalue"]["box"] = ex.texts(e["box"])
        return out
    if decision.kind == "jordan_chain":
        return {"jordan_chain": {"vector": ex.texts(e["vector"]), "N_vector": ex.texts(e["N_vector"]),
                                 "meaning": "N v != 0 and N^2 v = 0: (I - eta N)^L v = v - L eta N v grows"}}
    if decision.kind == "null_vector":
        return {"null_vector": {"vector": ex.texts(e["vector"]), "query_read": ex.texts(e["query_read"]),
                                "meaning": "N v = 0 but a query reads it: its prediction drifts by L eta (R v)/c_q"}}
    return {}


def check(op: Operator, eta: Fraction, w: dict) -> bool:
    """Exact re-check of :func:`witness_fields` against ``op`` at ``eta``: the evidence itself, no search."""
    if "jordan_chain" in w:
        v = [ex.parse(a) for a in w["jordan_chain"]["vector"]]
        Nv = ex.matvec(op.N, v)
        return any(a != 0 for a in Nv) and all(a == 0 for a in ex.matvec(op.N, Nv))
    if "null_vector" in w:
        v = [ex.parse(a) for a in w["null_vector"]["vector"]]
        read = ex.matvec(op.R, v)
        return (all(a == 0 for a in ex.matvec(op.N, v)) and any(a != 0 for a in read)
                and ex.texts(read) == w["null_vector"]["query_read"])
    if "eigenvalue" in w:
        f = [ex.parse(a) for a in w["eigenvalue"]["minimal_polynomial"]]
        if f[-1] == 0 or f[0] != 1:
            return False
        pN = flint.fmpq_poly([flint.fmpq(a.numerator, a.denominator) for a in reversed(poly_fractions(
            op.flint.charpoly()))])
        pf = flint.fmpq_poly([flint.fmpq(a.numerator, a.denominator) for a in reversed(f)])
        if pN % pf != 0 or eigen_stable(f, eta):
            return False
        if "interval" in w["eigenvalue"]:
            a, b = (ex.parse(t) for t in w["eigenvalue"]["interval"])
            if not (_value(f, a) * _value(f, b) < 0 and _bad_interval(a, b, eta) and _isolates(f, a, b)):
                return False
        if "box" in w["eigenvalue"]:
            box = [[ex.parse(t) for t in side] for side in w["eigenvalue"]["box"]]
            if any(lo > hi for lo, hi in box) or not (_bad_box(box, eta) and _box_isolates(f, box)):
                return False
        return True
    return False
