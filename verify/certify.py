"""Certified rates: rigorous enclosures of ``rate`` and ``stable_eta_max`` (issue 13, ``rate --certify``).

The prompt's floats are exact binary rationals, and so is a step size.  The
eigenvalues of ``N = D^{-1} M`` come block by block from the mask's strongly
connected components (``verify.structure``):

- a single example gives ``lambda_j = [j in A(j)] x_j^T Gamma x_j / c_j`` as an
  exact rational (``flint.fmpq``): every triangular mask is certified exactly;
- a full block gives the nonzero eigenvalues of ``D_C^{-1} X_C Gamma X_C^T`` as those
  of the smaller of it and ``Gamma X_C^T D_C^{-1} X_C`` (``d x d``), enclosed by
  ``flint.acb_mat.eig`` on the exact rational matrix; its ``|C| - d`` further zero
  eigenvalues are the Gram null space, which reaches no weight when every token
  reads all of the block or none of it (decided on the mask, not on floats);
- a general block: ``acb_mat.eig`` of its exact rational ``N_CC``.

Then ``rate = max |1 - eta lambda|`` and ``stable_eta_max = min 2 Re(lambda) / |lambda|^2``
are evaluated in ball arithmetic and rounded outward to floats.  Where the
enclosure cannot decide (an eigenvalue not separated from 0, a null space that
couples components) certification is refused with a PromptError.  The work is
done in the power-of-two frame of the data (``verify.frame``), which changes no
value, only exponents.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import PromptError
from .frame import Frame, frame_of, scale_eta, to_frame
from .structure import _readers, blocks, runs_of

#: working precision of the ball arithmetic, in bits
PREC = 192
#: largest block given to the ball eigensolver
CERTIFY_DENSE_LIMIT = 400


def _q(value: float):
    from flint import fmpq

    return fmpq(*float(value).as_integer_ratio())


def _exact(a: np.ndarray) -> list:
    return [[_q(v) for v in row] for row in np.atleast_2d(a)]


def _to_fmpq(x):
    """An exact arb point (or fmpq) as an fmpq."""
    from flint import fmpq

    if isinstance(x, fmpq):
        return x
    m, e = x.mid().man_exp()
    return fmpq(int(m)) * (fmpq(2) ** int(e)) if int(e) >= 0 else fmpq(int(m), 2 ** (-int(e)))


def down(x) -> float:
    """The largest float ``<= x`` (``x`` an fmpq, or an arb whose lower end is taken)."""
    q = _to_fmpq(x if not hasattr(x, "lower") else x.lower())
    f = float(q)
    return f if _q(f) <= q else math.nextafter(f, -math.inf)


def up(x) -> float:
    """The smallest float ``>= x``."""
    q = _to_fmpq(x if not hasattr(x, "upper") else x.upper())
    f = float(q)
    return f if _q(f) >= q else math.nextafter(f, math.inf)


def _eigs(rows: list) -> list:
    """Ball enclosures of the eigenvalues of an exact rational matrix."""
    from flint import acb_mat, arb, ctx

    size = len(rows)
    if size > CERTIFY_DENSE_LIMIT:
        raise PromptError(f"certify: a block of {size} examples is beyond the {CERTIFY_DENSE_LIMIT} that ball "
                          "arithmetic certifies; drop --certify or use a mask with smaller blocks")
    A = acb_mat([[arb(v) for v in row] for row in rows])
    for prec in (PREC, 2 * PREC, 4 * PREC):
        old = ctx.prec
        ctx.prec = prec
        try:
            return list(acb_mat([[arb(v) for v in row] for row in rows]).eig(multiple=True))
        except ValueError:
            continue
        finally:
            ctx.prec = old
    del A
    raise PromptError("certify: the ball eigensolver could not isolate the eigenvalues of a block; drop --certify")


def exact_eigenvalues(X, mask, c, gamma=None) -> tuple[list, list]:
    """``(exact, balls)``: eigenvalues of ``N`` that govern convergence, as fmpq (single examples) and acb balls.

    Zero eigenvalues are dropped when their null directions are seen by nobody (SPEC
    section 7): a zero example, or the Gram null space of a full block that every token
    reads all or nothing of.  Raises PromptError when a null space cannot be decided
    rigorously.
    """
    from flint import fmpq

    n = X.shape[0]
    mask = np.asarray(mask)
    c = np.asarray(c, dtype=float)
    runs = runs_of(mask, n)
    parts = blocks(X, mask, c, gamma, runs)
    keep_zeros = False  # a zero eigenvalue never governs the rate (SPEC section 7); a visible one is refused
    G = None if gamma is None else _exact(gamma)
    exact, balls = [], []
    for part in parts:
        index = part.component.index
        if part.component.kind == "single":
            j = int(index[0])
            x = [_q(v) for v in X[j]]
            gx = x if G is None else [sum((G[a][b] * x[b] for b in range(len(x))), fmpq(0)) for a in range(len(x))]
            value = sum((u * v for u, v in zip(x, gx, strict=True)), fmpq(0)) / _q(c[j]) if mask[j, j] else fmpq(0)
            if value != 0 or keep_zeros:
                exact.append(value)
            elif any(v != 0 for v in gx) and mask[j, :].any():
                raise PromptError("certify: a single example that does not read itself is read by others, so its "
                                  "null direction couples components; drop --certify")
            continue
        XC = _exact(X[index])
        cC = [_q(v) for v in c[index]]
        b, d = len(XC), len(XC[0])
        XG = XC if G is None else [[sum((row[t] * G[t][a] for t in range(d)), fmpq(0)) for a in range(d)] for row in XC]
        if part.component.kind == "full" and b > d:
            counts = _readers(mask, index, runs)
            if np.any((counts > 0) & (counts < b)) and not keep_zeros:
                raise PromptError("certify: a token reads part of a rank-deficient full block, so its null space "
                                  "may reach a weight; drop --certify")
            # nonzero spectrum of D^{-1} X Gamma X^T = that of Gamma X^T D^{-1} X (d x d)
            small = [[sum((XG[i][a] * XC[i][t] / cC[i] for i in range(b)), fmpq(0)) for t in range(d)]
                     for a in range(d)]
            found = _eigs(small)
            if keep_zeros:
                exact.extend([fmpq(0)] * (b - d))
        else:
            reads = mask[np.ix_(index, index)]
            NC = [[(sum((XG[i][t] * XC[j][t] for t in range(d)), fmpq(0)) / cC[j]) if reads[i, j] else fmpq(0)
                   for i in range(b)] for j in range(b)]
            found = _eigs(NC)
        for lam in found:
            if lam.contains(0):
                if _is_zero(lam) and keep_zeros:
                    exact.append(fmpq(0))
                    continue
                raise PromptError("certify: an eigenvalue of a block is not separated from 0 in ball arithmetic "
                                  "(a rank-deficient block); drop --certify")
            balls.append(lam)
    return exact, balls


def _is_zero(lam) -> bool:
    return lam.real.contains(0) and lam.imag.contains(0)


def certify(X, mask, c, eta: float, gamma=None) -> dict:
    """Rigorous enclosures of ``rate`` at ``eta`` and of ``stable_eta_max``.

    Returns ``rate_interval`` ``[lo, hi]``, ``rate_gap_interval`` (``1 - rate``, enclosed
    without rounding it to 1), ``stable_eta_max_interval`` ``[lo, hi]`` (``[0, 0]`` when no
    step size is stable, ``[inf, inf]`` when nothing needs to contract) and
    ``certified_stable``: true exactly when ``0 < eta < lo`` of the stable bound's
    enclosure, the criterion of SPEC section 7 (a rate within rounding of 1 is still certified).
    """
    from flint import arb, ctx, fmpq

    X = np.asarray(X, dtype=float)
    frame = frame_of(X, np.zeros(1), c, gamma)
    Xf, _, cf, gf, _, _ = to_frame(frame, X, np.zeros(1), c, gamma)
    old = ctx.prec
    ctx.prec = PREC
    try:
        exact, balls = exact_eigenvalues(Xf, mask, cf, gf)
        eta_f = scale_eta(eta, Frame(c=-frame.lam))
        if not math.isfinite(eta_f):
            raise PromptError("certify: eta overflows at this scale of the prompt; give a smaller eta")
        e = _q(eta_f)
        rate_lo, rate_hi = fmpq(0), fmpq(0)
        gap_lo = gap_hi = 1.0
        if exact:
            values = [abs(1 - e * lam) for lam in exact]
            rate_lo = rate_hi = max(values)
            gap_lo, gap_hi = down(1 - rate_hi), up(1 - rate_hi)
        lo, hi = down(rate_lo), up(rate_hi)
        for lam in balls:
            r = abs(1 - arb(e) * lam)
            lo, hi = max(lo, down(r)), max(hi, up(r))
            gap_lo, gap_hi = min(gap_lo, down(1 - r)), min(gap_hi, up(1 - r))
        # stable_eta_max = min 2 Re(lambda) / |lambda|^2; 0 when some Re(lambda) <= 0
        s_lo = s_hi = math.inf
        if any(lam <= 0 for lam in exact):
            s_lo = s_hi = 0.0
        else:
            if exact:
                top = 2 / max(exact)
                s_lo, s_hi = down(top), up(top)
            for lam in balls:
                re = lam.real
                if re.contains(0):
                    raise PromptError("certify: the real part of an eigenvalue is not separated from 0; drop --certify")
                if re < 0:
                    s_lo = s_hi = 0.0
                    break
                bound = 2 * re / (re * re + lam.imag * lam.imag)
                s_lo, s_hi = min(s_lo, down(bound)), min(s_hi, up(bound))
    finally:
        ctx.prec = old
    interval = [s_lo, s_hi]
    if 0 < s_lo and math.isfinite(s_hi):
        # back from the frame: exact powers of two, outward rounding already applied
        interval = [math.ldexp(s_lo, -frame.lam), math.ldexp(s_hi, -frame.lam)]
        if not all(math.isfinite(v) and v > 0 for v in interval):
            raise PromptError("stable_eta_max: the enclosure overflows or underflows a float at this scale of the "
                              "prompt; rescale X towards 1")
    return {"rate_interval": [lo, hi], "rate_gap_interval": [gap_lo, gap_hi], "stable_eta_max_interval": interval,
            "certified_stable": bool(0 < eta_f < s_lo)}
