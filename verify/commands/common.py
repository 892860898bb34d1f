"""Options shared by the commands that run the model on a user's prompt."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from .. import masks, normalizers  # the model, looked up at call time: a replaced name is what runs
from ..errors import PromptError
from ..limits import MAX_ATTENTION_PARAM, check_array
from ..masks import ATTENTION_HELP, NamedMask, check_mask, load_mask, named_spec_of, parse_attention
from ..prompt import Prompt, check_npy_file, load_prompt


class Explicit(argparse.Action):
    """Store the value and remember that the user gave the option (``given(args, dest)``),
    so an option that conflicts with another is refused even when its value equals the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.explicit = set(getattr(namespace, "explicit", None) or ()) | {self.dest}


def number(text: str) -> float:
    """``float(text)`` for an option, refusing a number float64 turns into 0 or inf (``1e-400``, ``1e400``) with
    what happened, instead of a later "must be > 0, got 0.0" that blames a value the user never typed."""
    value = float(text)
    spelled = text.strip().lower().lstrip("+-")
    if math.isinf(value) and spelled not in ("inf", "infinity"):
        raise argparse.ArgumentTypeError(f"{text!r} is beyond float64's range (largest about 1.8e308)")
    if value == 0 and any(ch in "123456789" for ch in spelled.split("e")[0]):
        raise argparse.ArgumentTypeError(f"{text!r} rounds to 0 in float64 (smallest positive about 4.9e-324)")
    return value


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
                        help=f"optional: {ATTENTION_HELP}; default prefix (a named attention is kept as its "
                             "rule: no (n+m)^2 matrix); not with --attention-mask or --rule")
    parser.add_argument("--attention-mask", metavar="FILE.npy",
                        help="optional: boolean (n+m, n+m) mask, [i, j] true when token j reads token i; "
                             "replaces --attention (give one or the other)")
    add_rule_options(parser)
    parser.add_argument("--normalization", default="constant", choices=("constant", "count"),
                        help="optional: constant c_j = C, or count c_j = |A(j)| (default constant)")
    parser.add_argument("--scale", type=number, default=1.0, metavar="C", action=Explicit,
                        help="optional: the constant normalizer c > 0 (default 1); not with --normalization count")
    parser.add_argument("--w0", metavar="FILE.npy",
                        help="optional: initial weight w_0, shape (d,) or (k, d) (default 0)")
    parser.add_argument("--preconditioner", metavar="FILE.npy",
                        help="optional: Gamma (d, d) in the top-left block of K^T Q (default I)")
    if eta is not None:
        parser.add_argument("--eta", type=number, metavar="E", help=f"{eta}: step size eta > 0 (P = eta I)")
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
    scale = getattr(args, "scale", None)
    if isinstance(scale, float) and 0 < scale < np.finfo(float).tiny:  # subnormal: 1/c overflows, c loses digits
        raise PromptError(f"scale: c = {scale:g} is below the smallest normal float64 ({np.finfo(float).tiny:.4g}); "
                          f"give a larger --scale")


@dataclass(frozen=True)
class Model:
    """A prompt with everything the model needs to run on it."""

    prompt: Prompt
    attention: str
    mask: np.ndarray | NamedMask  # a named attention stays its rule (verify.masks.NamedMask); a file is dense
    c: np.ndarray
    W0: np.ndarray | None
    gamma: np.ndarray | None

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


def load_model(args: argparse.Namespace, extra_queries: int = 0, check=None) -> Model:
    """Read the prompt and build mask, normalizers, ``W0`` and ``Gamma`` from the options.

    Conflicting options are refused first (:func:`check_conflicts`).  A named attention
    is kept as its rule (:class:`verify.masks.NamedMask`: nothing of size ``(n+m)^2``, the
    ``count`` normalizer in ``O(n + m)``); only an ``--attention-mask`` file is a dense
    ``(n+m) x (n+m)`` matrix, refused up front when the machine cannot hold its float
    counterparts (``verify.limits``).  ``check(n, d, m, k)`` runs on the sizes of the prompt's
    headers before its data is read (:func:`verify.prompt.load_prompt`).
    """
    check_conflicts(args)
    if not args.attention_mask:
        _, param = parse_attention(args.attention)
        if param is not None and param > MAX_ATTENTION_PARAM:  # numpy compares indices as int64
            raise PromptError(f"attention: parameter {param} of {args.attention!r} is above the limit of "
                              f"{MAX_ATTENTION_PARAM:,}; a window or block beyond n + m tokens is the same as n + m")
    prompt = load_prompt(args.prompt, check)
    n, m, d, k = prompt.n, prompt.m, prompt.d, prompt.k
    if args.attention_mask:
        check_array("PROMPT", (n + m, n + m), what="the attention matrices of n + m tokens")
    files = (("attention-mask", args.attention_mask), ("w0", args.w0), ("preconditioner", args.preconditioner))
    for field, path in files:
        if path:
            check_npy_file(path, field)  # object dtypes and huge declared sizes, before numpy reads the data
    attention = load_mask(args.attention_mask, n, m) if args.attention_mask else args.attention
    if getattr(args, "rule", None) is not None:
        from ..rule import parse_rule

        rule = parse_rule(args.rule, query=args.query_rule)
        # a rule that spells a named attention runs as that attention (the same numbers as --attention); any
        # other rule is a user's mask to the engines, validated like a mask file
        attention = named_spec_of(rule) or check_mask(rule.mask(n, m), n, m, field="rule")
    W0 = None
    if args.w0:
        W0 = _load_npy(args.w0, "w0", ((d,), (k, d)) if k == 1 else ((k, d),)).reshape(k, d)
    gamma = _load_npy(args.preconditioner, "preconditioner", ((d, d),)) if args.preconditioner else None
    return model_of(prompt, attention, args.normalization, args.scale, W0, gamma)


def model_of(prompt: Prompt, attention, normalization: str = "constant", scale=1.0, W0=None, gamma=None) -> Model:
    """The model on a prompt: the named ``attention``'s mask (or a given boolean mask, ``"custom"``),
    the normalizer, ``W0`` and ``Gamma``.  What every command runs (through :func:`load_model`) and what
    ``prove``'s engine conformance (E0, ``proofs/conformance.py``) runs: model names looked up at call time."""
    if isinstance(attention, str):
        mask = masks.named_mask(attention, prompt.n, prompt.m)  # kept as its rule (no (n + m)^2 array)
    else:
        mask, attention = attention, "custom"
    c = normalizers.normalizer(normalization, mask, scale)
    return Model(prompt, attention, mask, c, W0, gamma)


def check_eta(eta, field: str = "eta") -> float:
    if eta is None:
        raise PromptError(f"{field}: a step size is required; pass --{field} E with E > 0")
    if not np.isfinite(eta) or eta <= 0:
        raise PromptError(f"{field}: step size must be a finite number > 0, got {eta}")
    return float(eta)


def squeeze(a: np.ndarray, prompt: Prompt) -> np.ndarray:
    """Drop the output axis for single-output prompts (``y`` stored 1-D)."""
    return a[..., 0] if prompt.y.ndim == 1 else a
