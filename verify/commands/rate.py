"""Asymptotic rate, stable step sizes and finite-depth transient growth (SPEC P4, P5, P11).

``rate`` is the contraction factor of the residual iteration ``I - eta D^{-1} M``
(>= 1 when unstable); ``stable_eta_max`` the supremum of stable step sizes.  With
``--layers L``: ``transient_peak``, the largest ``||(I - eta D^{-1} M)^l||_2`` over
``l <= L``, at ``peak_layer``, and ``depth_safe_eta``, the largest eta whose peak
stays within ``--max-growth``.  ``--certify`` adds rigorous enclosures
(``rate_interval``, ``stable_eta_max_interval``, ``certified_stable``).
"""
from __future__ import annotations

from .. import rates  # looked up at call time: a replaced verify.rates.analyse is what runs
from ..errors import PromptError
from ..threads import blas_threads
from .common import add_model_options, check_eta, load_model

#: ``--layers`` beyond this is refused up front: each layer is a power of an n x n matrix
MAX_LAYERS = 100_000
#: and so is a total work ``n^3 L / 3`` beyond this many multiply-adds (minutes on one core)
MAX_WORK = 3e12


def register(parser) -> None:
    add_model_options(parser)
    parser.add_argument("--layers", type=int, default=None, metavar="L",
                        help="optional: depth for the transient keys (transient_peak, peak_layer, depth_safe_eta); "
                             "without it only the asymptotic keys are computed")
    parser.add_argument("--max-growth", type=float, default=10.0, metavar="G",
                        help="optional: growth limit for depth_safe_eta, >= 1 (default 10)")
    parser.add_argument("--certify", action="store_true",
                        help="optional: add rigorous interval enclosures: rate_interval, stable_eta_max_interval, "
                             "certified_stable (python-flint ball arithmetic)")
    parser.set_defaults(run=run)


def check_layers(layers: int | None, n: int) -> None:
    """Refuse a depth that cannot finish in time or memory, naming the limit."""
    if layers is None:
        return
    if layers < 0:
        raise PromptError(f"layers: must be >= 0, got {layers}")
    if layers > MAX_LAYERS:
        raise PromptError(f"layers: {layers} is beyond the limit of {MAX_LAYERS} layers for the transient keys; "
                          "give a smaller --layers")
    if n ** 3 / 3 * layers > MAX_WORK:
        limit = int(MAX_WORK * 3 / max(n, 1) ** 3)
        raise PromptError(f"layers: {layers} powers of a {n} x {n} matrix exceed the work limit "
                          f"({MAX_WORK:.0e} multiply-adds: at most {limit} layers at n = {n}); give a smaller --layers")


def run(args):
    eta = check_eta(args.eta)
    if args.layers is not None and args.layers < 0:
        raise PromptError(f"layers: must be >= 0, got {args.layers}")
    if not args.max_growth >= 1:
        raise PromptError(f"max-growth: must be a number >= 1 (the peak is at least 1), got {args.max_growth}")
    model = load_model(args)
    p = model.prompt
    check_layers(args.layers, p.n)
    size = p.n if args.layers is not None else p.d
    with blas_threads(size):
        result = {"attention": model.attention, "eta": eta,
                  **rates.analyse(p.X, model.mask, model.c, eta, model.gamma, args.layers, args.max_growth)}
        if args.certify:
            from ..certify import certify

            result.update(certify(p.X, model.mask, model.c, eta, model.gamma))
    verdict = "stable" if result["stable"] else "UNSTABLE"
    lines = [f"{model.attention}, eta = {eta:g}: {verdict}, rate {result['rate']:.6g}, "
             f"stable for eta < {result['stable_eta_max']:.6g}"]
    if args.layers is not None:
        lines.append(f"transient peak over {args.layers} layers: {result['transient_peak']:.4g} at layer "
                     f"{result['peak_layer']}; eta <= {result['depth_safe_eta']:.4g} keeps it within "
                     f"{args.max_growth:g}")
    if args.certify:
        lo, hi = result["rate_interval"]
        slo, shi = result["stable_eta_max_interval"]
        lines.append(f"certified: rate in [{lo:.17g}, {hi:.17g}], stable_eta_max in [{slo:.17g}, {shi:.17g}]; "
                     + ("certified stable" if result["certified_stable"] else "not certified stable"))
    return result, "\n".join(lines), True
