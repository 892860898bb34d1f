"""Train an LSA stack (or, with --model transformer, a Flax softmax transformer) on in-context tasks ([train] extra).

The stack is the package's own layer (verify.lsa) run on JAX arrays, each layer
with free K^T Q and P V matrices initialized small at random, trained with Adam
on fresh prompts x ~ N(0, I) (or U(-1, 1)^d) + mu_x, w ~ N(0, I), to minimize the
query MSE.  At most 4 layers (deeper free stacks overflow float32 during training); a
loss that stops being finite ends the run in one line naming --lr (exit 2, nothing written).
Writes WEIGHTS.npz (KQ, PV of shape (L, d+k, d+k) and the training
settings as scalar arrays, for `derive --fit`) and the loss curve beside it:
STEM_loss.csv and STEM_loss.png.

With ``--model transformer`` (issue 22; needs Flax too): a softmax transformer (Flax) on
in-context linear regression, non-linear regression or classification (``--task``), with
the mask of ``--attention`` or ``--rule``, sizes from ``--preset cpu`` (default) or
``--preset paper``; writes a checkpoint to ``--out`` (every ``--checkpoint-every`` steps,
at the end and on Ctrl-C, exit 130) and reports the test error per in-context position
against the zero predictor and least squares.  ``--resume CKPT`` continues a run.  A
non-finite loss ends it as for the LSA stack, writing nothing more (the checkpoint already
at ``--out``, checked finite, stays).
"""
from __future__ import annotations

import math
import os
import time

from ..errors import PromptError
from ..output import Output, replace_file, stream_of
from .common import Explicit, add_json, given


def register(parser) -> None:
    from ..train import MAX_LAYERS

    parser.add_argument("--model", default="lsa", choices=("lsa", "transformer"),
                        help="optional: lsa (the package's LSA stack) or transformer (a Flax softmax transformer, "
                             "the paper's section 5.2; options marked [transformer]) (default lsa)")
    parser.add_argument("--attention", default="prefix", action=Explicit,
                        help="optional: prefix | causal (or any named attention; default prefix)")
    parser.add_argument("--layers", type=int, default=1, action=Explicit,
                        help=f"optional: number of layers L, at most {MAX_LAYERS} for the LSA stack (deeper free "
                             f"stacks overflow float32 during training at any --lr) (default 1; transformer: the "
                             f"preset's)")
    parser.add_argument("--d", type=int, default=4, action=Explicit,
                        help="optional: input dimension d (default 4; transformer: the preset's)")
    parser.add_argument("--k", type=int, default=1, action=Explicit, help="optional: outputs per label k (default 1)")
    parser.add_argument("--n", type=int, default=20, action=Explicit,
                        help="optional: in-context examples per prompt (default 20)")
    parser.add_argument("--m", type=int, default=8, action=Explicit, help="optional: queries per prompt (default 8)")
    parser.add_argument("--steps", type=int, default=2000, action=Explicit,
                        help="optional: Adam steps (default 2000; transformer: the preset's)")
    parser.add_argument("--batch", type=int, default=64, action=Explicit,
                        help="optional: prompts per step (default 64; transformer: the preset's)")
    parser.add_argument("--lr", type=float, default=3e-2, action=Explicit,
                        help="optional: peak learning rate (default 0.03; warm-up, cosine decay; transformer: the "
                             "preset's, warm-up then constant); a run whose loss stops being finite ends (checked "
                             "every 50 steps, at checkpoints and at the end) with one line naming --lr and that step, "
                             "exit 2, nothing written (transformer: --out keeps the run's last checkpoint, whose "
                             "losses and weights are finite, and the line names its step)")
    parser.add_argument("--seed", type=int, default=0, help="optional: random seed (default 0)")
    parser.add_argument("--x-dist", default="normal", choices=("normal", "uniform"), action=Explicit,
                        help="optional: x ~ N(0, I) or U(-1, 1)^d, plus --mu-x (default normal)")
    parser.add_argument("--mu-x", type=float, default=0.0, action=Explicit,
                        help="optional: shift of every input coordinate (default 0)")
    parser.add_argument("--noise", type=float, default=0.0, action=Explicit,
                        help="optional: label noise on the examples (default 0)")
    parser.add_argument("--normalization", default="constant", choices=("constant", "count"), action=Explicit,
                        help="optional: constant c_j = C, or count c_j = |A(j)| (default constant)")
    parser.add_argument("--scale", type=float, metavar="C", help="optional: the constant normalizer c (default n)")
    parser.add_argument("--init-scale", type=float, default=1e-3, action=Explicit,
                        help="optional: std of the initial weights (default 0.001)")
    parser.add_argument("--out", required=True, metavar="WEIGHTS.npz",
                        help="required: where to write the weights (transformer: the checkpoint, .npz)")
    parser.add_argument("--no-progress", action="store_true", help="optional: hide the progress bar on stderr")
    add_transformer_options(parser)
    add_json(parser)
    parser.set_defaults(run=run, outputs=outputs)


