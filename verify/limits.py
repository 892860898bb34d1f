"""Every size limit of the command line, in one place.

A size the machine cannot hold is refused before anything is allocated, with
the limit named, instead of ending in a MemoryError (or a swap storm) halfway:

- ``MAX_ARRAY_BYTES``: one dense array built from user-given sizes (a prompt's
  arrays, the ``(n+m) x (n+m)`` attention matrices, the layer-by-layer states
  of ``simulate``, the experiments' task batches).
- ``MAX_LAYERS``: the depth of a stack (``--layers``, ``--eta-schedule``).
- ``MAX_ATTENTION_PARAM``: the parameter of ``sliding:K``, ``block:B``, ``hybrid:P``.
- ``MAX_TEXT_CHARS`` and ``MAX_TEXT_DEPTH``: text typed or read as a structure
  (JSON matrices, rule text, schedules), checked before it is parsed.
- ``MAX_DERIVE_SIDE`` / ``MAX_DERIVE_SIDE_SYMBOLIC``: the side ``d + 1`` of the
  matrices ``derive`` classifies, numeric (exact rationals) or with names
  (the symbolic engine's cost grows quickly with ``d``).
"""
from __future__ import annotations

import math

from .errors import PromptError

#: 2 GiB: one dense array the toolkit allocates from sizes a user gives
MAX_ARRAY_BYTES = 2 ** 31
#: layers of a stack (simulate, rate, schedules)
MAX_LAYERS = 1_000_000
#: the K, B or P of sliding:K, block:B, hybrid:P (token indices are int64 in numpy)
MAX_ATTENTION_PARAM = 2 ** 31
#: characters of one structured text input (a matrix, a rule, a schedule)
MAX_TEXT_CHARS = 4_000_000
#: nesting depth of structured text; a matrix needs 2
MAX_TEXT_DEPTH = 16
#: numeric derive matrices up to 80 x 80 (exact rationals: zero tests and products; a few seconds)
MAX_DERIVE_SIDE = 80
#: derive matrices holding names up to 6 x 6 (polynomial identities in SymPy; a few seconds)
MAX_DERIVE_SIDE_SYMBOLIC = 6


def _human(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} EiB"  # pragma: no cover


def check_array(field: str, shape, itemsize: int = 8, what: str = "an array") -> None:
    """Refuse an array of ``shape`` (``prod(shape) * itemsize`` bytes) above ``MAX_ARRAY_BYTES``.

    Raises
    ------
    PromptError : naming ``field``, the bytes needed and the limit.
    """
    size = math.prod(int(s) for s in shape) * int(itemsize)
    if size > MAX_ARRAY_BYTES:
        dims = " x ".join(str(int(s)) for s in shape)
        raise PromptError(f"{field}: {what} ({dims}) would need {_human(size)}; the limit is "
                          f"{_human(MAX_ARRAY_BYTES)} per array (verify.limits.MAX_ARRAY_BYTES): use smaller sizes")


def check_layers(field: str, layers: int) -> None:
    """Refuse a depth outside ``0..MAX_LAYERS``."""
    if layers < 0:
        raise PromptError(f"{field}: must be >= 0, got {layers}")
    if layers > MAX_LAYERS:
        raise PromptError(f"{field}: {layers} layers is above the limit of {MAX_LAYERS:,}; use fewer layers")


# ----------------------------------------------------------------------------- whole-run budgets
#
# Besides one array, a run is refused up front when its estimated peak memory or its
# estimated work exceeds what the reference machine (2 cores, 24 GB, shared) can give,
# so a run that is admitted finishes.  The estimates count the arrays and the
# floating-point operations of the method the command will actually use (formulas in
# each function); they are upper-end figures, within a small factor of measured runs.

#: peak memory one run may plan for: a third of the 24 GB machine (other work shares it)
MAX_MEMORY_BYTES = 8 * 2**30
#: floating-point operations one run may plan for: about 10 minutes at ~2 GFLOP/s on 2 busy cores
MAX_WORK = 1e12
#: the rate the work limit assumes, used only to say how long a refused run would take
FLOPS_PER_SECOND = 2e9
#: JAX traces every layer of the stack into one compiled program: memory and work per layer of compiling
COMPILE_BYTES_PER_LAYER = 4 * 2**20
COMPILE_WORK_PER_LAYER = 1e9
#: fixed cost of one training step (sampling, dispatch), as operations
STEP_WORK = 1e7
#: the JAX runtime's own memory
JAX_BYTES = 512 * 2**20


def lsa_layer_work(tokens: int, width: int) -> float:
    """Operations of one LSA layer on one prompt: scores ``Z^T (K^T Q Z)`` and update ``(P V Z) S``,
    ``4 D T^2 + 4 D^2 T`` for ``T`` tokens of width ``D`` (multiply and add counted)."""
    return 4.0 * width * tokens**2 + 4.0 * width**2 * tokens


