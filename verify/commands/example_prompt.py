"""Write a small random example prompt (.npz with X, y, Xq, yq) to try the other commands on."""
from __future__ import annotations

import os

import numpy as np

from ..errors import PromptError
from ..prompt import example_prompt
from .common import add_json


def register(parser) -> None:
    parser.add_argument("out", metavar="OUT.npz", help="where to write the prompt")
    parser.add_argument("--n", type=int, default=12, help="examples (default 12)")
    parser.add_argument("--d", type=int, default=3, help="dimension (default 3)")
    parser.add_argument("--m", type=int, default=4, help="queries (default 4)")
    parser.add_argument("--noise", type=float, default=0.0, help="label noise standard deviation (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    add_json(parser)
    parser.set_defaults(run=run)


def run(args):
    for field in ("n", "d", "m"):
        if getattr(args, field) < (0 if field == "m" else 1):
            raise PromptError(f"{field}: must be a positive integer, got {getattr(args, field)}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise PromptError(f"OUT: directory of {args.out!r} does not exist; create it first")
    p = example_prompt(args.n, args.d, args.m, args.seed, args.noise)
    np.savez(args.out, X=p.X, y=p.y, Xq=p.Xq, yq=p.yq)
    result = {"path": args.out, "n": p.n, "d": p.d, "m": p.m}
    return result, f"wrote {args.out}: n = {p.n} examples, d = {p.d}, m = {p.m} queries", True
