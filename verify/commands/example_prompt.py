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
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args) -> list:
    return [Output("OUT", args.out)]


def run(args):
    for field in ("n", "d", "m"):
        if getattr(args, field) < (0 if field == "m" else 1):
            raise PromptError(f"{field}: must be a positive integer, got {getattr(args, field)}")
    if args.seed < 0:
        raise PromptError(f"seed: must be an integer >= 0, got {args.seed}")
    if not (math.isfinite(args.noise) and args.noise >= 0):
        raise PromptError(f"noise: the label noise must be a finite number >= 0, got {args.noise}")
    check_array("n", (args.n, args.d), what="X")
    check_array("m", (args.m, args.d), what="Xq")
    p = example_prompt(args.n, args.d, args.m, args.seed, args.noise)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, X=p.X, y=p.y, Xq=p.Xq, yq=p.yq)  # a file object: numpy appends no ".npz"
    result = {"path": args.out, "n": p.n, "d": p.d, "m": p.m}
    return result, f"wrote {args.out}: n = {p.n} examples, d = {p.d}, m = {p.m} queries", True
