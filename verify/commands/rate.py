"""Asymptotic rate, stable step sizes and finite-depth transient growth (SPEC P4, P5, P11, section 7).

``rate`` is the contraction factor of the residual iteration ``I - eta D^{-1} M``
over the nonzero eigenvalues (>= 1 when unstable) and ``rate_gap = 1 - rate``
computed without cancellation; ``stable`` is SPEC section 7's one meaning, decided
from the criterion (never from a rounded rate); ``stable_eta_max`` the supremum of
stable step sizes (0 when none is: then ``unstable_because`` says why).  With
``--layers L``: ``transient_peak`` (``transient_peak_kind`` ``exact``, or
``lower_bound`` from explicit vectors through the structured operator at sizes where
powers of an ``n x n`` matrix do not fit), ``peak_layer``, and ``depth_safe_eta``, the
largest *stable* eta whose peak stays within ``--max-growth`` (``depth_safe_eta_kind``
``certified`` or ``estimate``).  ``--certify`` adds rigorous enclosures
(``rate_interval``, ``rate_gap_interval``, ``stable_eta_max_interval``, ``certified_stable``).
"""
from __future__ import annotations

from .. import rates  # looked up at call time: a replaced verify.rates.analyse is what runs
from ..errors import PromptError
from ..rates import dense_mask, transient_method
from ..threads import blas_threads
from .common import add_model_options, check_eta, load_model

#: ``--layers`` beyond this is refused up front
MAX_LAYERS = 100_000


def register(parser) -> None:
    add_model_options(parser)
    parser.add_argument("--layers", type=int, default=None, metavar="L",
                        help="optional: depth for the transient keys (transient_peak with transient_peak_kind exact "
                             "or lower_bound, peak_layer, depth_safe_eta with depth_safe_eta_kind certified or "
                             "estimate); without it only the asymptotic keys (rate, rate_gap, stable_eta_max, stable) "
                             "are computed. Its work is estimated up front and refused beyond the limit")
    parser.add_argument("--max-growth", type=float, default=10.0, metavar="G",
                        help="optional: growth limit for depth_safe_eta, the largest stable eta whose peak over "
                             "--layers stays within it, >= 1 (default 10)")
    parser.add_argument("--certify", action="store_true",
                        help="optional: add rigorous interval enclosures: rate_interval, rate_gap_interval, "
                             "stable_eta_max_interval, certified_stable (python-flint ball arithmetic)")
    parser.set_defaults(run=run)


def check_layers(layers: int | None, n: int, d: int = 1, named: bool = False) -> None:
    """Refuse a depth that cannot finish in time or memory, naming the limit (``verify.rates.transient_method``)."""
    if layers is None:
        return
    if layers < 0:
        raise PromptError(f"layers: must be >= 0, got {layers}")
    if layers > MAX_LAYERS:
        raise PromptError(f"layers: {layers} is beyond the limit of {MAX_LAYERS} layers for the transient keys; "
                          "give a smaller --layers")
    transient_method(n, d, layers, named)


def run(args):
    eta = check_eta(args.eta)
    if args.layers is not None and args.layers < 0:
        raise PromptError(f"layers: must be >= 0, got {args.layers}")
    if not args.max_growth >= 1:
        raise PromptError(f"max-growth: must be a number >= 1 (the peak is at least 1), got {args.max_growth}")
    model = load_model(args)
    p = model.prompt
    named = model.attention != "custom"
    check_layers(args.layers, p.n, p.d, named)
    dense = args.layers is not None and transient_method(p.n, p.d, args.layers, named)[0] == "dense"
    with blas_threads(p.n if dense else p.d):
        result = {"attention": model.attention, "eta": eta,
                  **rates.analyse(p.X, model.mask, model.c, eta, model.gamma, args.layers, args.max_growth,
                            attention=model.attention)}
        if args.certify:
            from ..certify import certify

            mask = dense_mask(model.mask, model.attention, p.n, p.m)
            result.update(certify(p.X, mask, model.c, eta, model.gamma))
    lines = [summary(model.attention, eta, result)]
    if args.layers is not None:
        peak = "" if result["transient_peak_kind"] == "exact" else "at least "
        safe = "" if result["depth_safe_eta_kind"] == "certified" else " (estimate: not certified)"
        lines.append(f"transient peak over {args.layers} layers: {peak}{result['transient_peak']:.4g} at layer "
                     f"{result['peak_layer']}; the largest stable eta keeping it within {args.max_growth:g} is "
                     f"{result['depth_safe_eta']:.4g}{safe}")
    if args.certify:
        lo, hi = result["rate_interval"]
        slo, shi = result["stable_eta_max_interval"]
        glo, ghi = result["rate_gap_interval"]
        lines.append(f"certified: rate in [{lo:.17g}, {hi:.17g}], rate_gap in [{glo:.6g}, {ghi:.6g}], "
                     f"stable_eta_max in [{slo:.17g}, {shi:.17g}]; "
                     + ("certified stable" if result["certified_stable"] else "not certified stable"))
    return result, "\n".join(lines), True


def summary(attention: str, eta: float, result: dict) -> str:
    """One line: the verdict, the rate (as ``1 - gap`` where the rate rounds to 1) and the stable range."""
    verdict = "stable" if result["stable"] else "UNSTABLE"
    gap = result["rate_gap"]
    rate = f"rate 1 - {gap:.4g}" if 0 < gap < 1e-6 else f"rate {result['rate']:.6g}"
    line = f"{attention}, eta = {eta:g}: {verdict}, {rate}, stable for eta < {result['stable_eta_max']:.6g}"
    if "unstable_because" in result:
        line += f" ({result['unstable_because']})"
    return line
