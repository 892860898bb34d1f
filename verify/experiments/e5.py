"""E5: trained softmax transformers, prefixLM against causalLM, on the three tasks of the paper's section 5.2.

Issue 22; needs the ``[train]`` extra.  For each task (linear, non-linear regression,
classification) and each mask, transformers (:mod:`verify.transformer`) are trained from
``SEEDS`` seeds at the sizes ``SIZES`` (the CPU preset made smaller so that ``report``
stays a few minutes: 2 layers, 2 heads, width 32, ``d = 4``, 16 exemplars of which the
last 8 positions are evaluated, ``steps`` Adam steps at lr 1e-3) and evaluated on fresh
tasks at every position (:func:`verify.transformer_train.evaluate`).  The rows hold,
per task, model, seed and number of in-context examples ``n``, the test error (query MSE,
or accuracy for classification) and the references (zero predictor, least squares).
"""
from __future__ import annotations

import csv
import io
import os

import numpy as np

from ..output import replace_file

E5_COLUMNS = ("task", "model", "seed", "n", "metric", "value", "zero_mse", "least_squares_mse", "seconds")
FILES = ("e5_transformer.csv", "e5_transformer.png")
TASKS = ("linear", "nonlinear", "classification")
MODELS = ("prefix", "causal")
SEEDS = 3
#: E5's sizes (verify.transformer.TransformerConfig fields); `steps` comes from `--transformer-steps`
SIZES = dict(layers=2, heads=2, width=32, d=4, exemplars=16, evaluated=8, queries=4, classes=3, batch=64, lr=1e-3,
             warmup=50, test_tasks=256, checkpoint_every=10**9)
#: default Adam steps per E5 model
STEPS = 400


def e5_transformer(seed: int = 0, steps: int = STEPS, tasks=TASKS, models=MODELS, seeds: int = SEEDS,
                   show: bool = False, sizes: dict | None = None) -> list:
    """Train and evaluate every ``(task, model, seed)``; the rows of ``e5_transformer.csv``.

    A model whose training loss stops being finite is refused in one line (PromptError naming ``--seed``): no
    row of E5 is a NaN presented as a result.
    """
    import time

    from ..divergence import Diverged
    from ..errors import PromptError
    from ..transformer import TransformerConfig
    from ..transformer_train import evaluate, train

    rows = []
    for task in tasks:
        for model in models:
            for offset in range(seeds):
                config = TransformerConfig(task=task, attention=model, seed=seed + offset, steps=steps,
                                           **(sizes or SIZES))
                start = time.perf_counter()
                try:
                    metrics = evaluate(config, train(config, show=show).params)
                except Diverged as exc:  # E5's lr is fixed: no NaN row, and no --lr to name
                    raise PromptError(f"seed: E5's {task} {model}LM transformer of seed {config.seed} did not train: "
                                      f"{exc.what}, at E5's lr {config.lr:g}; "
                                      f"nothing written: give another --seed or fewer --transformer-steps") from None
                seconds = time.perf_counter() - start
                metric = "accuracy" if task == "classification" else "mse"
                values = metrics["test_accuracy_per_position" if metric == "accuracy" else "test_mse_per_position"]
                for index, n in enumerate(metrics["positions"]):
                    reference = {key: metrics.get(f"{key}_per_position", [float("nan")] * len(values))[index]
                                 for key in ("zero_mse", "least_squares_mse")}
                    rows.append({"task": task, "model": model, "seed": seed + offset, "n": n, "metric": metric,
                                 "value": float(values[index]), **reference, "seconds": seconds})
    return rows


def write_e5(rows: list, out) -> list:
    """Write ``FILES`` into ``out``; return their names."""
    from ..plots_e5 import plot_e5

    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(E5_COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(row[key]) if isinstance(row[key], float) else row[key] for key in E5_COLUMNS})
    replace_file(os.path.join(out, FILES[0]), lambda fh: fh.write(text.getvalue().encode()))
    replace_file(os.path.join(out, FILES[1]), lambda fh: plot_e5(rows, fh))
    return list(FILES)


