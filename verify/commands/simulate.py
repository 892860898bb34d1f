"""Run the literal LSA stack on a prompt and compare it with its weight-space algorithm.

The prediction for a query is minus the last coordinate of its token; example
residuals are the last coordinate of each example token (SPEC section 2).  The
algorithm is gradient descent for prefix attention (SPEC P1) and the per-position
dynamics for every other mask (SPEC P2, section 6).
"""
from __future__ import annotations

import numpy as np

from .. import construction, lsa  # the model, looked up at call time: a replaced name is what runs
from ..algorithms import gradient_descent, online_dynamics
from ..construction import eta_schedule
from ..errors import PromptError
from ..frame import Frame, frame_of, scale_eta, scaled, to_frame, unscale
from ..limits import MAX_LAYERS, check_array, check_layers
from ..prompt import split_tokens, tokens
from ..rates import rate_of, spectrum_in_frame
from ..threads import blas_threads
from .common import add_model_options, check_eta, load_model, squeeze


def register(parser) -> None:
    add_model_options(parser, eta="required unless --eta-schedule is given")
    parser.add_argument("--layers", type=int, metavar="L",
                        help="optional: number of layers L >= 0 (default: the schedule's length, else 10)")
    parser.add_argument("--eta-schedule", metavar="E1,E2,...",
                        help="optional: one step size per layer, instead of --eta (its length must equal --layers)")
    parser.set_defaults(run=run)


def parse_schedule(text: str | None) -> list | None:
    """``"0.1,0.05"`` as ``[0.1, 0.05]``; bounded in length before it is split (``verify.limits``)."""
    if text is None:
        return None
    from ..matrix_text import guard_text  # it imports sympy: only when a schedule is given

    guard_text(text, "eta-schedule", max_depth=0)
    parts = text.split(",")
    if len(parts) > MAX_LAYERS:
        raise PromptError(f"eta-schedule: {len(parts):,} step sizes is above the limit of {MAX_LAYERS:,} layers")
    try:
        return [float(part) for part in parts]
    except ValueError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise PromptError(f"eta-schedule: {shown!r} is not a comma-separated list of numbers, e.g. 0.1,0.05") from None


def check_schedule_options(eta, schedule, layers) -> None:
    """Refuse ``--eta`` and ``--eta-schedule`` that disagree, and a schedule whose length is not ``--layers``."""
    if schedule is None:
        return
    if layers is not None and len(schedule) != layers:
        raise PromptError(f"eta-schedule: has {len(schedule)} step sizes but --layers is {layers}; give one per layer")
    if eta is not None and any(e != eta for e in schedule):
        raise PromptError(f"eta: --eta {eta:g} and --eta-schedule give different step sizes; give one of them")


#: target tokens per chunk of the literal forward (scores are ``(n + m) x FORWARD_CHUNK``)
FORWARD_CHUNK = 1024
#: ``--layers`` is refused up front beyond this many multiply-adds of the literal stack ...
MAX_WORK = 5e11
#: ... or beyond this many floats of stored token states (every layer is reported)
MAX_STATE_FLOATS = 2e8


