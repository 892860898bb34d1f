"""Run the literal LSA stack on a prompt and compare it with its weight-space algorithm.

The prediction for a query is minus the last coordinate of its token; example
residuals are the last coordinate of each example token (SPEC section 2).  The
algorithm is gradient descent for prefix attention (SPEC P1) and the per-position
dynamics for every other mask (SPEC P2, section 6).  A named attention runs through the
associative form of the layer (``verify.lsa.associative_layer``, ``O(n d^2)`` per layer),
so prompts of ``10^6`` examples fit; the result carries ``n``-length arrays only up to
``FULL_EXAMPLES`` examples unless ``--full`` or ``--npz`` asks for them.
"""
from __future__ import annotations

import numpy as np

from .. import construction, limits, lsa, rates  # the model, looked up at call time: a replaced name is what runs
from ..algorithms import gradient_descent, online_dynamics
from ..construction import eta_schedule
from ..errors import PromptError
from ..frame import frame_of, scale_eta, scaled, to_frame, unscale
from ..limits import MAX_LAYERS, check_array, check_layers
from ..linear import interval_cost
from ..masks import NamedMask, named_mask
from ..output import Output, replace_file
from ..prompt import split_tokens, tokens
from ..threads import blas_threads
from .common import add_model_options, check_eta, load_model, squeeze


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


#: target tokens per chunk of the literal forward under a dense mask (scores are ``(n + m) x FORWARD_CHUNK``)
FORWARD_CHUNK = 1024
#: operations per score entry of a layer besides its products (mask, normalizer, chunks; measured ~100 ns)
SCORE_ENTRY_WORK = 200
#: operations per layer besides the scores (the Python loop and the weight-space algorithm's step; ~1 ms)
LAYER_WORK = 2e6
#: ``--layers`` is refused beyond this many floats held at once (the tokens, the weights, the stored results)
MAX_STATE_FLOATS = 2e8
#: ``example_residuals`` ((L+1) x n) is in the result up to this many examples; beyond, ``--full`` or ``--npz``
FULL_EXAMPLES = 10_000


def register(parser) -> None:
    add_model_options(parser, eta="required unless --eta-schedule is given")
    parser.add_argument("--layers", type=int, metavar="L",
                        help="optional: number of layers L >= 0 (default: the schedule's length, else 10)")
    parser.add_argument("--eta-schedule", metavar="E1,E2,...",
                        help="optional: one step size per layer, instead of --eta (its length must equal --layers)")
    parser.add_argument("--full", action="store_true",
                        help=f"optional: put example_residuals ((L+1) x n) in the result whatever n (default: only "
                             f"when n <= {FULL_EXAMPLES:,}; otherwise example_residual_rms per layer and a note)")
    parser.add_argument("--npz", metavar="OUT.npz",
                        help="optional: also write query_predictions, algorithm_query_predictions and "
                             "example_residuals as arrays to OUT.npz (checked before computing, written atomically)")
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args) -> list:
    """``--npz OUT.npz`` (``--json`` is added by the CLI)."""
    return [Output("npz", args.npz)] if getattr(args, "npz", None) else []


