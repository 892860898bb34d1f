"""Derive what a layer (K^T Q, P V) does to [x; y - w x] tokens: form kept? preconditioned GD, which Gamma?

MATRIX is JSON nested lists of size (d+1) x (d+1), inline or a .json file;
entries are numbers, rational strings like "1/25", or plain names like "eta"
(symbols: the answer then holds for all their values).  The derivation applies
the package's one layer to symbolic tokens and matches polynomial coefficients;
it holds for any attention sets A(j) and normalizers c_j, and --attention only
names the sets in the update text.

With --fit WEIGHTS.npz (arrays KQ and PV of shape (L, d+k, d+k), or K, Q, V, P) it
instead finds, for each learned layer, the nearest member of P10's
preconditioned-GD family (S1: only A and s non-zero; S4: only c and h) and its
Gamma, and measures how far the learned stack's predictions are from the
projected stack's on prompts from the training distribution (verify.fit).

Numeric matrices are classified in exact arithmetic by SPEC P10's
characterization (up to 80 x 80); matrices holding names by the symbolic
engine (up to 6 x 6): larger ones are refused with the limit named
(``verify.limits``).
"""
from __future__ import annotations

import math

from ..errors import PromptError
from ..limits import MAX_DERIVE_SIDE_SYMBOLIC, check_budget, largest, stack_gap_cost
from ..masks import ATTENTION_HELP
from ..tolerances import FIT_DISTANCE_TOL
from .common import add_json


def register(parser) -> None:
    parser.add_argument("--kq", metavar="MATRIX",
                        help="required unless --fit: K^T Q as JSON nested lists or a .json file")
    parser.add_argument("--pv", metavar="MATRIX",
                        help="required unless --fit: P V as JSON nested lists or a .json file, same size as --kq")
    parser.add_argument("--attention",
                        help=f"optional: {ATTENTION_HELP}: names A(j) in the update "
                             "(default prefix); with --fit, the mask of stack_gap (default: the file's, else prefix)")
    fit = parser.add_argument_group("fitting learned weights (instead of --kq/--pv)")
    fit.add_argument("--fit", metavar="WEIGHTS.npz", help="optional: arrays KQ, PV (L, d+k, d+k), or K, Q, V, P")
    fit.add_argument("--tol", type=float, default=FIT_DISTANCE_TOL,
                     help=f"optional: implements_preconditioned_gd when relative_distance <= TOL "
                          f"(default {FIT_DISTANCE_TOL})")
    fit.add_argument("--prompts", type=int, default=64, metavar="K",
                     help="optional: random prompts from the training distribution for stack_gap (default 64)")
    fit.add_argument("--k", type=int, help="optional: number of outputs k, d = size - k (default: the file's, else 1)")
    fit.add_argument("--n", type=int, help="optional: examples per prompt for stack_gap (default: the file's, else 20)")
    fit.add_argument("--seed", type=int, default=0, help="optional: seed of the stack_gap prompts (default 0)")
    add_json(parser)
    parser.set_defaults(run=run)