#: options of one model only: refused with the other (dest -> the model that takes it)
LSA_ONLY = ("k", "n", "m", "x_dist", "mu_x", "noise", "normalization", "scale", "init_scale")
TRANSFORMER_ONLY = ("task", "rule", "heads", "width", "preset", "exemplars", "evaluated", "queries", "classes",
                    "test_tasks", "checkpoint_every", "resume")


def add_transformer_options(parser) -> None:
    """The options of ``--model transformer`` (``None``: the preset's value)."""
    parser.add_argument("--task", choices=("linear", "nonlinear", "classification"),
                        help="optional: [transformer] linear (y = w^T x), nonlinear (y = sigmoid(w^T x)) or "
                             "classification (argmax of x^T W, one-hot labels) (default linear)")
    parser.add_argument("--rule", metavar="TEXT",
                        help="optional: [transformer] your own rule over examples instead of --attention "
                             "(the grammar of prove --rule)")
    parser.add_argument("--shared-block", action="store_true",
                        help="optional: [transformer] one block shared by all layers (the paper's shared_block)")
    parser.add_argument("--preset", choices=("cpu", "paper"),
                        help="optional: [transformer] cpu (a few minutes on 2 cores: 3 layers, 2 heads, width 64, "
                             "d = 4, 16 exemplars of which 8 evaluated, 1500 steps, lr 1e-3) or paper (12 layers, "
                             "8 heads, width 512, d = 20, 40 exemplars of which 20 evaluated, lr 1e-4, 500000 "
                             "steps: for an accelerator) (default cpu)")
    for name, what in (("heads", "attention heads"), ("width", "model width (a multiple of --heads)"),
                       ("exemplars", "points per sequence N"),
                       ("evaluated", "evaluated positions E: queries read N - E .. N - 1 examples"),
                       ("queries", "queries per sequence m"), ("classes", "classes of --task classification"),
                       ("test-tasks", "fresh test tasks per position"),
                       ("checkpoint-every", "write the checkpoint every this many steps")):
        parser.add_argument(f"--{name}", type=int, help=f"optional: [transformer] {what} (default: the preset's)")
    parser.add_argument("--resume", metavar="CKPT.npz",
                        help="optional: [transformer] continue from this checkpoint (the same settings; it may be "
                             "--out itself; one holding a non-finite loss or weight is refused)")


def outputs(args) -> list:
    """The weights, the loss CSV and the loss PNG (checked by the CLI before training starts);
    the checkpoint alone for ``--model transformer``."""
    if args.model == "transformer":
        if stream_of(args.out):
            raise PromptError(f"out: {args.out!r} is a stream, but the checkpoint is a file that --resume reads; "
                              f"give a file path such as run.npz")
        return [Output("out", args.out)]
    if stream_of(args.out):
        raise PromptError(f"out: {args.out!r} is a stream, but the loss curve is written beside the weights; "
                          f"give a file path such as weights.npz")
    return [Output("out", path) for path in (args.out, *loss_paths(args.out))]


def check_model_options(args) -> None:
    """Refuse an option of the other model (one line naming it)."""
    if args.model == "transformer":
        wrong = [name for name in LSA_ONLY if given(args, name) or (name == "scale" and args.scale is not None)]
        if wrong:
            raise PromptError(f"{wrong[0].replace('_', '-')}: --{wrong[0].replace('_', '-')} sets the LSA model; "
                              f"drop it or use --model lsa")
        if args.rule is not None and given(args, "attention"):
            raise PromptError("rule: --rule and --attention both say who attends to whom; give one of them")
        return
    wrong = [name for name in TRANSFORMER_ONLY if getattr(args, name) is not None]
    wrong += ["shared_block"] if args.shared_block else []
    if wrong:
        raise PromptError(f"{wrong[0].replace('_', '-')}: --{wrong[0].replace('_', '-')} sets the transformer; "
                          f"add --model transformer or drop it")


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
    check_model_options(args)
    if args.model == "transformer":
        from .train_transformer import run_transformer

        return run_transformer(args)
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
