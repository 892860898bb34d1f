"""E4: trained LSA stacks against the theory (issue 15; needs the ``[train]`` extra).

Prefix and causal stacks of 1, 2 and 4 layers are trained (``verify.train``) on
``d = 4``, ``n = 20`` examples, ``m = 8`` queries, ``x ~ N(0, I)``, ``w ~ N(0, I)``,
noiseless, constant normalizer ``c = n``.  For each stack, on 1000 fresh test prompts
(numpy, float64, the same ``verify.lsa`` layer):

- ``learned_test_mse``: its query MSE; ``gd_test_mse``: the paper's construction
  with the same mask and depth at its best ``eta`` (chosen on 256 separate validation prompts
  from a geometric grid);
- ``mask_swap_gap``: relative difference (:func:`verify.fit.relative_gap`) between its
  predictions and those of the same weights under the other mask.  At one layer the
  queries read unchanged example tokens, so the two masks give the same predictions
  (and, trained from the same start on the same prompts, the same weights);
- per layer, ``derive --fit`` (:func:`verify.fit.fit_layer`): member, relative distance
  and ``Gamma``, with ``gamma_scale`` ``alpha`` and ``gamma_alignment``
  ``||Gamma - alpha S^-1||_F / ||Gamma||_F`` for the best multiple ``alpha S^-1`` of the
  inverse input second moment ``S = E[x x^T]`` (the covariance here).
"""
from __future__ import annotations

import csv
import io
import os
import time

import numpy as np

from .. import (  # the model, looked up at call time
    construction,
    fit,  # fit.fit_stack looked up at call time (a replaced name is what runs)
    lsa,
    masks,
    normalizers,
)
from ..fit import Setting, relative_gap, stack_gap, stack_predictions
from ..output import replace_file
from ..prompt import split_tokens
from ..regression import TaskDistribution, token_batch

E4_COLUMNS = ("model", "depth", "learned_test_mse", "gd_test_mse", "gd_best_eta", "initial_loss", "final_loss",
              "mask_swap_gap", "stack_gap", "max_relative_distance", "seconds")
E4_LAYER_COLUMNS = ("model", "depth", "layer", "member", "relative_distance", "gamma_scale", "gamma_alignment",
                    "f_share", "gamma")
E4_LOSS_COLUMNS = ("model", "depth", "step", "loss")
FILES = ("e4_trained.csv", "e4_layers.csv", "e4_loss.csv", "e4_trained.png")
MODELS = ("prefix", "causal")
DEPTHS = (1, 2, 4)
#: GD construction step sizes searched (c = n makes X X^T / c of order one, so the best eta is of order one)
ETA_GRID = np.geomspace(0.01, 10.0, 41)
#: prompts on which the GD construction's eta is chosen (the test set is separate)
VALIDATION_PROMPTS = 256
#: the loss curve is stored as means over windows of this many steps
LOSS_WINDOW = 20


def distribution(d: int = 4, n: int = 20, m: int = 8) -> TaskDistribution:
    """E4's prompt distribution."""
    return TaskDistribution(d=d, n=n, m=m)


def query_mse(predictions: np.ndarray, Yq: np.ndarray) -> float:
    """``mean (yhat - y)^2`` over prompts and queries; inf when a prediction overflowed."""
    with np.errstate(over="ignore", invalid="ignore"):
        mse = float(np.mean((predictions - Yq) ** 2))
    return mse if np.isfinite(mse) else float("inf")


def gd_mse(Z0, Yq, n: int, d: int, mask, c, depth: int, eta: float) -> float:
    """Query MSE of the paper's construction (``depth`` layers, step ``eta``) on tokens ``Z0``."""
    with np.errstate(over="ignore", invalid="ignore"):
        final = lsa.lsa_forward(Z0, [construction.paper(eta, d)] * depth, mask, c)[-1]
    return query_mse(split_tokens(final, n, d)[1], Yq)


def best_gd(validation: tuple, test: tuple, n: int, d: int, mask, c, depth: int, grid=ETA_GRID) -> tuple:
    """``(eta, test MSE)`` of the construction at the ``eta`` of ``grid`` best on the validation prompts.

    ``validation`` and ``test`` are ``(Z0, Yq)`` pairs.
    """
    scores = [gd_mse(validation[0], validation[1], n, d, mask, c, depth, eta) for eta in grid]
    eta = float(grid[int(np.argmin(scores))])
    return eta, gd_mse(test[0], test[1], n, d, mask, c, depth, eta)


def gamma_alignment(gamma: np.ndarray, second_moment: np.ndarray) -> tuple:
    """``(alpha, ||Gamma - alpha S^-1||_F / ||Gamma||_F)`` with ``alpha`` the least-squares multiple."""
    target = np.linalg.inv(second_moment)
    alpha = float(np.sum(gamma * target) / np.sum(target * target))
    norm = float(np.linalg.norm(gamma))
    return alpha, (float(np.linalg.norm(gamma - alpha * target)) / norm if norm else 0.0)


