"""A short reading of the figures, computed from the numbers in their CSV files.

Every number quoted in ``report.md`` is read back from ``e1_convergence.csv``,
``e2_stationary.csv`` and ``e3_transient.csv`` here, so the text cannot drift
from the figures.
"""
from __future__ import annotations

import os

from .shape import e1_shape, e2_shape, e3_shape, least_squares_is_zero
from .table import read_rows


def _pick(rows, key, **where):
    found = [r[key] for r in rows if all(r[k] == v for k, v in where.items())]
    return found[0] if found else float("nan")


def _checks(checks: dict) -> list:
    return [f"- {'yes' if holds else '**NO**'}: {claim}" for claim, holds in checks.items()]


def read_e1(rows, setting: str = "") -> list:
    last = max(r["layer"] for r in rows)
    tail = max(last // 5, 1)
    v = {(m, k, l): _pick(rows, k, model=m, layer=l) for m in ("prefix", "causal")
         for k in ("example_mse", "query_mse") for l in (0, last - tail, last)}
    per_layer = (v["prefix", "query_mse", last] / v["prefix", "query_mse", 0]) ** (1 / (2 * last))
    return [
        "## E1: convergence over layers",
        "",
        "![E1](e1_convergence.png)",
        "",
        *([f"Setting: {setting} (SPEC section 4).", ""] if setting else []),
        f"PrefixLM: the example MSE falls from {v['prefix', 'example_mse', 0]:.3g} to "
        f"{v['prefix', 'example_mse', last]:.3g} and the query MSE from {v['prefix', 'query_mse', 0]:.3g} to "
        f"{v['prefix', 'query_mse', last]:.3g} after {last} layers: a straight line on the log axis, i.e. linear "
        f"convergence (the query error's root shrinks by {per_layer:.3f} per layer on average; SPEC P4).",
        f"CausalLM: the example MSE also falls, to {v['causal', 'example_mse', last]:.3g}, but the query MSE "
        f"plateaus at {v['causal', 'query_mse', last]:.3g} (it was {v['causal', 'query_mse', last - tail]:.3g} at "
        f"layer {last - tail}), {v['causal', 'query_mse', last] / v['prefix', 'query_mse', last]:.3g} times "
        "prefix's final error: the causal stack converges to online gradient descent's weight (SPEC P5, P6), "
        "which fits every example yet does not generalize as least squares does (SPEC P7).",
        "",
        "Published shape:",
        *_checks(e1_shape(rows)),
    ]


def read_e2(rows, noise: float) -> list:
    ns = sorted({r["n"] for r in rows})
    mus = sorted({r["mu_x"] for r in rows})
    lines = ["## E2: causal stationary point vs context length", "", "![E2](e2_stationary.png)", ""]
    for mu in mus:
        first, final = (_pick(rows, "causal_query_mse", mu_x=mu, n=n) for n in (ns[0], ns[-1]))
        lines.append(f"- mu_x = {mu}: causal query MSE {first:.3g} at n = {ns[0]} -> {final:.3g} at n = {ns[-1]} "
                     f"(a factor {first / final:.3g})")
    ls = [r["least_squares_query_mse"] for r in rows]
    lines += [
        "",
        f"Least squares (the prefix stack's limit) has query MSE {min(ls):.3g} to {max(ls):.3g} over every n and mu_x"
        + (": zero up to rounding, as every n here is at least d." if least_squares_is_zero(rows) else
           f" (label noise {noise:g} on the examples)." if noise else "."),
        "The causal error falls with n but ever more slowly as the inputs' mean grows: with mu_x > 0 every "
        "x_i^T x_j is large, so each online step overwrites most of what the earlier steps learned.",
        "",
        "Published shape:",
        *_checks(e2_shape(rows, noise)),
    ]
    return lines


def read_e3(rows, setting: str = "") -> list:
    fractions = sorted({r["eta_fraction"] for r in rows})
    mus = sorted({r["mu_x"] for r in rows})
    prefix = [r["median_peak"] for r in rows if r["model"] == "prefix"]
    causal = lambda mu, f: _pick(rows, "median_peak", model="causal", mu_x=mu, eta_fraction=f)  # noqa: E731
    safe = [f for f in fractions if all(causal(mu, f) <= 10 for mu in mus)]
    lines = [
        "## E3: transient growth at finite depth",
        "",
        "![E3](e3_transient.png)",
        "",
        *([f"Setting: {setting} (SPEC section 4).", ""] if setting else []),
        f"PrefixLM: the median peak max_l ||(I - eta D^-1 M)^l||_2 is 1 up to rounding (largest 1 + "
        f"{max(prefix) - 1:.2g}) at every mu_x and every fraction of its stable bound: the prefix iteration is "
        "symmetric, so it never amplifies the residuals.",
        f"CausalLM: at mu_x = 2 and eta at 0.5 of its stable bound 2c / max_j ||x_j||^2 the median peak is "
        f"{causal(2, 0.5):.3g}; at mu_x = {mus[-1]} and fraction {fractions[-1]:g} it is "
        f"{causal(mus[-1], fractions[-1]):.3g}, while at mu_x = 0 and fraction 0.5 it is only {causal(0, 0.5):.3g}.",
        "",
        "What this means for choosing depth and step size: the asymptotic rate (SPEC P5) says any eta below the "
        "causal bound converges, but a finite causal stack first multiplies its residuals by the peak above; "
        "in floating point, or with any noise in the tokens, a stack that amplifies by 10^5 or more is useless "
        "even though it is 'stable'. For prefix attention any eta inside the bound is safe at every depth. "
        "For causal attention on inputs with a non-zero mean, pick eta as a small fraction of the bound"
        + (" (here the median peak stays within 10 for every mu_x only at fractions "
           f"{', '.join(f'{f:g}' for f in safe)})"
           if safe else " (here no tested fraction keeps the median peak within 10 for every mu_x)")
        + ", and check a given prompt with `icl-verify rate --attention causal --eta E --layers L --max-growth G`, "
        "whose `depth_safe_eta` is the largest step size that keeps the growth within G over L layers. A smaller "
        "eta converges more slowly, so the depth needed grows as eta shrinks: choose the depth from `rate` at the "
        "depth-safe eta, not from the asymptotic bound.",
        "",
        "Expected from SPEC P11 (prefix never grows; causal grows by orders of magnitude on shifted inputs):",
        *_checks(e3_shape(rows)),
    ]
    return lines


def reading(out, figures: dict) -> list:
    """Markdown lines for the three figures, read from the CSVs in ``out``."""
    read = lambda name: read_rows(os.path.join(out, name))  # noqa: E731
    t = figures["timings"]
    return [
        *read_e1(read("e1_convergence.csv"), figures["settings"].get("e1", "")), "",
        *read_e2(read("e2_stationary.csv"), figures["settings"]["noise"]), "",
        *read_e3(read("e3_transient.csv"), figures["settings"].get("e3", "")), "",
        f"Timings (in-process): E1 {t['e1_seconds']:.2f} s, E2 {t['e2_seconds']:.2f} s, E3 {t['e3_seconds']:.2f} s.",
    ]