def check_work(layers: int, n: int, m: int, d: int, k: int) -> None:
    """Refuse a depth whose literal stack cannot finish in time or memory, naming the limit."""
    tokens = n + m
    per_layer = 2.0 * tokens * min(tokens, n) * (d + k)
    if layers * per_layer > MAX_WORK:
        raise PromptError(f"layers: {layers} layers of the literal stack on {tokens} tokens exceed the work limit "
                          f"({MAX_WORK:.0e} multiply-adds: at most {int(MAX_WORK // per_layer)} layers here); "
                          "give a smaller --layers")
    if (layers + 1) * tokens * (d + k) * 2 > MAX_STATE_FLOATS:
        limit = int(MAX_STATE_FLOATS // (tokens * (d + k) * 2)) - 1
        raise PromptError(f"layers: {layers} layers of {tokens} tokens exceed the memory limit for the reported "
                          f"states ({MAX_STATE_FLOATS:.0e} floats: at most {limit} layers here); "
                          "give a smaller --layers")


def simulate(model, etas) -> dict:
    """LSA stack and weight-space algorithm, layer by layer; returns the JSON result.

    Runs in the power-of-two frame of the prompt (``verify.frame``): tokens
    ``[x_f; y_f]``, step sizes ``2^lam eta``; residuals, predictions and gaps map back
    by ``2^e_y`` exactly, so the answer is covariant under rescaling X and y.
    """
    p = model.prompt
    frame = frame_of(p.X, p.Y, model.c, model.gamma)
    X, Y, c, gamma, W0, Xq = to_frame(frame, p.X, p.Y, model.c, model.gamma, model.W0, p.Xq)
    etas_f = [scale_eta(eta, frame) for eta in etas]
    Z0 = tokens(X, Y, Xq, W0)
    constructions = [construction.paper(eta, p.d, p.k, gamma) for eta in etas_f]
    with np.errstate(all="ignore"):  # also for the map back below: a diverging stack overflows
        states = np.stack(lsa.lsa_forward(Z0, constructions, model.mask, c, FORWARD_CHUNK))
        residuals, predictions = split_tokens(states, p.n, p.d)  # (L+1, n, k), (L+1, m, k)
        if model.is_prefix:
            weights = np.stack(gradient_descent(X, Y, etas_f, c[0], W0, gamma))
            algorithm = np.einsum("md,lkd->lmk", Xq, weights)
        else:
            weights = online_dynamics(X, Y, model.mask, c, etas_f, W0, gamma)
            algorithm = np.einsum("md,lmkd->lmk", Xq, weights[:, p.n:])
        gap = np.abs(predictions - algorithm)
    lam, e = spectrum_in_frame(p.X, model.mask, model.c, model.gamma)
    rates = [rate_of(lam, scale_eta(eta, Frame(c=-e))) for eta in etas]
    # a diverging stack overflows: its values are a result, written as null (README), not an error
    back = lambda a, what: unscale(a, frame.y, what, allow_inf=True, overflow_is_inf=True)  # noqa: E731
    result = {
        "attention": model.attention,
        "layers": len(etas),
        "query_predictions": squeeze(back(predictions, "query_predictions"), p),
        "example_residuals": squeeze(back(residuals, "example_residuals"), p),
        "algorithm_query_predictions": squeeze(back(algorithm, "algorithm_query_predictions"), p),
        # an error measure far below the data may underflow without loss: no refusal for it
        "max_abs_gap": float(np.ldexp(np.max(gap), frame.y)) if gap.size else 0.0,
        "stable": bool(all(r < 1 for r in rates)),
        "rate": max(rates) if rates else 0.0,
        "finite": True,
    }
    result["finite"] = bool(np.all(np.isfinite(states)) and all(
        np.all(np.isfinite(np.asarray(result[key], dtype=float)))
        for key in ("query_predictions", "example_residuals", "algorithm_query_predictions")))
    if p.yq is not None:
        with np.errstate(all="ignore"):
            err = predictions - scaled(p.yq, frame.y).reshape(p.m, p.k)[None]
            mse = np.mean(err**2, axis=(1, 2)) if p.m else np.zeros(len(etas) + 1)
            result["query_mse"] = np.ldexp(mse, 2 * frame.y)  # an error measure: may underflow without loss
    return result


def run(args):
    if args.layers is not None:
        check_layers("layers", args.layers)
    schedule = parse_schedule(args.eta_schedule)
    check_schedule_options(args.eta, schedule, args.layers)
    if schedule is None:
        check_eta(args.eta)
        layers = 10 if args.layers is None else args.layers
    else:
        layers = len(schedule) if args.layers is None else args.layers
    model = load_model(args)
    p = model.prompt
    # every layer's tokens, and every layer's per-token weights of the weight-space algorithm
    check_array("layers", (layers + 1, p.n + p.m, p.d + p.k), what="the states of the stack")
    check_array("layers", (layers + 1, p.n + p.m, p.k, p.d), what="the weights of every layer")
    check_work(layers, p.n, p.m, p.d, p.k)
    etas = eta_schedule(args.eta, schedule, layers)
    with blas_threads(p.n + p.m):
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
