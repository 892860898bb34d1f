"""Run the literal LSA stack on a prompt and compare it with its weight-space algorithm.

The prediction for a query is minus the last coordinate of its token; example
residuals are the last coordinate of each example token (SPEC section 2).  The
algorithm is gradient descent for prefix attention (SPEC P1) and the per-position
dynamics for every other mask (SPEC P2, section 6).
"""
from __future__ import annotations

import numpy as np

from ..algorithms import gradient_descent, online_dynamics
from ..construction import eta_schedule, paper
from ..errors import PromptError
from ..lsa import lsa_forward
from ..prompt import split_tokens, tokens
from ..rates import rate_of, spectrum
from .common import add_model_options, check_eta, load_model, squeeze


def register(parser) -> None:
    add_model_options(parser)
    parser.add_argument("--layers", type=int, metavar="L",
                        help="number of layers L >= 0 (default: the schedule's length, else 10)")
    parser.add_argument("--eta-schedule", metavar="E1,E2,...", help="one step size per layer, overrides --eta")
    parser.set_defaults(run=run)


def parse_schedule(text: str | None) -> list | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise PromptError(f"eta-schedule: {text!r} is not a comma-separated list of numbers, e.g. 0.1,0.05") from None


def simulate(model, etas) -> dict:
    """LSA stack and weight-space algorithm, layer by layer; returns the JSON result."""
    p = model.prompt
    Z0 = tokens(p.X, p.Y, p.Xq, model.W0)
    constructions = [paper(eta, p.d, p.k, model.gamma) for eta in etas]
    with np.errstate(all="ignore"):
        states = np.stack(lsa_forward(Z0, constructions, model.mask, model.c))
        residuals, predictions = split_tokens(states, p.n, p.d)  # (L+1, n, k), (L+1, m, k)
        if model.is_prefix:
            weights = np.stack(gradient_descent(p.X, p.Y, etas, model.c[0], model.W0, model.gamma))
            algorithm = np.einsum("md,lkd->lmk", p.Xq, weights)
        else:
            weights = online_dynamics(p.X, p.Y, model.mask, model.c, etas, model.W0, model.gamma)
            algorithm = np.einsum("md,lmkd->lmk", p.Xq, weights[:, p.n:])
        gap = np.abs(predictions - algorithm)
    lam = spectrum(p.X, model.mask, model.c, model.gamma)
    rates = [rate_of(lam, eta) for eta in etas]
    result = {
        "attention": model.attention,
        "layers": len(etas),
        "query_predictions": squeeze(predictions, p),
        "example_residuals": squeeze(residuals, p),
        "algorithm_query_predictions": squeeze(algorithm, p),
        "max_abs_gap": float(np.max(gap)) if gap.size else 0.0,
        "stable": bool(all(r < 1 for r in rates)),
        "rate": max(rates) if rates else 0.0,
        "finite": bool(np.all(np.isfinite(states))),
    }
    if p.yq is not None:
        with np.errstate(all="ignore"):
            err = predictions - p.yq.reshape(p.m, p.k)[None]
            result["query_mse"] = np.mean(err**2, axis=(1, 2)) if p.m else np.zeros(len(etas) + 1)
    return result


def run(args):
    if args.layers is not None and args.layers < 0:
        raise PromptError(f"layers: must be >= 0, got {args.layers}")
    schedule = parse_schedule(args.eta_schedule)
    if schedule is None:
        check_eta(args.eta)
        layers = 10 if args.layers is None else args.layers
    else:
        layers = len(schedule) if args.layers is None else args.layers
    model = load_model(args)
    etas = eta_schedule(args.eta, schedule, layers)
    result = simulate(model, etas)
    return result, summary(result), True


def summary(result: dict) -> str:
    L = result["layers"]
    last = np.asarray(result["query_predictions"][-1])
    lines = [
        f"{result['attention']} LSA stack, {L} layers: max |LSA - algorithm| = {result['max_abs_gap']:.3g}",
        f"query predictions after layer {L}: {np.array2string(last, precision=6, threshold=8)}",
    ]
    if "query_mse" in result:
        lines.append(f"query MSE: layer 0 {result['query_mse'][0]:.4g} -> layer {L} {result['query_mse'][-1]:.4g}")
    if not result["stable"]:
        lines.append(f"eta is UNSTABLE for this prompt (rate {result['rate']:.4g} >= 1): the stack diverges"
                     + ("" if result["finite"] else " and overflowed to inf/NaN (reported as null in JSON)"))
    return "\n".join(lines)
