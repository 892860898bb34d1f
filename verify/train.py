"""Train an LSA stack on in-context linear regression with JAX and optax (issue 15).

The model is the package's one layer, :func:`verify.lsa.lsa_forward`, run on JAX
arrays through :mod:`verify.backend`; the tokens are :func:`verify.prompt.tokens`
(vectorized over prompts with ``jax.vmap``) and the prompts come from
:class:`verify.regression.TaskDistribution`.  Each layer has free matrices
``K^T Q`` and ``P V`` of size ``(d+k, d+k)`` (as ``Construction(K=I, Q=KQ, V=PV,
P=I)``), initialized ``N(0, init_scale^2)``; the loss is the mean squared query error

    loss = mean_{prompts, q} || yhat_q - W^T x_q ||^2,   yhat_q = -(last k coordinates of z_q^(L)),

minimized by Adam (gradients clipped to norm 1, a linear warm-up then cosine decay of
the learning rate) on fresh prompts every step.  JAX and optax are the optional
extra ``[train]``: they are imported only when training starts.

Depth is capped at :data:`MAX_LAYERS`, and a loss that stops being finite ends the run
(:func:`check_finite`): the forward of ``L`` free layers is a polynomial of degree ``3^L`` in
the prompt, and from about six layers on training drives it to where rare prompts overflow
float32 (a lower learning rate, another initial scale or plain SGD only delay it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import divergence, lsa, masks, normalizers  # the model, looked up at call time
from .construction import Construction
from .divergence import CHECK_EVERY
from .errors import PromptError
from .masks import parse_attention
from .prompt import split_tokens, tokens
from .regression import TaskDistribution

#: the deepest stack that trains at the defaults: stacks of 4 layers reach loss ~1e-3 with finite losses for every
#: seed tried (prefix 0-8, causal 0-2), while at 5 layers a few seeds and at 6 or more every run tried reaches NaN
#: within the 2000 steps: on a rare prompt (0.05% to 1% of them) both the x and the y part of the tokens grow
#: cubically from some layer on until they overflow, while the mean loss is still falling.  A peak lr down to 1e-4,
#: an initial scale of 0.03, SGD instead of Adam or x ~ U(-1, 1)^d only move the step where it happens (measured
#: at L = 8 and 16)
MAX_LAYERS = 4

MISSING_EXTRA = "the [train] extra (JAX and optax) is not installed; pip install 'icl-verify[train]'"


def require_extra():
    """Import ``(jax, optax)`` or raise PromptError naming ``pip install 'icl-verify[train]'``."""
    try:
        import jax
        import optax
    except ImportError:
        raise PromptError(f"train: {MISSING_EXTRA}") from None
    return jax, optax


def extra_available() -> bool:
    """True when the whole ``[train]`` extra is installed: JAX, optax and Flax (E5's transformers); found, not
    imported (importing JAX takes seconds; a broken install is then reported by :func:`require_extra` when
    training starts)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("jax", "optax", "flax"))


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (the defaults are the CLI's)."""

    distribution: TaskDistribution = field(default_factory=lambda: TaskDistribution(d=4, n=20))
    attention: str = "prefix"
    layers: int = 1
    steps: int = 2000
    batch: int = 64
    lr: float = 3e-2
    seed: int = 0
    normalization: str = "constant"
    scale: float | None = None  # the constant c; None means c = n
    init_scale: float = 1e-3

    def __post_init__(self):
        parse_attention(self.attention)
        for name in ("layers", "steps", "batch"):
            if getattr(self, name) < 1:
                raise PromptError(f"{name}: must be an integer >= 1, got {getattr(self, name)}")
        if self.layers > MAX_LAYERS:
            raise PromptError(f"layers: the LSA stack trains stably with at most {MAX_LAYERS} layers, got "
                              f"{self.layers}: deeper free stacks overflow float32 during training (the forward is a "
                              f"polynomial of degree 3^L in the prompt; a smaller --lr only delays it); give "
                              f"--layers {MAX_LAYERS} or fewer")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise PromptError(f"lr: the learning rate must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.init_scale) and self.init_scale > 0):
            raise PromptError(f"init-scale: must be a finite number > 0, got {self.init_scale}")
        if self.normalization not in ("constant", "count"):
            raise PromptError(f"normalization: unknown normalizer {self.normalization!r}; use constant or count")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise PromptError(f"scale: the constant normalizer needs a finite c > 0, got {self.scale}")

    @property
    def c_scale(self) -> float:
        return float(self.distribution.n if self.scale is None else self.scale)

    def mask_and_c(self):
        """The attention mask over ``n + m`` tokens and the normalizers ``c_j``."""
        dist = self.distribution
        mask = masks.attention_mask(self.attention, dist.n, dist.m)
        return mask, normalizers.normalizer(self.normalization, mask, self.c_scale)

    def metadata(self) -> dict:
        """What ``derive --fit`` needs to sample the training distribution and run the stack."""
        return {"attention": self.attention, "normalization": self.normalization, "scale": self.c_scale,
                **self.distribution.metadata(), "layers": self.layers, "steps": self.steps, "batch": self.batch,
                "lr": self.lr, "seed": self.seed, "init_scale": self.init_scale}


@dataclass(frozen=True)
class TrainResult:
    """Learned ``KQ, PV`` ``(L, d+k, d+k)`` (float64) and the training loss of every step."""

    config: TrainConfig
    KQ: np.ndarray
    PV: np.ndarray
    losses: np.ndarray


def initial_weights(config: TrainConfig):
    """``KQ, PV`` ``(L, d+k, d+k)`` with entries ``N(0, init_scale^2)`` (the literature's small random start)."""
    size = config.distribution.d + config.distribution.k
    rng = np.random.default_rng([config.seed, 15, 1])
    shape = (config.layers, size, size)
    return config.init_scale * rng.standard_normal(shape), config.init_scale * rng.standard_normal(shape)


def predictions(KQ, PV, X, Y, Xq, mask, c):
    """Query predictions ``(batch, m, k)`` of the stack ``(KQ, PV)`` on prompts ``X, Y, Xq`` (JAX or numpy).

    ``yhat_q = -(last k coordinates of z_q^(L))`` from :func:`verify.lsa.lsa_forward`.
    """
    import jax
    import jax.numpy as jnp

    n, d = X.shape[-2], X.shape[-1]
    Z0 = jax.vmap(tokens)(X, Y, Xq)
    eye = jnp.eye(KQ.shape[-1], dtype=KQ.dtype)
    stack = [Construction(K=eye, Q=KQ[i], V=PV[i], P=eye) for i in range(KQ.shape[0])]
    return split_tokens(lsa.lsa_forward(Z0, stack, mask, c)[-1], n, d)[1]


def check_finite(losses: np.ndarray, start: int, config: TrainConfig) -> None:
    """Raise PromptError naming ``--lr`` at the first non-finite loss of ``losses`` (steps ``start, start + 1, ...``);
    :func:`verify.divergence.check_finite` with the LSA stack's options."""
    divergence.check_finite(
        losses, start, config.steps, config.lr, "the stack's tokens overflowed float32",
        "init-scale: the training loss is {value} at step 0, before any update (the prompts or the initial weights "
        "overflow float32); give a smaller --init-scale, --mu-x or --noise", " (or a smaller --init-scale)")


def train(config: TrainConfig, show: bool = True) -> TrainResult:
    """Train the stack of ``config``; a tqdm bar on stderr unless ``show=False``.

    Raises
    ------
    PromptError : when a step's loss is not finite (:func:`check_finite`), after at most ``CHECK_EVERY`` more steps.
    """
    jax, optax = require_extra()
    import jax.numpy as jnp
    from tqdm import tqdm

    mask, c = config.mask_and_c()
    c = jnp.asarray(c, dtype=jnp.float32)

    def loss_fn(params, X, Y, Xq, Yq):
        return jnp.mean((predictions(params["KQ"], params["PV"], X, Y, Xq, mask, c) - Yq) ** 2)

    warmup = max(1, min(100, config.steps // 10))
    schedule = optax.warmup_cosine_decay_schedule(0.0, config.lr, warmup, max(config.steps, warmup + 1),
                                                  end_value=config.lr * 1e-2)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))

    @jax.jit
    def step(params, state, X, Y, Xq, Yq):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, Y, Xq, Yq)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    KQ0, PV0 = initial_weights(config)
    params = {"KQ": jnp.asarray(KQ0, dtype=jnp.float32), "PV": jnp.asarray(PV0, dtype=jnp.float32)}
    state = optimizer.init(params)
    rng = np.random.default_rng([config.seed, 15, 2])
    history: list = []  # numpy chunks of checked losses
    pending: list = []  # device losses since the last check (checked in chunks so the device is not waited on)
    bar = tqdm(range(config.steps), desc=f"train {config.attention} L={config.layers}", disable=not show,
               leave=False)
    for index in bar:
        batch = [jnp.asarray(a, dtype=jnp.float32) for a in config.distribution.sample(rng, config.batch)]
        params, state, loss = step(params, state, *batch)
        pending.append(loss)
        if len(pending) == CHECK_EVERY or index == config.steps - 1:
            chunk = np.asarray(jnp.stack(pending), dtype=float)
            check_finite(chunk, index + 1 - len(pending), config)
            history.append(chunk)
            pending = []
        if show and index % 100 == 0:
            bar.set_postfix(loss=f"{float(loss):.4g}")
    losses = np.concatenate(history) if history else np.zeros(0)
    KQ, PV = np.asarray(params["KQ"], dtype=float), np.asarray(params["PV"], dtype=float)
    # the last update is checked by no later loss: an overflowing one would leave non-finite weights
    check_finite(np.append(losses, divergence.total([KQ, PV])), 0, config)
    return TrainResult(config, KQ, PV, losses)
