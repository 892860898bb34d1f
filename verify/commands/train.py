"""Train an LSA stack on in-context linear regression (JAX + optax, the optional [train] extra).

The stack is the package's own layer (verify.lsa) run on JAX arrays, each layer
with free K^T Q and P V matrices initialized small at random, trained with Adam
on fresh prompts x ~ N(0, I) (or U(-1, 1)^d) + mu_x, w ~ N(0, I), to minimize the
query MSE.  Writes WEIGHTS.npz (KQ, PV of shape (L, d+k, d+k) and the training
settings as scalar arrays, for `derive --fit`) and the loss curve beside it:
STEM_loss.csv and STEM_loss.png.
"""
from __future__ import annotations

import math
import os
import time

from ..errors import PromptError
from ..output import Output, replace_file, stream_of
from .common import add_json


def register(parser) -> None:
    parser.add_argument("--attention", default="prefix",
                        help="optional: prefix | causal (or any named attention; default prefix)")
    parser.add_argument("--layers", type=int, default=1, help="optional: number of LSA layers L (default 1)")
    parser.add_argument("--d", type=int, default=4, help="optional: input dimension d (default 4)")
    parser.add_argument("--k", type=int, default=1, help="optional: outputs per label k (default 1)")
    parser.add_argument("--n", type=int, default=20, help="optional: in-context examples per prompt (default 20)")
    parser.add_argument("--m", type=int, default=8, help="optional: queries per prompt (default 8)")
    parser.add_argument("--steps", type=int, default=2000, help="optional: Adam steps (default 2000)")
    parser.add_argument("--batch", type=int, default=64, help="optional: prompts per step (default 64)")
    parser.add_argument("--lr", type=float, default=3e-2,
                        help="optional: peak learning rate (default 0.03; warm-up, cosine decay)")
    parser.add_argument("--seed", type=int, default=0, help="optional: random seed (default 0)")
    parser.add_argument("--x-dist", default="normal", choices=("normal", "uniform"),
                        help="optional: x ~ N(0, I) or U(-1, 1)^d, plus --mu-x (default normal)")
    parser.add_argument("--mu-x", type=float, default=0.0, help="optional: shift of every input coordinate (default 0)")
    parser.add_argument("--noise", type=float, default=0.0, help="optional: label noise on the examples (default 0)")
    parser.add_argument("--normalization", default="constant", choices=("constant", "count"),
                        help="optional: constant c_j = C, or count c_j = |A(j)| (default constant)")
    parser.add_argument("--scale", type=float, metavar="C", help="optional: the constant normalizer c (default n)")
    parser.add_argument("--init-scale", type=float, default=1e-3,
                        help="optional: std of the initial weights (default 0.001)")
    parser.add_argument("--out", required=True, metavar="WEIGHTS.npz", help="required: where to write the weights")
    parser.add_argument("--no-progress", action="store_true", help="optional: hide the progress bar on stderr")
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args) -> list:
    """The weights, the loss CSV and the loss PNG (checked by the CLI before training starts)."""
    if stream_of(args.out):
        raise PromptError(f"out: {args.out!r} is a stream, but the loss curve is written beside the weights; "
                          f"give a file path such as weights.npz")
    return [Output("out", path) for path in (args.out, *loss_paths(args.out))]


def loss_paths(out: str) -> tuple:
    """``STEM_loss.csv`` and ``STEM_loss.png`` beside ``out`` (``STEM`` is ``out`` without ``.npz``)."""
    stem = out[:-4] if out.endswith(".npz") else out
    return f"{stem}_loss.csv", f"{stem}_loss.png"


def _check_out(out: str) -> None:
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise PromptError(f"out: {out!r} is a directory; give a file name such as weights.npz")
    if not os.path.isdir(folder):
        raise PromptError(f"out: directory {folder!r} does not exist; create it or give another path")
    if not os.access(folder, os.W_OK):
        raise PromptError(f"out: directory {folder!r} is not writable; give a writable path")


def write_outputs(result, out: str) -> list:
    """Write the weights (with the settings as scalar arrays), the loss CSV and the loss PNG."""
    import numpy as np

    from ..plots_e4 import plot_loss

    arrays = {"KQ": result.KQ, "PV": result.PV}
    arrays.update({key: np.asarray(value) for key, value in result.config.metadata().items()})
    replace_file(out, lambda fh: np.savez(fh, **arrays))
    csv_path, png_path = loss_paths(out)
    lines = "step,loss\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(result.losses))
    replace_file(csv_path, lambda fh: fh.write(lines.encode()))
    replace_file(png_path, lambda fh: plot_loss(result.losses, fh, f"{result.config.attention}LM, "
                                                                f"{result.config.layers} layer(s)"))
    return [out, csv_path, png_path]


def run(args):
    from ..limits import check_training
    from ..train import require_extra

    # the LSA stack's memory and work, refused up front (a run that is admitted finishes), before JAX loads
    check_training(args.d, args.k, args.n, args.m, args.layers, args.batch, args.steps)
    require_extra()  # before anything is written: the one-line missing-extra error
    from ..regression import TaskDistribution
    from ..train import TrainConfig, train

    if args.scale is not None and args.normalization == "count":
        raise PromptError("scale: --scale sets the constant normalizer c; the count normalizer c_j = |A(j)| takes "
                          "none (drop --scale or use --normalization constant)")
    if args.seed < 0:
        raise PromptError(f"seed: must be an integer >= 0, got {args.seed}")
    for name in ("mu_x", "noise", "lr"):
        if not math.isfinite(getattr(args, name)):
            raise PromptError(f"{name.replace('_', '-')}: must be a finite number, got {getattr(args, name)}")
    dist = TaskDistribution(d=args.d, n=args.n, m=args.m, k=args.k, x_dist=args.x_dist, mu_x=args.mu_x,
                            noise=args.noise)
    config = TrainConfig(distribution=dist, attention=args.attention, layers=args.layers, steps=args.steps,
                         batch=args.batch, lr=args.lr, seed=args.seed, normalization=args.normalization,
                         scale=args.scale, init_scale=args.init_scale)
    _check_out(args.out)
    start = time.perf_counter()
    result = train(config, show=not args.no_progress)
    seconds = time.perf_counter() - start
    files = write_outputs(result, args.out)
    window = max(1, min(20, len(result.losses)))
    first, last = float(result.losses[:window].mean()), float(result.losses[-window:].mean())
    out = {"weights": files[0], "loss_csv": files[1], "loss_png": files[2], "initial_loss": first,
           "final_loss": last, "seconds": seconds, "settings": config.metadata()}
    summary = (f"trained {args.attention} L = {args.layers} (d = {args.d}, n = {args.n}) for {args.steps} steps in "
               f"{seconds:.1f} s: loss {first:.4g} -> {last:.4g}; wrote {', '.join(files)}")
    return out, summary, True