def run(args):
    if args.fit is not None:
        if args.kq is not None or args.pv is not None:
            raise PromptError("fit: give either --fit WEIGHTS.npz or --kq and --pv, not both")
        return run_fit(args)
    for name in ("kq", "pv"):
        if getattr(args, name) is None:
            raise PromptError(f"{name}: missing; give --kq MATRIX and --pv MATRIX (or --fit WEIGHTS.npz)")
    args.attention = args.attention or "prefix"
    from ..derive import attention_sets, derive, exact_text, update_latex, update_text
    from ..matrix_text import parse_matrix

    attention_sets(args.attention)  # validates --attention (PromptError) before any work
    kq = parse_matrix(args.kq, "kq")
    pv = parse_matrix(args.pv, "pv", size=kq.shape[0])
    named = "kq" if kq.free_symbols else "pv"  # blame the matrix that holds the names
    if (kq.free_symbols or pv.free_symbols) and kq.shape[0] > MAX_DERIVE_SIDE_SYMBOLIC:
        side = MAX_DERIVE_SIDE_SYMBOLIC
        raise PromptError(f"{named}: matrices holding names are classified symbolically up to {side} x {side} "
                          f"(verify.limits.MAX_DERIVE_SIDE_SYMBOLIC), got {kq.shape[0]} x {kq.shape[0]}; "
                          f"substitute numbers for the names")
    result = derive(kq, pv)
    gamma = None if result.gamma is None else [[exact_text(g) for g in row] for row in result.gamma.tolist()]
    out = {
        "d": result.d,
        "attention": args.attention,
        "preserves_token_form": result.preserves_token_form,
        "implements_preconditioned_gd": result.implements_preconditioned_gd,
        "preconditioner": gamma,
        "trivial": result.trivial,
        "update": update_text(result, args.attention),
        "latex": update_latex(result, args.attention),
        "conditions": [f"{exact_text(c)} = 0" for c in result.conditions],
    }
    lines = [
        f"d = {result.d}: token form [x; y - w x] {'preserved' if result.preserves_token_form else 'NOT preserved'}; "
        f"preconditioned GD: {'yes' if result.implements_preconditioned_gd else 'no'}"
        + (" (trivial: the layer is the identity)" if result.trivial else ""),
        out["update"],
    ]
    if out["conditions"]:
        lines.append("would hold if " + " and ".join(out["conditions"]))
    # a classification is the answer, not a failure: exit status 0 either way
    return out, "\n".join(lines), True


def run_fit(args):
    """``derive --fit``: nearest preconditioned-GD member of every layer, and the stack gap."""
    from ..fit import fit_stack, load_weights, setting_from, stack_gap

    if not (math.isfinite(args.tol) and args.tol >= 0):
        raise PromptError(f"tol: the distance tolerance must be a finite number >= 0, got {args.tol}")
    if args.prompts < 1:
        raise PromptError(f"prompts: need at least 1 prompt for stack_gap, got {args.prompts}")
    if args.n is not None and args.n < 1:
        raise PromptError(f"n: need at least 1 example per prompt, got {args.n}")
    KQ, PV, meta = load_weights(args.fit, args.k)
    d = KQ.shape[1] - meta["k"]
    setting = setting_from(meta, d, args.attention, args.n)
    dist = setting.distribution
    memory, work = stack_gap_cost(args.prompts, dist.n, dist.m, d, meta["k"], KQ.shape[0])
    check_budget(largest({"prompts": args.prompts / 64, "n": dist.n / 20}),
                 f"stack_gap on {args.prompts:,} prompts of n = {dist.n} through {KQ.shape[0]} layer(s)", memory, work,
                 "reduce --prompts or --n")
    fits = fit_stack(KQ, PV, meta["k"])
    gap = stack_gap(KQ, PV, fits, setting, args.prompts, args.seed)
    out = {
        "weights": args.fit,
        "d": d,
        "k": meta["k"],
        "tol": args.tol,
        "layers": [{"layer": index, **fit.as_dict(args.tol)} for index, fit in enumerate(fits, start=1)],
        "stack_gap": gap,
        "prompts": args.prompts,
        "setting": {"attention": setting.attention, "normalization": setting.normalization,
                    "scale": dist.n if setting.scale is None else setting.scale, **dist.metadata()},
    }
    lines = [f"{len(fits)} layer(s), d = {d}, k = {meta['k']}:"]
    for entry in out["layers"]:
        verdict = "preconditioned GD" if entry["implements_preconditioned_gd"] else "NOT within tol"
        gamma = ", ".join("[" + ", ".join(f"{g:.4g}" for g in row) + "]" for row in entry["preconditioner"])
        lines.append(f"  layer {entry['layer']}: nearest {entry['member']}, relative distance "
                     f"{entry['relative_distance']:.3g} ({verdict}), Gamma = [{gamma}]")
    lines.append(f"stack_gap = {gap:.3g} (largest relative difference of query predictions, learned vs projected, "
                 f"over {args.prompts} {setting.attention} prompts with n = {dist.n})")
    return out, "\n".join(lines), True
