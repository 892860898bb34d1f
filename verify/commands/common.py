"""Options shared by the commands that run the model on a user's prompt."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import PromptError
from ..limits import MAX_ATTENTION_PARAM, check_array
from ..masks import attention_mask, check_mask, load_mask, named_spec_of, parse_attention
from ..normalizers import normalizer
from ..prompt import Prompt, check_npy_file, load_prompt


class Explicit(argparse.Action):
    """Store the value and remember that the user gave the option (``given(args, dest)``),
    so an option that conflicts with another is refused even when its value equals the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.explicit = set(getattr(namespace, "explicit", None) or ()) | {self.dest}


def given(args: argparse.Namespace, dest: str) -> bool:
    """True when the option ``dest`` was on the command line (for options stored with :class:`Explicit`)."""
    return dest in (getattr(args, "explicit", None) or ())


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="OUT",
                        help="optional: write the result as JSON to OUT ('-' for stdout; default: a readable summary)")


RULE_HELP = ("optional: attention rule, the body of a FlexAttention mask_mod: token q_idx reads token kv_idx when TEXT "
             "holds; examples 0..n-1, n examples; integers, True, False, + - * // %% (Python floor), comparisons, "
             "and/or/not, parentheses, e.g. 'kv_idx <= q_idx' (causal) or 'kv_idx <= q_idx and (q_idx - kv_idx < 4 "
             "or kv_idx == 0)' (sink + window); docs/SPEC.md section 7")
QUERY_RULE_HELP = ("optional (with --rule): the queries' own rule, same grammar, evaluated with the query at q_idx = n "
                   "(default: queries read every example), e.g. 'kv_idx > n - 5'")


def add_rule_options(parser) -> None:
    """``--rule TEXT`` and ``--query-rule TEXT`` (:mod:`verify.rule`)."""
    parser.add_argument("--rule", metavar="TEXT", help=RULE_HELP)
    parser.add_argument("--query-rule", metavar="TEXT", help=QUERY_RULE_HELP)


def add_model_options(parser: argparse.ArgumentParser, eta: str | None = "required") -> None:
    """PROMPT, attention, normalizer and construction options; ``eta``: how ``--eta`` is required (None: no --eta)."""
    parser.add_argument("prompt", metavar="PROMPT",
                        help="required: .npz file with X (n, d), y (n,) or (n, k), Xq (m, d), optional yq")
    parser.add_argument("--attention", default="prefix", action=Explicit,
                        help="optional: prefix | causal | sliding:K | block:B | hybrid:P (default prefix); "
                             "not with --attention-mask or --rule")
    parser.add_argument("--attention-mask", metavar="FILE.npy",
                        help="optional: boolean (n+m, n+m) mask, [i, j] true when token j reads token i; "
                             "replaces --attention (give one or the other)")
    add_rule_options(parser)
    parser.add_argument("--normalization", default="constant", choices=("constant", "count"),
                        help="optional: constant c_j = C, or count c_j = |A(j)| (default constant)")
    parser.add_argument("--scale", type=float, default=1.0, metavar="C", action=Explicit,
                        help="optional: the constant normalizer c > 0 (default 1); not with --normalization count")
    parser.add_argument("--w0", metavar="FILE.npy",
                        help="optional: initial weight w_0, shape (d,) or (k, d) (default 0)")
    parser.add_argument("--preconditioner", metavar="FILE.npy",
                        help="optional: Gamma (d, d) in the top-left block of K^T Q (default I)")
    if eta is not None:
        parser.add_argument("--eta", type=float, metavar="E", help=f"{eta}: step size eta > 0 (P = eta I)")
    add_json(parser)


def check_conflicts(args: argparse.Namespace) -> None:
    """Refuse model options that cannot both apply (one line naming both)."""
    if getattr(args, "attention_mask", None) and given(args, "attention"):
        raise PromptError("attention: --attention and --attention-mask both say who attends to whom; give one of them")
    if getattr(args, "rule", None) is not None and (given(args, "attention") or getattr(args, "attention_mask", None)):
        raise PromptError("rule: --rule and --attention/--attention-mask both say who attends to whom; "
                          "give one of them")
    if getattr(args, "query_rule", None) is not None and getattr(args, "rule", None) is None:
        raise PromptError("query-rule: --query-rule gives the queries of a --rule their own pattern; add --rule TEXT")
    if getattr(args, "normalization", None) == "count" and given(args, "scale"):
        raise PromptError("scale: --scale sets the constant normalizer, but --normalization count uses c_j = |A(j)|; "
                          "drop --scale or use --normalization constant")


