"""Training and evaluating the transformer of :mod:`verify.transformer` (issue 22; JAX, optax, Flax).

Every step draws fresh tasks from :mod:`verify.icl_tasks` with the generator
``default_rng([seed, 22, step])``, so step ``s`` sees the same prompts whether the run
was interrupted or not, and a resumed run continues the uninterrupted trajectory.  Each
sequence gets its number of examples ``n`` uniformly from the evaluated positions.
The loss is the query MSE (regression) or the softmax cross-entropy of the query logits
against the one-hot label (classification), minimized by Adam (``b1 = 0.9``,
``b2 = 0.999``, ``eps = 1e-7``, the paper's) at the constant rate ``lr`` after a linear
warm-up of ``warmup`` steps, gradients clipped to global norm 1.

Checkpoints are ``.npz`` files (atomically replaced): ``config`` (the settings as JSON),
``step``, ``losses`` (one per step so far) and the leaves of the parameters
(``param_00000``, ...) and of Adam's state (``opt_00000``, ...) in JAX's tree order.
A checkpoint is written only after its losses and weights are checked finite, and ``--resume``
refuses one that is not: a run whose loss stops being finite (:mod:`verify.divergence`) ends
without writing more, its last checkpoint being a state that training can continue from.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .divergence import CHECK_EVERY, Diverged, check_finite, total
from .errors import Interrupted, PromptError
from .icl_tasks import constant_accuracy, least_squares, sample
from .output import replace_file
from .transformer import ADAM, TransformerConfig, build_model, mask_table, require_flax, tokens

#: the test set's generator: [seed, TEST_STREAM] never equals a training step's [seed, 22, step]
TEST_STREAM = 23


@dataclass
class TrainState:
    """Where a run is: the step count, the parameters and Adam's state (JAX pytrees), the losses so far."""

    config: TransformerConfig
    step: int
    params: object
    opt_state: object
    losses: list = field(default_factory=list)


def optimizer(config: TransformerConfig):
    """Adam (the paper's b1, b2, eps) after clipping to norm 1; linear warm-up to ``lr``, then constant."""
    _, optax, _ = require_flax()
    schedule = optax.linear_schedule(0.0, config.lr, config.warmup) if config.warmup else config.lr
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule, **ADAM))


def split_model(config: TransformerConfig):
    """``(graphdef, params)`` of a freshly initialized model (``flax.nnx.split``)."""
    _, _, nnx = require_flax()
    return nnx.split(build_model(config))


def training_batch(config: TransformerConfig, step: int, table: np.ndarray):
    """Step ``step``'s ``(tokens, masks, query labels)``: float32 arrays for the jitted step."""
    rng = np.random.default_rng([config.seed, 22, step])
    pick = rng.integers(0, len(config.positions), config.batch)
    X, Y = sample(config.task, rng, config.batch, config.length, config.d, config.classes)
    Z = tokens(X, Y, config.positions[pick], config.exemplars)
    return Z.astype(np.float32), table[pick], Y[:, config.exemplars:].astype(np.float32)


def loss_of(config: TransformerConfig, predictions, Yq):
    """Query MSE (regression) or mean softmax cross-entropy against one-hot labels (classification)."""
    _, optax, _ = require_flax()
    if config.task == "classification":
        return optax.softmax_cross_entropy(predictions, Yq).mean()
    return ((predictions - Yq) ** 2).mean()


def shape_of(config: TransformerConfig) -> TransformerConfig:
    """``config`` without what leaves the computation's graph unchanged (seed, mask, budgets): the cache key
    of the compiled functions, so the runs of an experiment compile once."""
    return replace(config, seed=0, attention="prefix", rule=None, steps=1, checkpoint_every=1, test_tasks=1)


def make_step(config: TransformerConfig, jit: bool = True):
    """The training step ``(params, opt_state, Z, mask, Yq) -> (params, opt_state, loss)`` (compiled once per
    :func:`shape_of`)."""
    return _make_step(shape_of(config), jit)


@functools.lru_cache(maxsize=16)
def _make_step(config: TransformerConfig, jit: bool):
    jax, optax, nnx = require_flax()
    tx = optimizer(config)
    graphdef, _ = split_model(config)

    def loss_fn(params, Z, mask, Yq):
        return loss_of(config, nnx.merge(graphdef, params)(Z, mask), Yq)

    def step(params, opt_state, Z, mask, Yq):
        loss, grads = jax.value_and_grad(loss_fn)(params, Z, mask, Yq)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step) if jit else step


def initial_state(config: TransformerConfig) -> TrainState:
    """Step 0: parameters from ``config.seed``, Adam's state from them."""
    _, params = split_model(config)
    return TrainState(config, 0, params, optimizer(config).init(params))


# ----------------------------------------------------------------------------- checkpoints

def _comparable(settings: dict) -> dict:
    """The settings that must agree for ``--resume`` (the step budget and checkpoint period may change)."""
    return {k: v for k, v in settings.items() if k not in ("steps", "checkpoint_every")}


