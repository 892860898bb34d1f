"""Write a small random example prompt (.npz with X, y, Xq, yq) to try the other commands on.

The file is written exactly at OUT, whatever its name (no ``.npz`` is appended;
give the extension yourself); OUT must not be a directory, and the summary and
the JSON ``path`` report the path written.  ``-`` (or ``/dev/stdout``) writes the
.npz bytes to stdout; a link is written through to its target.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import PromptError
from ..limits import check_array
from ..output import Output, atomic_path
from ..prompt import example_prompt
from .common import add_json


def register(parser) -> None:
    parser.add_argument("out", metavar="OUT.npz", help="required: the file to write (exactly this path)")
    parser.add_argument("--n", type=int, default=12, help="optional: examples, >= 1 (default 12)")
    parser.add_argument("--d", type=int, default=3, help="optional: dimension, >= 1 (default 3)")
    parser.add_argument("--m", type=int, default=4, help="optional: queries, >= 0 (default 4)")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="optional: label noise standard deviation, >= 0 (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="optional: random seed, >= 0 (default 0)")
    parser.add_argument("--mu-x", type=float, default=0.0,
                        help="optional: the inputs' mean, added to every coordinate of x (default 0)")
    parser.add_argument("--sigma-x", type=float, default=1.0,
                        help="optional: the inputs' scale, x = mu_x + sigma_x u with u ~ U(-1, 1)^d, > 0 (default 1)")
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args) -> list:
    return [Output("OUT", args.out)]


def check_field(field: str, value) -> None:
    """Refuse one bad example-prompt option (PromptError naming ``field``); the sweep's grid uses it too."""
    if field in ("n", "d", "m") and value < (0 if field == "m" else 1):
        raise PromptError(f"{field}: must be a positive integer, got {value}")
    if field == "seed" and value < 0:
        raise PromptError(f"seed: must be an integer >= 0, got {value}")
    if field == "noise" and not (math.isfinite(value) and value >= 0):
        raise PromptError(f"noise: the label noise must be a finite number >= 0, got {value}")
    if field == "mu_x" and not math.isfinite(value):
        raise PromptError(f"mu_x: the inputs' mean must be a finite number, got {value}")
    if field == "sigma_x" and not (math.isfinite(value) and value > 0):
        raise PromptError(f"sigma_x: the inputs' scale must be a finite number > 0, got {value}")


#: the options of example-prompt that shape the prompt (the sweep's prompt axes)
PROMPT_OPTIONS = ("n", "d", "m", "noise", "seed", "mu_x", "sigma_x")


def run(args):
    for field in PROMPT_OPTIONS:
        check_field(field, getattr(args, field))
    check_array("n", (args.n, args.d), what="X")
    check_array("m", (args.m, args.d), what="Xq")
    p = example_prompt(args.n, args.d, args.m, args.seed, args.noise, args.mu_x, args.sigma_x)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, X=p.X, y=p.y, Xq=p.Xq, yq=p.yq)  # a file object: numpy appends no ".npz"
    result = {"path": args.out, "n": p.n, "d": p.d, "m": p.m}
    return result, f"wrote {args.out}: n = {p.n} examples, d = {p.d}, m = {p.m} queries", True