@dataclass(frozen=True)
class Model:
    """A prompt with everything the model needs to run on it."""

    prompt: Prompt
    attention: str
    mask: np.ndarray
    c: np.ndarray
    W0: np.ndarray | None
    gamma: np.ndarray | None
    #: ``(n, m) -> mask`` for a named attention or a rule (None for a mask file)
    mask_for: Callable[[int, int], np.ndarray] | None = None

    @property
    def is_prefix(self) -> bool:
        return self.attention == "prefix"


def _load_npy(path: str, field: str, shapes: tuple) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PromptError(f"{field}: file {path!r} not found; give the path of a float .npy array") from None
    except Exception:
        raise PromptError(f"{field}: {path!r} is not a readable .npy array of floats; "
                          "write it with numpy.save") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise PromptError(f"{field}: expected a float array, got dtype {a.dtype}")
    if a.shape not in shapes:
        raise PromptError(f"{field}: expected shape {' or '.join(map(str, shapes))}, got {a.shape}")
    a = a.astype(float)
    if not np.all(np.isfinite(a)):
        raise PromptError(f"{field}: contains NaN or inf; replace them with finite numbers")
    return a


def load_model(args: argparse.Namespace, extra_queries: int = 0) -> Model:
    """Read the prompt and build mask, normalizers, ``W0`` and ``Gamma`` from the options.

    Conflicting options are refused first (:func:`check_conflicts`), and a prompt whose
    ``(n+m) x (n+m)`` attention matrices the machine cannot hold (``verify.limits``).
    """
    check_conflicts(args)
    prompt = load_prompt(args.prompt)
    n, m, d, k = prompt.n, prompt.m, prompt.d, prompt.k
    check_array("PROMPT", (n + m, n + m), what="the attention matrices of n + m tokens")
    files = (("attention-mask", args.attention_mask), ("w0", args.w0), ("preconditioner", args.preconditioner))
    for field, path in files:
        if path:
            check_npy_file(path, field)  # object dtypes and huge declared sizes, before numpy reads the data
    mask_for: Callable[[int, int], np.ndarray] | None
    if getattr(args, "rule", None) is not None:
        from ..rule import parse_rule

        rule = parse_rule(args.rule, query=args.query_rule)
        mask = check_mask(rule.mask(n, m), n, m, field="rule")  # the prover's compiled rule, validated
        # a rule that spells a named attention runs as that attention (the same numbers as --attention); any
        # other rule's mask is a user's mask to the engines: "custom", like a mask file
        attention, mask_for = named_spec_of(rule) or "custom", rule.mask
    elif args.attention_mask:
        mask = load_mask(args.attention_mask, n, m)
        attention, mask_for = "custom", None
    else:
        _, param = parse_attention(args.attention)
        if param is not None and param > MAX_ATTENTION_PARAM:  # numpy compares indices as int64
            raise PromptError(f"attention: parameter {param} of {args.attention!r} is above the limit of "
                              f"{MAX_ATTENTION_PARAM:,}; a window or block beyond n + m tokens is the same as n + m")
        mask = attention_mask(args.attention, n, m)
        attention = args.attention
        mask_for = lambda n_, m_: attention_mask(attention, n_, m_)  # noqa: E731
    c = normalizer(args.normalization, mask, args.scale)
    W0 = None
    if args.w0:
        W0 = _load_npy(args.w0, "w0", ((d,), (k, d)) if k == 1 else ((k, d),)).reshape(k, d)
    gamma = _load_npy(args.preconditioner, "preconditioner", ((d, d),)) if args.preconditioner else None
    return Model(prompt, attention, mask, c, W0, gamma, mask_for)


def check_eta(eta, field: str = "eta") -> float:
    if eta is None:
        raise PromptError(f"{field}: a step size is required; pass --{field} E with E > 0")
    if not np.isfinite(eta) or eta <= 0:
        raise PromptError(f"{field}: step size must be a finite number > 0, got {eta}")
    return float(eta)


def squeeze(a: np.ndarray, prompt: Prompt) -> np.ndarray:
    """Drop the output axis for single-output prompts (``y`` stored 1-D)."""
    return a[..., 0] if prompt.y.ndim == 1 else a