def save_checkpoint(state: TrainState, path: str) -> str:
    """Write ``state`` to ``path`` (``.npz``, atomically; module docstring for the layout)."""
    import jax

    arrays: dict[str, Any] = {"config": np.array(json.dumps(state.config.metadata())), "step": np.array(state.step),
              "losses": np.asarray([float(v) for v in state.losses], dtype=np.float64)}
    for prefix, tree in (("param", state.params), ("opt", state.opt_state)):
        for index, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
            arrays[f"{prefix}_{index:05d}"] = np.asarray(leaf)
    return replace_file(path, lambda fh: np.savez(fh, **arrays))


def load_checkpoint(path: str, config: TransformerConfig) -> TrainState:
    """Read a checkpoint written for ``config``'s settings (up to ``steps``); PromptError otherwise."""
    import jax

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        saved = json.loads(str(arrays["config"]))
    except FileNotFoundError:
        raise PromptError(f"resume: checkpoint {path!r} not found; give a file written by train --model transformer"
                          ) from None
    except Exception:
        raise PromptError(f"resume: {path!r} is not a transformer checkpoint (.npz written by train --model "
                          f"transformer)") from None
    mine = config.metadata()
    differ = [key for key in _comparable(mine) if saved.get(key) != mine[key]]
    if differ:
        key = differ[0]
        raise PromptError(f"resume: the checkpoint was trained with {key} = {saved.get(key)!r}, this run has "
                          f"{mine[key]!r}; give the same settings (or no --resume)")
    fresh = initial_state(config)

    def restore(prefix, tree):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        stored = [arrays.get(f"{prefix}_{index:05d}") for index in range(len(leaves))]
        if any(s is None or np.shape(s) != np.shape(leaf) for s, leaf in zip(stored, leaves)):
            raise PromptError(f"resume: {path!r} does not hold this model's arrays; give its own checkpoint")
        return jax.tree_util.tree_unflatten(treedef, [np.asarray(s, dtype=np.asarray(leaf).dtype)
                                                      for s, leaf in zip(stored, leaves)])

    step = int(arrays["step"])
    if step > config.steps:
        raise PromptError(f"resume: the checkpoint is at step {step}, beyond --steps {config.steps}; "
                          f"give --steps >= {step}")
    state = TrainState(config, step, restore("param", fresh.params), restore("opt", fresh.opt_state),
                       list(arrays["losses"][:step]))
    if not np.isfinite(total([*weights_of(state), state.losses])):  # written by hand or by an unguarded trainer
        raise PromptError(f"resume: {path!r} holds non-finite losses or weights, which training cannot continue "
                          f"from; start again without --resume (with a smaller --lr)")
    return state


# ----------------------------------------------------------------------------- training

def weights_of(state: TrainState) -> list:
    """The leaves of the parameters and of Adam's state (what a checkpoint holds beside the losses)."""
    import jax

    return jax.tree_util.tree_leaves(state.params) + jax.tree_util.tree_leaves(state.opt_state)


def check_state(state: TrainState, checked: int, weights: bool, after: str = "") -> int:
    """Turn the losses from ``checked`` on into floats and raise :class:`verify.divergence.Diverged` at the first
    non-finite one (with ``weights``, the weights after the last update count as the loss of step ``state.step``);
    returns how many losses are now checked."""
    state.losses[checked:] = [float(v) for v in state.losses[checked:]]
    values = state.losses[checked:] + ([total(weights_of(state))] if weights else [])
    check_finite(values, checked, state.config.steps, state.config.lr, "the updates drove the weights to overflow "
                 "float32", "seed: the training loss is {value} at step 0, before any update (the initial model's "
                 "output overflows float32); give another --seed or a smaller --width", after)
    return len(state.losses)


