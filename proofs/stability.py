"""From the iteration's eigenvalues to the stated step-size ranges and rates, exactly (z3 over the reals).

The residual iterations of P4, P5 and P9 have eigenvalues ``mu(t) = 1 - eta t / c_j`` at the
numbers ``t`` of a spectrum (eigenvalues of ``X X^T``, or ``||x_j||^2``, or ``||x_j||^2 / j``)
lying in ``[t_lo, t_hi]`` with both ends attained.  ``mu`` is read off the setup's own layer
(:func:`eigen_factor`: one example, d = 1, so ``B = [mu(x^2)]``); the spectrum's general shape
enters through a generic interior point ``t`` (``t_lo <= t <= t_hi``): a claim z3 proves for
every such ``t`` holds for every finite spectrum in the interval.

The named results are *instantiated from their registered formulas* (``proofs.assumptions``,
read at call time): the spectral theorem's ``||p(A)||_2 = max_i |p(lambda_i)|`` with
``p = mu`` gives the norm of a symmetric iteration, ``power-convergence`` turns the spectral
radius into "the iteration converges", ``gelfand-formula`` into the asymptotic rate.  A
misstated assumption therefore changes what z3 is asked, besides failing its spot check.
"""
from __future__ import annotations

import sympy as sp

from .evaluate import instance
from .formal import Check, valid

#: a generic point of the spectrum between its two attained ends
T_MID = sp.Symbol("t", positive=True)
#: the model's norm / spectral radius of the iteration (on the row space for prefix)
NORM_B = sp.Symbol("norm_B", nonnegative=True)


def eigen_factor(setup, spec: str, kind: str, eta, c) -> sp.Lambda:
    """``mu`` with ``B = [mu(x^2)]`` for the setup's layer on one example with d = 1 (exact)."""
    from .symbolic import iteration_from_layer

    x = sp.Symbol("x", positive=True)
    B = iteration_from_layer(setup, spec, kind, sp.Matrix([[x]]), eta, c)
    t = sp.Symbol("t_", positive=True)
    return sp.Lambda(t, sp.expand(B[0, 0].subs(x, sp.sqrt(t))))


def lazy_factor(setup, spec: str, kind: str, eta, c):
    """A callable returning :func:`eigen_factor` (computed once, on first use)."""
    memo: list = []

    def mu():
        if not memo:
            memo.append(eigen_factor(setup, spec, kind, eta, c))
        return memo[0]

    return mu


def _assumption(name: str):
    from .assumptions import ASSUMPTIONS  # read at call time: a replaced entry is what is instantiated

    return ASSUMPTIONS[name].formal


def spectrum(lo, hi) -> list:
    """Hypotheses on the spectrum: ``0 < lo <= t <= hi`` (``lo`` may be 0 when ``lo`` is the number 0)."""
    return [lo <= T_MID, T_MID <= hi, lo <= hi]


def radius(mu, lo, hi):
    """``max(|mu(lo)|, |mu(t)|, |mu(hi)|)``: the largest ``|mu|`` over a spectrum in ``[lo, hi]``."""
    return sp.Max(sp.Abs(mu(lo)), sp.Abs(mu(T_MID)), sp.Abs(mu(hi)))


def symmetric_norm(mu, lo, hi):
    """The spectral theorem's norm identity at ``p = mu`` and eigenvalues ``lo, t, hi``: ``norm_B = ...``."""
    from .assumptions import LAM, NORM_PA, POLY, SIZE, SYMMETRIC

    return instance(_assumption("spectral-theorem"), {SYMMETRIC: True, SIZE: 3, LAM: [lo, T_MID, hi], POLY: mu,
                                                       NORM_PA: NORM_B})


def converges_iff(flag):
    """``power-convergence`` at the model's spectral radius ``norm_B``: ``flag <=> (norm_B < 1)``."""
    from .assumptions import CONVERGES, RHO

    return instance(_assumption("power-convergence"), {CONVERGES: flag, RHO: NORM_B})


def gelfand(rate):
    """``gelfand-formula`` at the model's spectral radius: ``rate = norm_B``."""
    from .assumptions import GELFAND_LIMIT, RHO

    return instance(_assumption("gelfand-formula"), {GELFAND_LIMIT: rate, RHO: NORM_B})


def range_check(subject, mu_of, lo, hi, norm: str, name: str, extra=()) -> Check:
    """Equivalent(subject, RANGE): the iteration converges iff the step size is in the stated range.

    ``norm`` says how ``norm_B`` is known: ``"symmetric"`` (spectral theorem, P4) or ``"radius"``
    (triangular: the eigenvalues are the diagonal ``mu(t_j)``, P5 and P9)."""
    assumes = ("spectral-theorem", "power-convergence") if norm == "symmetric" else ("power-convergence",)

    def run(conclusion):
        mu = mu_of()
        known = symmetric_norm(mu, lo, hi) if norm == "symmetric" else sp.Eq(NORM_B, radius(mu, lo, hi))
        return valid(conclusion, [known, converges_iff(subject), *spectrum(lo, hi), *extra], booleans=[subject])

    return Check(subject, name, run, assumes=assumes)


def rate_check(subject, mu_of, lo, hi, norm: str, name: str, extra=()) -> Check:
    """A conclusion about the rate ``subject``: the norm on the row space (``"symmetric"``) or the
    asymptotic rate ``lim ||B^l||^(1/l)`` (``"radius"``, by Gelfand's formula)."""
    assumes = ("spectral-theorem",) if norm == "symmetric" else ("gelfand-formula",)

    def run(conclusion):
        mu = mu_of()
        if norm == "symmetric":
            known = [symmetric_norm(mu, lo, hi), sp.Eq(subject, NORM_B)]
        else:
            known = [sp.Eq(NORM_B, radius(mu, lo, hi)), gelfand(subject)]
        return valid(conclusion, [*known, *spectrum(lo, hi), *extra])

    return Check(subject, name, run, assumes=assumes)


def contraction_check(subject, before, mu_of, lo, hi, name: str) -> Check:
    """``subject = ||e B||`` for ``e`` in the row space with ``before = ||e||``: the operator norm gives
    ``subject <= norm_B before``, and the spectral theorem gives ``norm_B``."""
    def run(conclusion):
        mu = mu_of()
        known = [symmetric_norm(mu, lo, hi), before >= 0, subject >= 0, subject <= NORM_B * before]
        return valid(conclusion, [*known, *spectrum(lo, hi)])

    return Check(subject, name, run, assumes=("spectral-theorem",))
