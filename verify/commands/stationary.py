"""The stationary point of the stack: the weight every position converges to.

Computed from the general lemma (SPEC section 6) for any mask and normalizer:
for prefix attention every example row is the minimum-norm least-squares weight
(SPEC P3); for causal attention it is online gradient descent with step
``1/||x_j||^2`` (SPEC P6), or its count-normalizer form (SPEC P9).
"""
from __future__ import annotations

import numpy as np

from ..frame import exponent, scaled, unscale
from ..lemma import stationary_weights
from ..normalizers import normalizer
from ..threads import blas_threads
from .common import add_model_options, load_model, squeeze


def register(parser) -> None:
    add_model_options(parser, eta=None)
    parser.set_defaults(run=run)


def stationary(model, normalization: str = "constant", scale: float = 1.0) -> dict:
    p = model.prompt
    mask, c = model.mask, model.c
    if p.m == 0 and model.mask_for is not None:
        # the query weight does not depend on m: compute it for one phantom query
        mask = model.mask_for(p.n, 1)
        c = normalizer(normalization, mask, scale)
    with blas_threads(p.d):
        W = stationary_weights(p.X, p.Y, mask, c, model.W0, model.gamma)  # (n + m', k, d)
    ex, qw = W[: p.n], W[p.n:]
    # predictions in the frame of the data (x / 2^e_x, w 2^e_x / 2^e_y), mapped back by 2^e_y: exactly covariant
    e_x, e_y = exponent(p.X), exponent(p.Y)
    preds_f = np.einsum("md,mkd->mk", scaled(p.Xq, e_x), scaled(qw[: p.m], e_y - e_x))
    preds = unscale(preds_f, e_y, "query_predictions")
    one = (lambda a: a[..., 0, :]) if p.y.ndim == 1 else (lambda a: a)
    result = {
        "attention": model.attention,
        "example_weights": one(ex),
        "query_weight": one(qw[0]) if len(qw) else None,
        "query_weights": one(qw[: p.m]),
        "query_predictions": squeeze(preds, p),
    }
    if p.yq is not None:
        # in the frame of y: the squared error would overflow or underflow long before y does
        err = preds_f - scaled(p.yq.reshape(p.m, p.k), e_y)
        # an error measure far below the data may underflow without loss: no refusal for it
        with np.errstate(under="ignore", over="ignore"):
            result["query_mse"] = float(np.ldexp(np.mean(err**2), 2 * e_y)) if p.m else 0.0
    return result


def run(args):
    model = load_model(args)
    result = stationary(model, args.normalization, args.scale)
    lines = [f"{result['attention']} stationary point",
             f"query weight: {np.array2string(np.asarray(result['query_weight']), precision=6, threshold=8)}",
             f"query predictions: {np.array2string(np.asarray(result['query_predictions']), precision=6, threshold=8)}"]
    if "query_mse" in result:
        lines.append(f"query MSE: {result['query_mse']:.4g}")
    return result, "\n".join(lines), True
