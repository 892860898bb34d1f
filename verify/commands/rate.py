"""Asymptotic rate, stable step sizes and finite-depth transient growth (SPEC P4, P5, P11).

``rate`` is the contraction factor of the residual iteration ``I - eta D^{-1} M``
(>= 1 when unstable); ``stable_eta_max`` the supremum of stable step sizes;
``transient_peak`` the largest ``||(I - eta D^{-1} M)^l||_2`` over ``l <= L``, at
``peak_layer``; ``depth_safe_eta`` the largest eta whose peak stays within
``--max-growth``.
"""
from __future__ import annotations

from ..errors import PromptError
from ..limits import check_layers
from ..rates import analyse
from .common import add_model_options, check_eta, load_model


def register(parser) -> None:
    add_model_options(parser)
    parser.add_argument("--layers", type=int, default=100, metavar="L",
                        help="optional: depth for the transient peak (default 100)")
    parser.add_argument("--max-growth", type=float, default=10.0, metavar="G",
                        help="optional: growth limit for depth_safe_eta, >= 1 (default 10)")
    parser.set_defaults(run=run)


def run(args):
    eta = check_eta(args.eta)
    check_layers("layers", args.layers)
    if not args.max_growth >= 1:
        raise PromptError(f"max-growth: must be a number >= 1 (the peak is at least 1), got {args.max_growth}")
    model = load_model(args)
    p = model.prompt
    result = {"attention": model.attention, "eta": eta,
              **analyse(p.X, model.mask, model.c, eta, model.gamma, args.layers, args.max_growth)}
    verdict = "stable" if result["stable"] else "UNSTABLE"
    summary = "\n".join([
        f"{model.attention}, eta = {eta:g}: {verdict}, rate {result['rate']:.6g}, stable for eta < {result['stable_eta_max']:.6g}",
        f"transient peak over {args.layers} layers: {result['transient_peak']:.4g} at layer {result['peak_layer']}; "
        f"eta <= {result['depth_safe_eta']:.4g} keeps it within {args.max_growth:g}",
    ])
    return result, summary, True
