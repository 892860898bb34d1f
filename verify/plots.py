"""Figures for the experiments (matplotlib, Agg backend: no display needed).

Each function takes the rows an experiment returns (or reads back from its CSV)
and writes one PNG; all error axes are log scale.
"""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

COLORS = {"prefix": "tab:blue", "causal": "tab:red"}


def _column(rows, key, **where) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if all(r[k] == v for k, v in where.items())])


def _save(fig, path, left: float = 0.07) -> str:
    """Write ``fig`` as a PNG with fixed margins (room for the caption, the titles and the axis labels;
    ``tight_layout`` would draw every figure twice, the larger part of ``figures``' plotting time)."""
    lines = fig._suptitle.get_text().count("\n") + 1 if fig._suptitle is not None else 0
    fig.subplots_adjust(left=left, right=0.98, bottom=0.12, top=0.9 - 0.04 * lines, wspace=0.22)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _caption(fig, caption: str) -> None:
    """The run's setting (n, d, eta, ...) above the panels."""
    if caption:  # wrapped to the figure's width (about 13 characters an inch at 9 pt)
        fig.suptitle(textwrap.fill(caption, int(fig.get_figwidth() * 13)), fontsize=9)


def plot_e1(rows, path, caption: str = "") -> str:
    """Two panels, example MSE and query MSE over layers, prefix vs causal (log y); ``caption``: the setting."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    _caption(fig, caption)
    for ax, key, title in zip(axes, ("example_mse", "query_mse"), ("in-context examples", "queries")):
        for model in dict.fromkeys(r["model"] for r in rows):
            ax.plot(_column(rows, "layer", model=model), _column(rows, key, model=model),
                    color=COLORS.get(model), marker="o", markersize=3, label=f"{model}LM")
        ax.set_yscale("log")
        ax.set_xlabel("layer l")
        ax.set_ylabel("mean squared error")
        ax.set_title(f"E1: error on the {title}")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_e2(rows, path, caption: str = "") -> str:
    """Query MSE vs context length n, one line per mu_x: causal stationary point (left), least squares (right).

    The least-squares panel says "zero up to rounding" only when the rows show it
    (:func:`verify.experiments.shape.least_squares_is_zero`); otherwise it gives the range.
    """
    from .experiments.shape import least_squares_is_zero

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    _caption(fig, caption)
    mus = list(dict.fromkeys(r["mu_x"] for r in rows))
    cmap = plt.get_cmap("viridis")
    for i, mu in enumerate(mus):
        color = cmap(i / max(len(mus) - 1, 1))
        n = _column(rows, "n", mu_x=mu)
        axes[0].plot(n, _column(rows, "causal_query_mse", mu_x=mu), color=color, marker="o", markersize=3,
                     label=rf"$\mu_x = {mu}$")
        # exact zeros cannot sit on a log axis; clip at the smallest positive double
        ls = np.maximum(_column(rows, "least_squares_query_mse", mu_x=mu), np.finfo(float).tiny)
        axes[1].plot(n, ls, color=color, marker="s", markersize=3, linestyle="--", label=rf"$\mu_x = {mu}$")
    axes[0].set_title("E2: causalLM stationary point")
    axes[1].set_title("E2: least squares (prefixLM's limit)")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("number of in-context examples n")
        ax.set_ylabel("query mean squared error")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    ls = np.array([r["least_squares_query_mse"] for r in rows], dtype=float)
    if least_squares_is_zero(rows):
        # a wide fixed range shows least squares as what it is: zero up to rounding, far below causal
        axes[1].set_ylim(1e-32, max(axes[0].get_ylim()[1], 1.0))
        axes[1].text(0.5, 0.5, "zero up to rounding (n >= d)", transform=axes[1].transAxes, ha="center")
    else:  # label noise (or n < d): say what the data show
        axes[1].text(0.5, 0.5, f"query MSE {ls.min():.2g} to {ls.max():.2g}", transform=axes[1].transAxes,
                     ha="center")
    return _save(fig, path)


def plot_e3(rows, path, caption: str = "") -> str:
    """Median transient peak max_l ||(I - eta N)^l||_2 vs eta as a fraction of each model's stable bound."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    _caption(fig, caption)
    mus = list(dict.fromkeys(r["mu_x"] for r in rows))
    cmap = plt.get_cmap("viridis")
    for i, mu in enumerate(mus):
        color = cmap(i / max(len(mus) - 1, 1))
        for model, style in (("causal", "-"), ("prefix", ":")):
            f = _column(rows, "eta_fraction", mu_x=mu, model=model)
            if f.size:
                ax.plot(f, _column(rows, "median_peak", mu_x=mu, model=model), linestyle=style, color=color,
                        marker="o" if model == "causal" else "x", label=rf"{model}LM, $\mu_x = {mu}$")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\eta$ / (the model's own stable bound)")
    ax.set_ylabel(r"median peak  $\max_{l \leq 50} \|(I - \eta D^{-1} M)^l\|_2$")
    ax.set_title("E3: growth before convergence (50 layers)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, path, left=0.13)