def read_e5(out) -> list:
    """The rows of ``e5_transformer.csv`` (numbers restored)."""
    with open(os.path.join(out, FILES[0]), newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("seed", "n"):
            row[key] = int(row[key])
        for key in ("value", "zero_mse", "least_squares_mse", "seconds"):
            row[key] = float(row[key])
    return rows


# ----------------------------------------------------------------------------- summary and reading

def summarize(rows: list) -> list:
    """Per task and model: the error averaged over positions, its mean and spread (std, min, max) over seeds."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for model in dict.fromkeys(r["model"] for r in rows if r["task"] == task):
            picked = [r for r in rows if r["task"] == task and r["model"] == model]
            per_seed = np.array([np.mean([r["value"] for r in picked if r["seed"] == s])
                                 for s in sorted({r["seed"] for r in picked})])
            out.append({"task": task, "model": model, "metric": picked[0]["metric"], "seeds": len(per_seed),
                        "mean": float(per_seed.mean()), "std": float(per_seed.std(ddof=1)) if len(per_seed) > 1
                        else 0.0, "min": float(per_seed.min()), "max": float(per_seed.max()),
                        "per_seed": per_seed.tolist(),
                        "zero_mse": float(np.mean([r["zero_mse"] for r in picked])),
                        "least_squares_mse": float(np.mean([r["least_squares_mse"] for r in picked]))})
    return out


def better(metric: str, a: float, b: float) -> bool:
    """``a`` is a better score than ``b``: lower MSE, higher accuracy."""
    return a > b if metric == "accuracy" else a < b


def e5_shape(rows: list) -> dict:
    """The paper's claim per task: prefixLM's error below causalLM's (mean over seeds, and in every seed)."""
    summary = {(s["task"], s["model"]): s for s in summarize(rows)}
    checks = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        prefix, causal = summary.get((task, "prefix")), summary.get((task, "causal"))
        if prefix is None or causal is None:
            continue
        checks[f"{task}: prefixLM better than causalLM (mean over {prefix['seeds']} seeds)"] = better(
            prefix["metric"], prefix["mean"], causal["mean"])
    return checks


def e5_lines(rows: list, steps: int | None = None) -> list:
    """Markdown lines of E5 for ``report.md``, every number read from the rows."""
    summary = summarize(rows)
    by = {(s["task"], s["model"]): s for s in summary}
    sizes = SIZES
    lines = ["## E5: trained softmax transformers, prefixLM against causalLM (the paper's section 5.2)", "",
             "![E5](e5_transformer.png)", "",
             f"Flax transformers ({sizes['layers']} layers, {sizes['heads']} heads, width {sizes['width']}, "
             f"pre-LayerNorm; d = {sizes['d']}, {sizes['exemplars']} exemplars of which the last "
             f"{sizes['evaluated']} positions are evaluated, batch {sizes['batch']}, Adam lr {sizes['lr']:g}"
             + (f", {steps} steps" if steps else "") + "), much smaller than the paper's (12 layers, width 512, "
             "d = 20, 500,000 steps: `icl-verify train --model transformer --preset paper`). Error averaged over "
             "the evaluated positions; mean ± standard deviation over seeds, and the range.", "",
             "| task | metric | prefixLM | causalLM | prefix better in | zero predictor MSE | least squares MSE |",
             "|---|---|---|---|---|---|---|"]
    verdicts = []
    for task in dict.fromkeys(s["task"] for s in summary):
        p, c = by.get((task, "prefix")), by.get((task, "causal"))
        if p is None or c is None:
            continue
        wins = sum(better(p["metric"], a, b) for a, b in zip(p["per_seed"], c["per_seed"]))
        cell = lambda s: f"{s['mean']:.4g} ± {s['std']:.2g} [{s['min']:.4g}, {s['max']:.4g}]"  # noqa: E731
        regression = p["metric"] == "mse"
        zero = f"{p['zero_mse']:.4g}" if regression else "-"
        least = f"{p['least_squares_mse']:.3g}" if regression and np.isfinite(p["least_squares_mse"]) else "-"
        lines.append(f"| {task} | {'test MSE' if regression else 'test accuracy'} | {cell(p)} | {cell(c)} | "
                     f"{wins}/{len(p['per_seed'])} seeds | {zero} | {least} |")
        held = better(p["metric"], p["mean"], c["mean"])
        # a difference of means smaller than the seeds' spread is reported as such, whatever its sign
        within = abs(p["mean"] - c["mean"]) < max(p["std"], c["std"])
        verdicts.append(f"- {task}: the claim {'held' if held else '**did not hold**'} at this scale: prefixLM "
                        f"{p['mean']:.4g} against causalLM {c['mean']:.4g} ({'MSE' if regression else 'accuracy'}, "
                        f"mean over {p['seeds']} seeds; prefix better in {wins} of {len(p['per_seed'])} seeds)"
                        + ("; the difference is smaller than the spread over seeds." if within else "."))
    return lines + ["", "The paper's claim (causalLM is worse than prefixLM on every synthetic task):", "", *verdicts]


def e5_skipped_lines(extra_missing: bool = True) -> list:
    """What ``report.md`` says when E5 did not run."""
    why = ("the [train] extra (JAX, optax and Flax) is not installed; `pip install 'icl-verify[train]'` and rerun "
           "`icl-verify report`" if extra_missing else "`--skip-train` was given; rerun `icl-verify report` without it")
    return ["## E5: trained softmax transformers, prefixLM against causalLM", "",
            f"Skipped: {why} to train prefixLM and causalLM transformers on the three tasks."]