def f_share(pv: np.ndarray, d: int) -> float:
    """``||F||_F / ||P V||_F``: how much of ``P V`` moves the x part of the tokens (a block P10 excludes)."""
    norm = float(np.linalg.norm(pv))
    return float(np.linalg.norm(pv[:d, :d])) / norm if norm else 0.0


def _windows(losses: np.ndarray, window: int = LOSS_WINDOW):
    steps = np.arange(0, len(losses), window)
    return [(int(s), float(np.mean(losses[s:s + window]))) for s in steps]


def e4_trained(seed: int = 0, steps: int = 2000, models=MODELS, depths=DEPTHS, dist: TaskDistribution | None = None,
               test_prompts: int = 1000, show: bool = False) -> dict:
    """Train every ``(model, depth)`` and compare it with the theory.

    Returns ``{"rows": [...E4_COLUMNS], "layers": [...E4_LAYER_COLUMNS], "loss": [...E4_LOSS_COLUMNS]}``.
    """
    from ..divergence import Diverged
    from ..errors import PromptError
    from ..train import TrainConfig, train

    dist = dist or distribution()
    n, d = dist.n, dist.d
    validation = dist.sample(np.random.default_rng([seed, 4, 1]), VALIDATION_PROMPTS)
    test = dist.sample(np.random.default_rng([seed, 4, 2]), test_prompts)
    tokens_of = lambda sample: (token_batch(*sample[:3]), sample[3])  # noqa: E731
    validation, test = tokens_of(validation), tokens_of(test)
    mask_of = {model: masks.attention_mask(model, n, dist.m) for model in models}
    c = {model: normalizers.normalizer("constant", mask_of[model], n) for model in models}
    out: dict = {"rows": [], "layers": [], "loss": []}
    for depth in depths:
        for model in models:
            start = time.perf_counter()
            config = TrainConfig(distribution=dist, attention=model, layers=depth, steps=steps, seed=seed)
            try:
                result = train(config, show=show)
            except Diverged as exc:  # E4's lr is fixed: no --lr to name
                raise PromptError(f"seed: E4's {depth}-layer {model}LM stack of seed {seed} did not train: "
                                  f"{exc.what}, at E4's lr {config.lr:g}; nothing written: give another --seed or "
                                  f"fewer --train-steps") from None
            seconds = time.perf_counter() - start
            learned = stack_predictions(result.KQ, result.PV, test[0], n, d, mask_of[model], c[model])
            other = next((o for o in ("causal", "prefix") if o != model), model)
            other_mask = masks.attention_mask(other, n, dist.m)
            swapped = stack_predictions(result.KQ, result.PV, test[0], n, d, other_mask,
                                        normalizers.normalizer("constant", other_mask, n))
            eta, gd_test = best_gd(validation, test, n, d, mask_of[model], c[model], depth)
            fits = fit.fit_stack(result.KQ, result.PV, dist.k)
            gap = stack_gap(result.KQ, result.PV, fits, Setting(dist, model), prompts=256, seed=seed)
            out["rows"].append({
                "model": model, "depth": depth, "learned_test_mse": query_mse(learned, test[1]),
                "gd_test_mse": gd_test, "gd_best_eta": eta,
                "initial_loss": float(np.mean(result.losses[:LOSS_WINDOW])),
                "final_loss": float(np.mean(result.losses[-LOSS_WINDOW:])),
                "mask_swap_gap": relative_gap(learned, swapped), "stack_gap": gap,
                "max_relative_distance": max(f.relative_distance for f in fits), "seconds": seconds,
            })
            for layer, layer_fit in enumerate(fits, start=1):
                alpha, alignment = gamma_alignment(layer_fit.gamma, dist.second_moment())
                out["layers"].append({"model": model, "depth": depth, "layer": layer, "member": layer_fit.member,
                                      "relative_distance": layer_fit.relative_distance, "gamma_scale": alpha,
                                      "gamma_alignment": alignment, "f_share": f_share(result.PV[layer - 1], d),
                                      "gamma": layer_fit.gamma.tolist()})
            out["loss"] += [{"model": model, "depth": depth, "step": s, "loss": value}
                            for s, value in _windows(result.losses)]
    return out


# ----------------------------------------------------------------------------- files

def _write_csv(rows, columns, path) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(row[key]) if isinstance(row[key], float) else row[key] for key in columns})
    replace_file(path, lambda fh: fh.write(text.getvalue().encode()))


def write_e4(result: dict, out) -> list:
    """Write ``FILES`` into the directory ``out``; return their names."""
    from ..plots_e4 import plot_e4

    path = lambda name: os.path.join(out, name)  # noqa: E731
    _write_csv(result["rows"], E4_COLUMNS, path("e4_trained.csv"))
    _write_csv(result["layers"], E4_LAYER_COLUMNS, path("e4_layers.csv"))
    _write_csv(result["loss"], E4_LOSS_COLUMNS, path("e4_loss.csv"))
    replace_file(path("e4_trained.png"), lambda fh: plot_e4(result, fh))
    return list(FILES)


