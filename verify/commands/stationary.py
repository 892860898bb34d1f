"""The stationary point of the stack: the weight every position converges to.

Computed from the general lemma (SPEC section 6) for any mask and normalizer:
for prefix attention every example row is the minimum-norm least-squares weight
(SPEC P3); for causal attention it is online gradient descent with step
``1/||x_j||^2`` (SPEC P6), or its count-normalizer form (SPEC P9).  A named attention
is solved from its shape in ``O(n d^2)`` (``verify.structured``); a stationary
prediction exists exactly when conditions (b) and (c) of SPEC section 7 hold (no Jordan
chain at 0, no query reading a null vector of ``N``), and is refused otherwise.
"""
from __future__ import annotations

import numpy as np

from .. import lemma, rates  # the model's engines, looked up at call time
from ..errors import PromptError
from ..frame import exponent, scaled, unscale
from ..shapes import named_shape
from ..threads import blas_threads
from .common import add_model_options, load_model, squeeze

#: above this many examples the n-length ``example_weights`` are left out unless asked for (issue 21 item 6)
EXAMPLE_WEIGHTS_MAX = 10_000


def register(parser) -> None:
    add_model_options(parser, eta=None)
    parser.add_argument("--example-weights", action="store_true",
                        help=f"optional: include example_weights (n x d) even above n = {EXAMPLE_WEIGHTS_MAX:,} "
                             "examples, where they are left out by default")
    parser.set_defaults(run=run)


def stationary(model, normalization: str = "constant", scale: float = 1.0) -> dict:
    p = model.prompt
    mask, c = model.mask, model.c
    if p.m == 0 and model.attention != "custom":
        # the query weight does not depend on m: compute it for one phantom query, whose normalizer is
        # the constant or its count |A(q)| (from the shape: no mask of n + 1 tokens)
        count = max(1.0, float(named_shape(model.attention, p.n, 1).counts()[p.n]))
        c = np.append(np.asarray(c, dtype=float)[: p.n], count if normalization == "count" else float(scale))
        mask = None
    with blas_threads(p.d):
        W = lemma.stationary_weights(p.X, p.Y, mask, c, model.W0, model.gamma, model.attention)  # (n + m', k, d)
        if model.attention == "custom" or model.gamma is not None:
            # a fixed point no step size converges to is not a stationary prediction (SPEC section 7); a named
            # attention with Gamma = I has only positive eigenvalues, so the check is needed only here
            lam, _, _ = rates.stability_in_frame(p.X, mask, c, model.gamma, model.attention)
            if rates.stable_eta_max_of(lam) == 0:
                raise PromptError("attention: no step size is stable (an eigenvalue of N = D^-1 M has a real part "
                                  "<= 0), so the stack converges to no stationary prediction; check --preconditioner "
                                  "or the mask")
    ex, qw = W[: p.n], W[p.n:]
    # predictions in the frame of the data (x / 2^e_x, w 2^e_x / 2^e_y), mapped back by 2^e_y: exactly covariant
    e_x, e_y = exponent(p.X), exponent(p.Y)
    preds_f = np.einsum("md,mkd->mk", scaled(p.Xq, e_x), scaled(qw[: p.m], e_y - e_x))
    preds = unscale(preds_f, e_y, "query_predictions")
    one = (lambda a: a[..., 0, :]) if p.y.ndim == 1 else (lambda a: a)
    drifting = bool(np.isnan(ex).any())  # some example's weight reads a null vector (verify.lemma.stationary_weights)
    result = {
        "attention": model.attention,
        "example_weights": None if drifting else one(ex),
        "query_weight": one(qw[0]) if len(qw) else None,
        "query_weights": one(qw[: p.m]),
        "query_predictions": squeeze(preds, p),
    }
    if p.yq is not None:
        # in the frame of y: the squared error would overflow or underflow long before y does
        err = preds_f - scaled(p.yq.reshape(p.m, p.k), e_y)
        # an error measure far below the data may underflow without loss: no refusal for it
        with np.errstate(under="ignore", over="ignore"):
            mean = float(np.mean(err**2)) if p.m else 0.0
            result["query_mse"] = float(np.ldexp(mean, 2 * e_y))
        if not np.isfinite(result["query_mse"]):  # the error is finite, its square beyond the float range
            result["query_mse"] = None
            result["query_mse_log2"] = float(np.log2(mean) + 2 * e_y)
    if drifting:
        result["note"] = ("example_weights omitted: some example's weight reads a null vector of N and drifts every "
                          "layer (its residual and every query prediction still converge)")
    return result


def run(args):
    model = load_model(args)
    result = stationary(model, args.normalization, args.scale)
    if model.prompt.n > EXAMPLE_WEIGHTS_MAX and not args.example_weights and result["example_weights"] is not None:
        result["example_weights"] = None
        result["note"] = (f"example_weights omitted above n = {EXAMPLE_WEIGHTS_MAX:,} examples (n x d numbers); "
                          "pass --example-weights to include them")
    lines = [f"{result['attention']} stationary point",
             f"query weight: {np.array2string(np.asarray(result['query_weight']), precision=6, threshold=8)}",
             f"query predictions: {np.array2string(np.asarray(result['query_predictions']), precision=6, threshold=8)}"]
    if result.get("query_mse") is not None:
        lines.append(f"query MSE: {result['query_mse']:.4g}")
    elif "query_mse_log2" in result:
        lines.append(f"query MSE: about 2^{result['query_mse_log2']:.1f}, beyond the float range (not representable)")
    if "note" in result:
        lines.append(f"note: {result['note']}")
    return result, "\n".join(lines), True
