"""``icl-verify train --model transformer``: build the settings, validate, train, evaluate (issue 22)."""
from __future__ import annotations

import time

from ..errors import Interrupted
from .common import given

#: options given on the command line override the preset's value (dest names of verify.transformer.TransformerConfig)
OVERRIDES = ("task", "rule", "heads", "width", "exemplars", "evaluated", "queries", "classes", "test_tasks",
             "checkpoint_every")
#: options shared with --model lsa, which have LSA defaults: they override the preset only when given
SHARED = ("attention", "layers", "d", "steps", "batch", "lr")


def config_of(args):
    """The :class:`verify.transformer.TransformerConfig` of the command line (PromptError on a bad value)."""
    from ..transformer import preset_config

    values = {name: getattr(args, name) for name in OVERRIDES}
    values.update({name: getattr(args, name) for name in SHARED if given(args, name)})
    return preset_config(args.preset or "cpu", seed=args.seed, shared_block=args.shared_block, **values)


def run_transformer(args):
    from ..transformer import mask_table, require_flax

    # sizes, options and --rule first (numpy only, well under a second), then the libraries
    config = config_of(args)
    mask_table(config)  # parses --rule and builds every mask: refused here, before any training
    require_flax()  # the one-line missing-extra error before anything is written
    from ..transformer_train import evaluate, load_checkpoint, train

    resume = load_checkpoint(args.resume, config) if args.resume else None
    start = time.perf_counter()
    state = train(config, out=args.out, resume=resume, show=not args.no_progress)
    seconds = time.perf_counter() - start
    try:
        metrics = evaluate(config, state.params)
    except KeyboardInterrupt:
        raise Interrupted(f"training finished and its checkpoint (step {state.step}) is in {args.out}; the "
                          f"evaluation was cut short (rerun with --resume {args.out} to evaluate)") from None
    window = max(1, min(50, len(state.losses)))
    out = {**metrics, "steps": state.step, "seconds": seconds, "checkpoint": args.out,
           "initial_loss": sum(state.losses[:window]) / window, "final_loss": sum(state.losses[-window:]) / window,
           "settings": config.metadata()}
    if config.task == "classification":
        score = (f"test accuracy {metrics['test_accuracy']:.3f} (best constant class "
                 f"{metrics['constant_accuracy']:.3f})")
    else:
        score = f"test MSE {metrics['test_mse']:.4g} (zero predictor {metrics['zero_mse']:.4g}"
        score += f", least squares {metrics['least_squares_mse']:.3g})" if "least_squares_mse" in metrics else ")"
    summary = (f"trained a {config.layers}-layer {config.model_name} transformer on {config.task} tasks "
               f"(d = {config.d}, positions {metrics['positions'][0]}..{metrics['positions'][-1]}) for "
               f"{state.step} steps in {seconds:.1f} s: {score}; wrote {args.out}")
    return out, summary, True