def train(config: TransformerConfig, out: str | None = None, resume: TrainState | None = None, show: bool = True,
          jit: bool = True) -> TrainState:
    """Train from ``resume`` (or step 0) to ``config.steps``; a tqdm bar with the loss unless ``show=False``.

    With ``out``, a checkpoint is written every ``config.checkpoint_every`` steps and at the end;
    Ctrl-C writes one of the last completed step and raises :class:`verify.errors.Interrupted`.

    Raises
    ------
    verify.divergence.Diverged : at the first non-finite loss, found within ``CHECK_EVERY`` steps, or non-finite
        weights at a checkpoint, on Ctrl-C or at the end; nothing more is written, so ``out`` keeps the last
        checkpoint of this run (its losses and weights checked finite; the message says which step) or what it was.
    """
    import jax.numpy as jnp
    from tqdm import tqdm

    state = resume or initial_state(config)
    checked, saved = len(state.losses), None  # losses known finite (a loaded checkpoint's are); the last save

    def after() -> str:
        if saved is None:
            return "; nothing written"
        return (f"; {out} keeps the checkpoint of step {saved}, the last with finite losses and weights "
                f"(--resume {out} --steps {saved} evaluates it)")

    def save() -> None:
        nonlocal checked, saved
        checked = check_state(state, checked, True, after())
        save_checkpoint(state, str(out))
        saved = state.step

    step_fn = make_step(config, jit=jit)
    table = mask_table(config)
    bar = tqdm(total=config.steps, initial=state.step, desc=f"train {config.task} {config.model_name}",
               disable=not show, leave=False)
    try:
        while state.step < config.steps:
            Z, mask, Yq = training_batch(config, state.step, table)
            params, opt_state, loss = step_fn(state.params, state.opt_state, jnp.asarray(Z), jnp.asarray(mask),
                                              jnp.asarray(Yq))
            # one assignment after the step: Ctrl-C leaves the state of the last completed step
            state.params, state.opt_state, state.step = params, opt_state, state.step + 1
            state.losses.append(loss)
            bar.update(1)
            if state.step % CHECK_EVERY == 0:  # device scalars to checked floats now and then: async steps
                checked = check_state(state, checked, False, after())
                bar.set_postfix(loss=f"{state.losses[-1]:.4g}")
            if out is not None and state.step % config.checkpoint_every == 0 and state.step < config.steps:
                save()
    except KeyboardInterrupt:
        if out is None:
            raise
        save()  # a non-finite state is not saved: Diverged (exit 2) instead
        raise Interrupted(f"saved the checkpoint of step {state.step} to {out}; continue with --resume {out}"
                          ) from None
    finally:
        bar.close()
    # the last update is checked by no later loss: the final weights are
    if out is None:
        check_state(state, checked, True, after())
    else:
        save()
    return state


# ----------------------------------------------------------------------------- evaluation

def predict(config: TransformerConfig, params, Z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The model's query outputs ``(batch, m, k)`` on tokens ``Z`` with masks ``mask`` (float64 numpy)."""
    import jax.numpy as jnp

    forward = _forward(shape_of(config))
    return np.asarray(forward(params, jnp.asarray(Z, dtype=jnp.float32), jnp.asarray(mask)), dtype=np.float64)


def checked_predict(config: TransformerConfig, params, Z: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """:func:`predict`, refusing (:class:`verify.divergence.Diverged`) outputs that are not finite: finite weights
    can still overflow float32 in the forward pass, and no test error or accuracy is read from such outputs."""
    predictions = predict(config, params, Z, mask)
    if not np.all(np.isfinite(predictions)):
        raise Diverged(f"lr: the trained model's outputs on the test tasks at n = {n} overflow float32 (the weights "
                       f"grew too large); give a smaller --lr than {config.lr:g}", config.steps, float("nan"))
    return predictions


@functools.lru_cache(maxsize=16)
def _forward(config: TransformerConfig):
    """The compiled ``(params, Z, mask) -> query outputs`` of ``config``'s graph."""
    jax, _, nnx = require_flax()
    graphdef, _ = split_model(config)
    return jax.jit(lambda params, Z, mask: nnx.merge(graphdef, params)(Z, mask))


def evaluate(config: TransformerConfig, params) -> dict:
    """The model against the references on ``config.test_tasks`` fresh tasks, at every evaluated position.

    The same test tasks at every position ``n`` (queries read their first ``n`` points).
    Regression: ``test_mse_per_position``, ``zero_mse_per_position`` (``mean ||y_q||^2``),
    for ``linear`` ``least_squares_mse_per_position``; classification:
    ``test_accuracy_per_position`` and ``constant_accuracy`` (the best constant class).
    Each ``*_per_position`` has a mean over the positions without the suffix.
    """
    rng = np.random.default_rng([config.seed, TEST_STREAM])
    N = config.exemplars
    X, Y = sample(config.task, rng, config.test_tasks, config.length, config.d, config.classes)
    Xq, Yq = X[:, N:], Y[:, N:]
    table = mask_table(config)
    per: dict = {}
    for index, n in enumerate(config.positions):
        Z = tokens(X, Y, np.full(config.test_tasks, n), N)
        masks = np.broadcast_to(table[index], (config.test_tasks, *table[index].shape))
        predictions = checked_predict(config, params, Z, masks, n)
        if config.task == "classification":
            hits = np.argmax(predictions, axis=-1) == np.argmax(Yq, axis=-1)
            per.setdefault("test_accuracy", []).append(float(hits.mean()))
            continue
        per.setdefault("test_mse", []).append(float(np.mean((predictions - Yq) ** 2)))
        per.setdefault("zero_mse", []).append(float(np.mean(Yq ** 2)))
        if config.task == "linear":
            ls = least_squares(X[:, :n], Y[:, :n], Xq)
            per.setdefault("least_squares_mse", []).append(float(np.mean((ls - Yq) ** 2)))
    result: dict = {"positions": [int(n) for n in config.positions]}
    for key, values in per.items():
        result[key] = float(np.mean(values))
        result[f"{key}_per_position"] = values
    if config.task == "classification":
        result["constant_accuracy"] = constant_accuracy(Yq)
    return result
