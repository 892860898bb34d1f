"""The published shape of each figure as checkable predicates, computed from the rows.

The report quotes these, and the tests check that they hold for the package and
fail for deliberately wrong variants (causal replaced by prefix, and so on).
Thresholds are loose on purpose: they state the qualitative shape of the paper's
figures, which holds on every budget, not the exact values of one run.
"""
from __future__ import annotations

import numpy as np

#: "falls to near zero": the error drops by at least this factor over the stack
FALL_FACTOR = 1e-2
#: "plateaus": over the last fifth of the layers the error changes by less than this fraction
PLATEAU_CHANGE = 0.1
#: "clearly above": causal's final query error is at least this multiple of prefix's
SEPARATION = 100.0
#: "zero": least-squares query error below this fraction of the causal error scale (rounding level)
LS_ZERO = 1e-12
#: E3: the causal median peak at mu_x = 2, eta fraction 0.5 exceeds this
E3_CAUSAL_PEAK = 1e5
#: prefix peaks equal 1 up to rounding of the matrix powers
PEAK_ONE = 1e-9


def _series(rows, key, order, **where):
    picked = sorted((r for r in rows if all(r[k] == v for k, v in where.items())), key=lambda r: r[order])
    return np.array([r[key] for r in picked], dtype=float)


def e1_shape(rows) -> dict:
    """Prefix errors fall to near zero; causal example error falls; causal query error plateaus above prefix's."""
    ex_p, q_p = (_series(rows, k, "layer", model="prefix") for k in ("example_mse", "query_mse"))
    ex_c, q_c = (_series(rows, k, "layer", model="causal") for k in ("example_mse", "query_mse"))
    tail = max(len(q_c) // 5, 1)
    return {
        "prefix example error falls to near zero": bool(ex_p[-1] <= FALL_FACTOR * ex_p[0]),
        "prefix query error falls to near zero": bool(q_p[-1] <= FALL_FACTOR * q_p[0]),
        "causal example error falls to near zero": bool(ex_c[-1] <= FALL_FACTOR * ex_c[0]),
        "causal query error plateaus": bool(abs(q_c[-1] - q_c[-1 - tail]) <= PLATEAU_CHANGE * q_c[-1]),
        "causal query error stays clearly above prefix's": bool(q_c[-1] >= SEPARATION * q_p[-1]),
    }


def least_squares_is_zero(rows) -> bool:
    """Least squares' query MSE is zero up to rounding: at most ``LS_ZERO`` times the largest causal error."""
    scale = max(r["causal_query_mse"] for r in rows)
    return max(r["least_squares_query_mse"] for r in rows) <= LS_ZERO * scale


def e2_shape(rows, noise: float = 0.0) -> dict:
    """Causal error falls with n, more slowly as mu_x grows; least squares is zero for n >= d (noiseless)."""
    mus = sorted({r["mu_x"] for r in rows})
    causal = {mu: _series(rows, "causal_query_mse", "n", mu_x=mu) for mu in mus}
    drop = [causal[mu][0] / causal[mu][-1] for mu in mus]  # how far the error fell over the n range
    checks = {
        "causal error falls with n for every mu_x": all(c[-1] < c[0] for c in causal.values()),
        "causal error falls more slowly as mu_x grows": bool(np.all(np.diff(drop) < 0)),
    }
    if noise == 0:
        checks["least squares is zero for n >= d"] = least_squares_is_zero(rows)
    return checks


def e3_shape(rows) -> dict:
    """Prefix never grows; causal grows by more than 1e5 at mu_x = 2, eta at half its stable bound."""
    prefix = [r["median_peak"] for r in rows if r["model"] == "prefix"]
    watched = [r["median_peak"] for r in rows
               if r["model"] == "causal" and r["mu_x"] == 2 and abs(r["eta_fraction"] - 0.5) < 1e-12]
    return {
        "prefix peaks are 1": bool(prefix) and all(abs(p - 1) <= PEAK_ONE for p in prefix),
        "causal peak > 1e5 at mu_x = 2, eta fraction 0.5": bool(watched) and watched[0] > E3_CAUSAL_PEAK,
    }
