"""Derive what a layer (K^T Q, P V) does to [x; y - w x] tokens: form kept? preconditioned GD, which Gamma?

MATRIX is JSON nested lists of size (d+1) x (d+1), inline or a .json file;
entries are numbers, rational strings like "1/25", or plain names like "eta"
(symbols: the answer then holds for all their values).  The derivation applies
the package's one layer to symbolic tokens and matches polynomial coefficients;
it holds for any attention sets A(j) and normalizers c_j, and --attention only
names the sets in the update text.

Numeric matrices are classified in exact arithmetic by SPEC P10's
characterization (up to 80 x 80); matrices holding names by the symbolic
engine (up to 6 x 6): larger ones are refused with the limit named
(``verify.limits``).
"""
from __future__ import annotations

from ..errors import PromptError
from ..limits import MAX_DERIVE_SIDE_SYMBOLIC
from .common import add_json


def register(parser) -> None:
    parser.add_argument("--kq", required=True, metavar="MATRIX",
                        help="required: K^T Q as JSON nested lists or a .json file")
    parser.add_argument("--pv", required=True, metavar="MATRIX",
                        help="required: P V as JSON nested lists or a .json file, same size as --kq")
    parser.add_argument("--attention", default="prefix",
                        help="optional: prefix | causal | sliding:K | block:B | hybrid:P, names A(j) in the update "
                             "(default prefix)")
    add_json(parser)
    parser.set_defaults(run=run)


def run(args):
    from ..derive import attention_sets, derive, exact_text, update_latex, update_text
    from ..matrix_text import parse_matrix

    attention_sets(args.attention)  # validates --attention (PromptError) before any work
    kq = parse_matrix(args.kq, "kq")
    pv = parse_matrix(args.pv, "pv", size=kq.shape[0])
    if (kq.free_symbols or pv.free_symbols) and kq.shape[0] > MAX_DERIVE_SIDE_SYMBOLIC:
        raise PromptError(f"kq: matrices holding names are classified symbolically up to {MAX_DERIVE_SIDE_SYMBOLIC} x "
                          f"{MAX_DERIVE_SIDE_SYMBOLIC} (verify.limits.MAX_DERIVE_SIDE_SYMBOLIC), got {kq.shape[0]} x "
                          f"{kq.shape[0]}; substitute numbers for the names")
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
