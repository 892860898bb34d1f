"""Benchmark: steps per second of ``train --model transformer --preset cpu``, compiled against eager.

Both sides run :func:`verify.transformer_train.train` in this process on the CPU preset's
model (same prompts, same initial weights); the baseline runs the same step without
``jax.jit``, every array operation of the forward pass, the gradient and Adam dispatched
from Python one by one.  The compiled side is timed after its first (compiling) step,
which is reported separately.  The first losses of both must agree (float32 rounding of
fused and op-by-op kernels differs slightly).

Usage::

    python benchmarks/bench_transformer.py [--steps 100] [--eager-steps 10] [--attention causal]

Exit status 0 when compiled steps are at least ``--target`` (default 5) times faster and the losses agree.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from verify.transformer import preset_config, require_flax
from verify.transformer_train import train


def steps_per_second(config, jit: bool) -> tuple:
    """``(seconds of the first step, steps per second after it, losses)``."""
    start = time.perf_counter()
    first = train(config.__class__(**{**config.metadata(), "steps": 1}), show=False, jit=jit)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    state = train(config, resume=first, show=False, jit=jit)
    seconds = time.perf_counter() - start
    return first_seconds, (config.steps - 1) / seconds, state.losses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--eager-steps", type=int, default=10)
    parser.add_argument("--attention", default="causal")
    parser.add_argument("--target", type=float, default=5.0)
    args = parser.parse_args(argv)
    require_flax()
    compiled_first, compiled_rate, compiled = steps_per_second(preset_config("cpu", attention=args.attention,
                                                                             steps=args.steps), jit=True)
    eager_first, eager_rate, eager = steps_per_second(preset_config("cpu", attention=args.attention,
                                                                    steps=args.eager_steps), jit=False)
    agree = bool(np.allclose(compiled[:3], eager[:3], rtol=1e-3))
    ratio = compiled_rate / eager_rate
    preset = preset_config("cpu")
    print(f"cpu preset ({preset.layers} layers, width {preset.width}, batch {preset.batch}), {args.attention}: "
          f"compiled {compiled_rate:.1f} steps/s (first step with compilation {compiled_first:.1f} s), eager "
          f"{eager_rate:.2f} steps/s, ratio {ratio:.1f}x; the {preset.steps} steps of the preset take about "
          f"{preset.steps / compiled_rate:.0f} s compiled; first losses agree: {agree}")
    return 0 if agree and ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
