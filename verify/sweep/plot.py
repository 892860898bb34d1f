"""Look at a sweep: its table with derived columns, line plots and heatmaps, and the report's section.

Derived columns (added by :func:`frame` when the dataset has what they need):

- ``ls_mse``: the query MSE of least squares on the cell's prompt, i.e. ``stationary.query_mse`` of the
  cell with ``attention = prefix`` and every other axis equal (the prefix stationary point is the
  minimum-norm least-squares weight, SPEC P3);
- ``causal_gap = stationary.query_mse - ls_mse`` on the ``attention = causal`` cells: how much worse
  causalLM's stationary point predicts the queries than least squares on the same prompt (SPEC P6, P7);
- ``causal_ratio = stationary.query_mse / ls_mse`` on the same cells (null where ``ls_mse`` is 0).

They need an ``attention`` axis holding ``prefix`` and ``causal`` and ``stationary`` among the measured
commands.  Plots show the median (or ``stat="mean"``) of ``y`` over every axis that is not ``x`` or ``hue``
(seeds, for instance) and leave failed cells out; the median because errors are heavy-tailed (at ``d = 1``
the causal weight is ``y_n / x_n``, which explodes when an input is near 0).
"""
from __future__ import annotations

from ..errors import PromptError
from ..output import atomic_path
from . import store
from .cell import META_COLUMNS

#: derived column -> what it needs, for the error message when it cannot be formed
DERIVED = {
    "ls_mse": "an attention axis with prefix and the stationary command measured",
    "causal_gap": "an attention axis with prefix and causal and the stationary command measured",
    "causal_ratio": "an attention axis with prefix and causal and the stationary command measured",
}
QUERY_MSE = "stationary.query_mse"


def axes_of(df) -> list[str]:
    """The grid's axes among the columns: neither a ``COMMAND.KEY`` column, a derived one nor a meta column."""
    return [c for c in df.columns if "." not in c and c not in META_COLUMNS and c not in DERIVED]


def add_derived(df):
    """``df`` with ``ls_mse``, ``causal_gap`` and ``causal_ratio`` when they can be formed (module docstring)."""
    import numpy as np

    if "attention" not in df.columns or QUERY_MSE not in df.columns or not (df["attention"] == "prefix").any():
        return df
    others = [a for a in axes_of(df) if a != "attention"]
    prefix = df.loc[(df["attention"] == "prefix") & df["error"].isna(), others + [QUERY_MSE]]
    prefix = prefix.rename(columns={QUERY_MSE: "ls_mse"})
    df = df.merge(prefix, on=others, how="left") if others else df.merge(prefix, how="cross")
    causal = (df["attention"] == "causal").to_numpy()
    mse, ls = df[QUERY_MSE].to_numpy(dtype=float), df["ls_mse"].to_numpy(dtype=float)
    df["causal_gap"] = np.where(causal, mse - ls, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["causal_ratio"] = np.where(causal & (ls > 0), mse / np.where(ls > 0, ls, 1.0), np.nan)
    return df


def frame(out: str):
    """The dataset ``out`` as a pandas DataFrame with the derived columns."""
    return add_derived(store.load(out).to_pandas())


def _column(df, field: str, name: str | None) -> None:
    if name is None or name in df.columns:
        return
    if name in DERIVED:
        raise PromptError(f"{field}: {name} needs {DERIVED[name]}; this sweep does not have it")
    shown = ", ".join(c for c in df.columns if c not in ("cell", "version"))
    raise PromptError(f"{field}: no column {name!r} in the sweep; use one of {shown}")


def summarise(df, x: str, y: str, hue: str | None, stat: str = "median"):
    """``stat`` (median or mean) of ``y`` per ``(hue, x)`` over the other axes, failed cells and missing values
    left out."""
    _column(df, "x", x)
    _column(df, "y", y)
    _column(df, "hue", hue)
    keys = [k for k in (hue, x) if k is not None]
    data = df[df[y].notna()]
    if data.empty:
        raise PromptError(f"y: the sweep has no values of {y} (every cell failed or lacks it)")
    return data.groupby(keys, sort=True)[y].agg(stat).reset_index()


def plot(df, x: str, y: str, hue: str | None, kind: str, path: str, stat: str = "median") -> str:
    """Write a line plot (one line per ``hue`` value) or a heatmap (rows ``hue``, columns ``x``) of ``stat`` of ``y``
    over the other axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarise(df, x, y, hue, stat)
    # a derived column lives on the causal cells only: attention is not averaged over
    averaged = [a for a in axes_of(df) if a not in (x, hue) and not (y in DERIVED and a == "attention")]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if kind == "heatmap":
        if hue is None:
            raise PromptError("hue: a heatmap needs --hue for its rows (--x gives its columns)")
        grid = table.pivot(index=hue, columns=x, values=y)
        image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [str(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [str(v) for v in grid.index])
        ax.set_ylabel(hue)
        fig.colorbar(image, ax=ax, label=y)
    else:
        groups = table.groupby(hue, sort=True) if hue else [(None, table)]
        for value, part in groups:
            ax.plot(part[x], part[y], marker="o", label=None if hue is None else f"{hue} = {value}")
        ax.set_ylabel(y)
        if hue is not None:
            ax.legend()
        ax.grid(True, alpha=0.3)
    ax.set_xlabel(x)
    ax.set_title(f"{stat} of {y}" + (f" over {', '.join(averaged)}" if averaged else ""), fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def report_lines(out: str) -> list[str]:
    """The ``## Sweep`` section of ``report.md`` for the dataset ``out``."""
    df = frame(out)
    failed = df[df["error"].notna()]
    versions = ", ".join(sorted(str(v) for v in df["version"].dropna().unique()))
    lines = ["## Sweep", "",
             f"`{out}`: {len(df)} cells over the axes {', '.join(axes_of(df)) or '(none)'}, {len(failed)} failed, "
             f"{df['seconds'].sum():.1f} s of computation (icl-verify {versions}).", ""]
    for error, count in failed["error"].value_counts().head(5).items():
        lines.append(f"- {count} cell(s) failed: {error}")
    if "causal_gap" not in df.columns:
        return lines + ["", "No `causal_gap` here: it needs " + DERIVED["causal_gap"] + "."]
    causal = df[df["causal_gap"].notna()]
    keys = [a for a in ("d", "n", "mu_x", "sigma_x", "noise") if a in axes_of(df) and causal[a].nunique() > 1]
    lines += ["", "`causal_gap` is causalLM's stationary query MSE minus least squares' on the same prompt "
              "(the prefix cell), over the other axes (seeds):", ""]
    if not keys:
        gap = causal["causal_gap"]
        return lines + [f"causal_gap: median {gap.median():.4g}, mean {gap.mean():.4g} over {len(causal)} cells"]
    table = causal.groupby(keys)["causal_gap"].agg(["median", "mean", "count"]).reset_index()
    lines += ["| " + " | ".join(keys) + " | median causal_gap | mean | cells |", "|" + "---|" * (len(keys) + 3)]
    for row in table.itertuples(index=False):
        values = [str(v) for v in row[: len(keys)]]
        lines.append("| " + " | ".join(values) + f" | {row[-3]:.4g} | {row[-2]:.4g} | {row[-1]} |")
    return lines