def check_work(layers: int, n: int, m: int, d: int, k: int, mask, is_prefix: bool, keep_residuals: bool) -> None:
    """Refuse a depth whose stack cannot finish in time or memory, naming the figure that would be exceeded.

    The estimate is the method's own: for a named attention (``mask`` a
    :class:`verify.masks.NamedMask`) the associative form (``verify.linear.interval_cost``:
    ``O(n d^2)`` per layer for the tokens and for the per-position weights); for a mask file
    (``mask`` None) the literal layer on chunks of targets (``(n + m) x n`` scores per layer).
    No layer's tokens are kept beyond the next one.  Needs only the sizes: it runs before the
    prompt's data is read.
    """
    tokens, width = n + m, d + k
    stored = (layers + 1) * (n * k if keep_residuals else 0) + 3 * (layers + 1) * m * k
    if isinstance(mask, NamedMask):
        lo, hi = mask.bounds()
        lsa_work, lsa_floats = interval_cost(lo, hi, n, width, width)
        weight_work, weight_floats = (0.0, 0.0) if is_prefix else interval_cost(lo, hi, n, k, d, with_u=False)
        per_layer = lsa_work + weight_work + 2.0 * tokens * width ** 2
        # tokens before and after a layer, the prompt and its frame, every position's weight
        held = 3.0 * tokens * width + 2.0 * n * (d + k) + (0 if is_prefix else 2.0 * tokens * k * d)
        floats = held + max(lsa_floats, weight_floats) + stored
        method = "the associative form"
    else:
        # T min(T, n) score entries, each 4 (d + k) operations of products plus SCORE_ENTRY_WORK (measured)
        per_layer = tokens * min(tokens, n) * (4.0 * width + SCORE_ENTRY_WORK)
        # tokens before and after a layer, one chunk of scores, every position's weight (twice in a layer)
        floats = 3.0 * tokens * width + tokens * FORWARD_CHUNK + 2.0 * tokens * k * d + stored
        method = "the literal stack on the mask file"
    per_layer += LAYER_WORK
    most = max(int((limits.MAX_WORK - 1) // per_layer), 0)
    limits.check_budget("layers", f"{layers:,} layers of {method} on {tokens:,} tokens", 8.0 * floats,
                        layers * per_layer, f"give --layers <= {most:,} here (or a shorter prompt)")
    if floats > MAX_STATE_FLOATS:
        raise PromptError(f"layers: {layers} layers of {method} on {tokens} tokens hold about {floats:.1e} floats "
                          f"at once, above the memory limit ({MAX_STATE_FLOATS:.0e} floats"
                          + ("; drop --full / --npz" if keep_residuals and n > FULL_EXAMPLES else "")
                          + "); give a smaller --layers or a shorter prompt")


def _rms(a: np.ndarray) -> float:
    """Root mean square without overflowing on the way (scaled by the largest entry)."""
    top = float(np.max(np.abs(a), initial=0.0))
    if top == 0 or not np.isfinite(top):
        return top
    return top * float(np.sqrt(np.mean((a / top) ** 2)))


def simulate(model, etas, keep_residuals: bool = True) -> dict:
    """LSA stack and weight-space algorithm, layer by layer; returns the JSON result.

    Runs in the power-of-two frame of the prompt (``verify.frame``): tokens
    ``[x_f; y_f]``, step sizes ``2^lam eta``; residuals, predictions and gaps map back
    by ``2^e_y`` exactly, so the answer is covariant under rescaling X and y.  Layers
    run one at a time through ``verify.lsa.lsa_layer`` (looked up when called) and only
    what is reported is kept: query predictions, and the example residuals of every
    layer when ``keep_residuals`` (their root mean square per layer always).
    """
    p = model.prompt
    # the rate first: what the structure cannot give is refused before the stack runs
    verdict = rates.schedule_verdict(p.X, model.mask, model.c, etas, model.gamma, attention=model.attention)
    frame = frame_of(p.X, p.Y, model.c, model.gamma)
    X, Y, c, gamma, W0, Xq = to_frame(frame, p.X, p.Y, model.c, model.gamma, model.W0, p.Xq)
    etas_f = [scale_eta(eta, frame) for eta in etas]
    Z = tokens(X, Y, Xq, W0)
    constructions = [construction.paper(eta, p.d, p.k, gamma) for eta in etas_f]
    L = len(etas)
    predictions = np.empty((L + 1, p.m, p.k))
    residuals = np.empty((L + 1, p.n, p.k)) if keep_residuals else None
    rms, largest = np.empty(L + 1), np.empty(L + 1)
    finite = True
    with np.errstate(all="ignore"):  # also for the map back below: a diverging stack overflows
        for layer in range(L + 1):
            if layer:
                Z = lsa.lsa_layer(Z, constructions[layer - 1], model.mask, c, FORWARD_CHUNK)
            res, predictions[layer] = split_tokens(Z, p.n, p.d)  # (n, k), (m, k)
            finite = finite and bool(np.all(np.isfinite(Z)))
            rms[layer], largest[layer] = _rms(res), float(np.max(np.abs(res), initial=0.0))
            if residuals is not None:
                residuals[layer] = res
        del Z
        if model.is_prefix:
            weights = np.stack(gradient_descent(X, Y, etas_f, c[0], W0, gamma))
            algorithm = np.einsum("md,lkd->lmk", Xq, weights)
        else:
            weights = online_dynamics(X, Y, model.mask, c, etas_f, W0, gamma, tokens=np.arange(p.n, p.n + p.m))
            algorithm = np.einsum("md,lmkd->lmk", Xq, weights)
        gap = np.abs(predictions - algorithm)
    # a diverging stack overflows: its values are a result, written as null (README), not an error
    back = lambda a, what: unscale(a, frame.y, what, allow_inf=True, overflow_is_inf=True)  # noqa: E731
    result = {
        "attention": model.attention,
        "layers": len(etas),
        "query_predictions": squeeze(back(predictions, "query_predictions"), p),
        "algorithm_query_predictions": squeeze(back(algorithm, "algorithm_query_predictions"), p),
        # an error measure far below the data may underflow without loss: no refusal for it
        "example_residual_rms": np.ldexp(rms, frame.y),
        "max_abs_gap": float(np.ldexp(np.max(gap), frame.y)) if gap.size else 0.0,
        **verdict,  # stable, rate, rate_gap (and unstable_because): one meaning of stable (verify.rates)
        "finite": True,
    }
    if residuals is not None:
        result["example_residuals"] = squeeze(back(residuals, "example_residuals"), p)
    result["finite"] = bool(finite and np.all(np.isfinite(back(largest, "example_residuals"))) and all(
        np.all(np.isfinite(np.asarray(result[key], dtype=float)))
        for key in ("query_predictions", "algorithm_query_predictions")))
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
    keeps = lambda n: args.full or n <= FULL_EXAMPLES or bool(args.npz)  # noqa: E731

    def admit(n: int, d: int, m: int, k: int) -> None:
        # from the prompt's headers, before its data is read: a refusal comes up front
        if keeps(n):
            check_array("layers", (layers + 1, n, k), what="the example residuals of every layer")
        mask = None if args.attention_mask else named_mask(args.attention, n, m)
        check_work(layers, n, m, d, k, mask, args.attention == "prefix" and mask is not None, keeps(n))

    model = load_model(args, check=admit)
    p = model.prompt
    shown = args.full or p.n <= FULL_EXAMPLES
    keep = keeps(p.n)
    etas = eta_schedule(args.eta, schedule, layers)
    # BLAS threads for the largest dense product: the associative form's are small (d + k wide)
    with blas_threads(p.d + p.k if isinstance(model.mask, NamedMask) else p.n + p.m):
        result = simulate(model, etas, keep)
    if args.npz:
        arrays = {key: np.asarray(result[key], dtype=float) for key in
                  ("query_predictions", "algorithm_query_predictions", "example_residuals", "example_residual_rms")}
        replace_file(args.npz, lambda fh: np.savez(fh, **arrays))
    if not shown:
        result.pop("example_residuals", None)
        result["note"] = (f"example_residuals ((L+1) x n) left out for n = {p.n:,} > {FULL_EXAMPLES:,}: "
                          "example_residual_rms has one value per layer; pass --full or --npz OUT.npz for them")
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
        why = result.get("unstable_because")
        lines.append(f"eta is UNSTABLE for this prompt (rate {result['rate']:.4g} >= 1"
                     + (f"; {why}" if why else "") + "): the stack does not converge"
                     + ("" if result["finite"] else " and overflowed to inf/NaN (reported as null in JSON)"))
    return "\n".join(lines)