def read_e4(out) -> dict:
    """Read the three CSVs back (numbers restored; ``gamma`` as nested lists)."""
    import ast

    def rows(name, text_columns):
        with open(os.path.join(out, name), newline="") as fh:
            found = list(csv.DictReader(fh))
        for row in found:
            for key, value in row.items():
                if key in text_columns:
                    continue
                row[key] = ast.literal_eval(value) if key == "gamma" else (
                    int(value) if key in ("depth", "layer", "step") else float(value))
        return found

    return {"rows": rows("e4_trained.csv", ("model",)), "layers": rows("e4_layers.csv", ("model", "member")),
            "loss": rows("e4_loss.csv", ("model",))}


# ----------------------------------------------------------------------------- shape and reading

#: a learned one-layer stack is "near the family" within derive --fit's default tolerance
NEAR_FAMILY = 0.05
#: "Gamma close to a multiple of the inverse input second moment": relative residual at most this
ALIGNED = 0.1
#: "the same predictions": relative difference at rounding level
SAME = 1e-9


def _pick(rows, key, **where):
    found = [r[key] for r in rows if all(r[k] == v for k, v in where.items())]
    return found[0] if found else float("nan")


def e4_shape(result: dict) -> dict:
    """The expected shape (issue 15) as predicates on E4's rows."""
    rows, layers = result["rows"], result["layers"]
    mse = lambda model, depth: _pick(rows, "learned_test_mse", model=model, depth=depth)  # noqa: E731
    depths = sorted({r["depth"] for r in rows})
    one = [r for r in layers if r["depth"] == 1]
    checks = {f"prefix test MSE below causal's at depth {L}": bool(mse("prefix", L) < mse("causal", L))
              for L in depths if L >= 2}
    if 1 in depths:
        checks["at one layer the masks give the same predictions"] = bool(
            all(r["mask_swap_gap"] <= SAME for r in rows if r["depth"] == 1)
            and abs(mse("prefix", 1) - mse("causal", 1)) <= SAME * max(mse("prefix", 1), 1e-300))
        checks["one-layer learned stacks are near the family"] = bool(
            one and all(r["relative_distance"] <= NEAR_FAMILY for r in one))
        checks["one-layer Gamma is close to a multiple of the inverse input covariance"] = bool(
            one and all(r["gamma_alignment"] <= ALIGNED for r in one))
    return checks


def e4_lines(result: dict) -> list:
    """Markdown lines of E4 for ``report.md``, every number read from ``result`` (the CSVs)."""
    rows, layers = result["rows"], result["layers"]
    lines = ["## E4: trained stacks against the theory", "", "![E4](e4_trained.png)", "",
             "| model | depth | learned test MSE | GD test MSE (best eta) | best eta | mask-swap gap | "
             "stack gap | max distance to family |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['depth']} | {r['learned_test_mse']:.4g} | {r['gd_test_mse']:.4g} | "
                     f"{r['gd_best_eta']:.3g} | {r['mask_swap_gap']:.2g} | {r['stack_gap']:.3g} | "
                     f"{r['max_relative_distance']:.3g} |")
    lines += ["", "Per layer (`derive --fit`): nearest member, relative distance, and Gamma against the best multiple "
              "alpha S^-1 of the inverse input second moment S = E[x x^T]:", ""]
    for r in layers:
        lines.append(f"- {r['model']}, depth {r['depth']}, layer {r['layer']}: {r['member']}, distance "
                     f"{r['relative_distance']:.3g}, alpha = {r['gamma_scale']:.3g}, "
                     f"||Gamma - alpha S^-1|| / ||Gamma|| = {r['gamma_alignment']:.3g}, "
                     f"||F|| / ||P V|| = {r['f_share']:.2g}")
    one = [r for r in rows if r["depth"] == 1]
    if len(one) == 2:
        lines += ["", f"At one layer the queries read unchanged example tokens, so the masks cannot differ: the "
                      f"prefix- and causal-trained stacks have test MSE {one[0]['learned_test_mse']:.6g} and "
                      f"{one[1]['learned_test_mse']:.6g}, and running either under the other mask changes its "
                      f"predictions by at most {max(r['mask_swap_gap'] for r in one):.2g} (relative)."]
    lines += ["Deeper learned stacks need not stay in the family: a distance well above 0.05 means the layer also "
              "uses blocks that P10 excludes, so it is not plain preconditioned GD; a large ||F|| / ||P V|| says the "
              "layer also moves the x part of the tokens (as in von Oswald et al.'s GD++), and the stack gap measures "
              "what projecting every layer onto the family costs.",
              "", "Expected shape (issue 15):",
              *[f"- {'yes' if holds else '**NO**'}: {claim}" for claim, holds in e4_shape(result).items()]]
    return lines


def e4_skipped_lines(extra_missing: bool = True) -> list:
    """What ``report.md`` says when E4 did not run: the ``[train]`` extra is missing, or ``--skip-train``."""
    why = ("the [train] extra (JAX and optax) is not installed; `pip install 'icl-verify[train]'` and rerun "
           "`icl-verify report`" if extra_missing else "`--skip-train` was given; rerun `icl-verify report` without it")
    return ["## E4: trained stacks against the theory", "",
            f"Skipped: {why} to train prefix and causal stacks and fit their layers."]
