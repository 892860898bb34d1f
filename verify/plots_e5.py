"""The E5 figure: test error against the number of in-context examples, prefixLM and causalLM, per task."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .plots_e4 import COLORS  # noqa: E402


def plot_e5(rows: list, target) -> None:
    """One panel per task: mean over seeds (line) and the range over seeds (band) at every ``n``;
    the zero predictor (dotted) and least squares (dash-dot) where defined."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        picked = [r for r in rows if r["task"] == task]
        metric = picked[0]["metric"]
        ns = sorted({r["n"] for r in picked})
        for model in dict.fromkeys(r["model"] for r in picked):
            values = np.array([[r["value"] for r in picked if r["model"] == model and r["n"] == n] for n in ns])
            ax.plot(ns, values.mean(axis=1), color=COLORS.get(model), marker="o", label=f"{model}LM")
            ax.fill_between(ns, values.min(axis=1), values.max(axis=1), color=COLORS.get(model), alpha=0.2)
        if metric == "mse":
            zero = [np.mean([r["zero_mse"] for r in picked if r["n"] == n]) for n in ns]
            ax.plot(ns, zero, color="gray", linestyle=":", label="zero predictor")
            least = np.array([np.mean([r["least_squares_mse"] for r in picked if r["n"] == n]) for n in ns])
            if np.all(np.isfinite(least)):
                # exact least squares (noiseless, n >= d) sits at rounding level: a note, not a line off the scale
                exact = least <= 1e-12 * np.asarray(zero)
                ax.plot(np.asarray(ns)[~exact], least[~exact], color="gray", linestyle="-.",
                        label="least squares" + (" (0 where n >= d: exact)" if exact.any() else ""))
            ax.set_yscale("log")
        ax.set_xlabel("in-context examples n")
        ax.set_ylabel("test MSE" if metric == "mse" else "test accuracy")
        ax.set_title(f"E5: {task}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(target, dpi=120, format="png")
    plt.close(fig)
