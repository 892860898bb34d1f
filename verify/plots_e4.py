"""The E4 figure: test MSE of trained stacks against the GD construction, and the training loss curves."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

COLORS = {"prefix": "tab:blue", "causal": "tab:red"}


def plot_e4(result: dict, target) -> None:
    """E4's figure into ``target`` (a path or a binary file).

    Left: query test MSE vs depth (trained solid, the GD construction at its best eta dashed);
    right: the training loss curves (log y).
    """
    rows, loss = result["rows"], result["loss"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model in dict.fromkeys(r["model"] for r in rows):
        picked = sorted((r for r in rows if r["model"] == model), key=lambda r: r["depth"])
        depth = [r["depth"] for r in picked]
        axes[0].plot(depth, [r["learned_test_mse"] for r in picked], color=COLORS.get(model), marker="o",
                     label=f"{model}LM, trained")
        axes[0].plot(depth, [r["gd_test_mse"] for r in picked], color=COLORS.get(model), marker="s",
                     linestyle="--", label=f"{model}LM, GD construction (best eta)")
        for L in depth:
            curve = sorted((r for r in loss if r["model"] == model and r["depth"] == L), key=lambda r: r["step"])
            alpha = 0.4 + 0.6 * L / max(depth)
            axes[1].plot([r["step"] for r in curve], np.maximum([r["loss"] for r in curve], np.finfo(float).tiny),
                         color=COLORS.get(model), alpha=alpha, label=f"{model}LM, {L} layer(s)")
    axes[0].set_xticks(sorted({r["depth"] for r in rows}))
    axes[0].set_xlabel("layers")
    axes[0].set_ylabel("query test MSE")
    axes[0].set_title("E4: trained vs the GD construction")
    axes[1].set_xlabel("training step")
    axes[1].set_ylabel("training loss (query MSE)")
    axes[1].set_title("E4: training")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(target, dpi=120, format="png")
    plt.close(fig)


def plot_loss(losses, target, title: str = "") -> None:
    """The training loss of every step (log y) into ``target`` (a path or a binary file)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(len(losses)), np.maximum(np.asarray(losses, dtype=float), np.finfo(float).tiny), lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (query MSE)")
    ax.set_title(f"icl-verify train: {title}" if title else "icl-verify train")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=120, format="png")
    plt.close(fig)
