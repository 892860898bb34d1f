"""Benchmark: ``icl-verify train``'s compiled training step vs the same step run eagerly, op by op.

Both sides run :func:`verify.train.train` in this process on the same configuration
(the package's layer on JAX arrays, Adam, fresh prompts each step); the baseline
disables ``jax.jit`` (``jax.disable_jit()``), so every array operation of the layer,
the gradient and the optimizer is dispatched separately from Python, as a script
without compilation would run.  The compiled side's time includes its compilation.
Both see the same prompts and initial weights: their first losses must agree and
their final weights nearly (float32 rounding differs between fused and op-by-op kernels).

Usage::

    python benchmarks/bench_train.py [--steps 200] [--layers 2] [--attention causal]
    python benchmarks/bench_train.py --model transformer [--steps 100] [--eager-steps 10]

``--model transformer`` runs ``benchmarks/bench_transformer.py`` instead: steps per second of
``train --model transformer --preset cpu``, compiled against eager (issue 22).

Exit status 0 when the ratio reaches ``--target`` (default 5) and the losses agree.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from verify.train import TrainConfig, require_extra, train


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["--model", "transformer"]:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_transformer import main as transformer_main

        return transformer_main(argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--attention", default="causal")
    parser.add_argument("--target", type=float, default=5.0)
    args = parser.parse_args(argv)
    jax, _ = require_extra()
    config = TrainConfig(attention=args.attention, layers=args.layers, steps=args.steps)
    start = time.perf_counter()
    compiled = train(config, show=False)
    compiled_time = time.perf_counter() - start
    with jax.disable_jit():
        start = time.perf_counter()
        eager = train(config, show=False)
        eager_time = time.perf_counter() - start
    # float32 rounding differs between fused and op-by-op kernels and compounds over the steps, so compare the
    # first steps tightly and the final weights loosely
    early = bool(np.allclose(compiled.losses[:10], eager.losses[:10], rtol=1e-4))
    final = float(np.linalg.norm(compiled.KQ - eager.KQ) / np.linalg.norm(eager.KQ))
    agree = early and final < 0.05
    ratio = eager_time / compiled_time
    print(f"{args.steps} steps, {args.attention}, {args.layers} layers: compiled {compiled_time:.2f} s "
          f"(with compilation), eager {eager_time:.2f} s, ratio {ratio:.1f}x; first losses agree: {early}, "
          f"final KQ relative difference {final:.2g}")
    return 0 if agree and ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