def _duration(work: float) -> str:
    seconds = work / FLOPS_PER_SECOND
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} seconds"


def check_budget(field: str, what: str, memory: float, work: float, fix: str) -> None:
    """Refuse a run whose estimated peak ``memory`` (bytes) or ``work`` (operations) exceeds
    ``MAX_MEMORY_BYTES`` or ``MAX_WORK``.

    Raises
    ------
    PromptError : naming ``field``, the estimate, the limit and ``fix`` (the options to change).
    """
    if memory > MAX_MEMORY_BYTES:
        raise PromptError(f"{field}: {what} would need about {_human(memory)} of memory; the limit is "
                          f"{_human(MAX_MEMORY_BYTES)} (verify.limits.MAX_MEMORY_BYTES): {fix}")
    if work > MAX_WORK:
        raise PromptError(f"{field}: {what} is about {work:.2g} operations (~{_duration(work)} here); the limit is "
                          f"{MAX_WORK:.0e} (~{_duration(MAX_WORK)}; verify.limits.MAX_WORK): {fix}")


def largest(factors: dict) -> str:
    """The option whose value is the most above its usual size (``{option: value / usual}``): the one to blame."""
    return max(factors, key=lambda option: factors[option])


def training_cost(d: int, k: int, n: int, m: int, layers: int, batch: int, steps: int) -> tuple[float, float]:
    """``(peak bytes, operations)`` of training an LSA stack with JAX (``verify.train.train``).

    Memory: the JAX runtime, ``L`` compiled layers, float32 weights with gradients and Adam's two
    moments (``5 * 2 L D^2`` floats), the activations kept for the backward pass (per layer and
    prompt three ``T x T`` score matrices and three ``D x T`` token arrays) and a float64 batch.
    Work: every step, forward and backward (three times the forward's
    :func:`lsa_layer_work`) on ``batch`` prompts plus ``STEP_WORK``; compiling, per layer.
    """
    tokens, width = n + m, d + k
    memory = (JAX_BYTES + layers * COMPILE_BYTES_PER_LAYER + 4.0 * 10 * layers * width**2
              + 4.0 * batch * layers * (3 * tokens**2 + 3 * width * tokens) + 8.0 * 3 * batch * tokens * width)
    work = steps * (3 * batch * layers * lsa_layer_work(tokens, width) + STEP_WORK) + layers * COMPILE_WORK_PER_LAYER
    return memory, work


def check_training(d: int, k: int, n: int, m: int, layers: int, batch: int, steps: int,
                   names: dict | None = None, times: int = 1) -> None:
    """Refuse a training run beyond the budget (:func:`training_cost`, ``times`` such runs one after another),
    blaming the option most above its default; ``names`` maps ``layers``/``steps``/... to the CLI's option names."""
    names = {"layers": "layers", "steps": "steps", "batch": "batch", "n": "n", "m": "m", "d": "d", "k": "k",
             **(names or {})}
    memory, work = training_cost(d, k, n, m, layers, batch, steps)
    factors = {"layers": layers / 1, "steps": steps / 2000, "batch": batch / 64, "n": n / 20, "m": m / 8,
               "d": d / 4, "k": k / 1}
    if memory > MAX_MEMORY_BYTES:  # memory does not grow with steps: blame the others
        factors.pop("steps")
    blamed = largest(factors)
    # the options above their usual size, the most to blame first
    options = ", ".join(f"--{names[key]}" for key in sorted(factors, key=lambda key: -factors[key])
                        if key == blamed or factors[key] > 1)
    check_budget(names[blamed], f"training L = {layers} layer(s) on d = {d}, n = {n} for {steps:,} steps "
                 f"of {batch} prompts" + (f" ({times} such runs)" if times > 1 else ""), memory, work * times,
                 f"reduce {options}")


def stack_gap_cost(prompts: int, n: int, m: int, d: int, k: int, layers: int) -> tuple[float, float]:
    """``(peak bytes, operations)`` of ``verify.fit.stack_gap``: float64 prompts and their tokens
    (``3 P T D``), then chunks of prompts holding at most ``verify.fit.SCORE_ENTRIES_PER_CHUNK`` score entries
    (at least one prompt) run through both stacks keeping every layer's tokens and three score matrices."""
    tokens, width = n + m, d + k
    chunk = max(1, 2**24 // tokens**2)
    memory = 8.0 * 3 * prompts * tokens * width + 8.0 * min(chunk, prompts) * ((layers + 1) * width * tokens
                                                                                + 3 * tokens**2)
    work = 2.0 * prompts * layers * lsa_layer_work(tokens, width)
    return memory, work
