"""A softmax transformer for in-context learning (the paper's section 5.2; issue 22), built with Flax.

Token layout.  A sequence has ``N = exemplars`` example slots followed by ``m = queries``
query slots; one token per slot (``d + k + 1`` features):

- example ``i < n``: ``[x_i; y_i; 0]``;   example slots ``n..N-1`` (padding): zeros;
- query ``q``:        ``[x_q; 0; 1]`` (the last feature says "query").

``n``, the number of in-context examples, varies per sequence over the evaluated
positions ``N - E, ..., N - 1`` (``E = evaluated``): the prediction at the paper's position
``j`` uses the ``j`` examples before it, so "error at position ``j``" is the error of
queries that read ``j`` examples.  Who reads whom is the package's one definition:
:func:`verify.masks.attention_mask` (named attentions) or :meth:`verify.rule.Rule.mask`
(``--rule``) over ``n`` examples and ``m`` queries, placed on the slots above; prefixLM
lets the in-context examples attend to each other, causalLM lets example ``j`` read
examples ``1..j``.  Two additions keep every softmax row defined without adding
information: every token also reads itself (its own content is in its residual stream
anyway), and a padding slot reads only itself and is read by nobody.

This differs from the paper's code in one way, stated so readers can compare: there the
first 20 exemplars attend to each other and the evaluated positions after them are
causal for both models; here prefixLM lets all ``n`` examples before a query attend to
each other (the theory's prefixLM at every ``n``).

Model.  Pre-LayerNorm blocks (``nnx.LayerNorm``, ``nnx.MultiHeadAttention``, an MLP of
two ``nnx.Linear`` with GELU, width ``4 * width``), a linear embedding of the tokens,
no positional embedding (the mask carries the order a causal model sees; prefix examples
are exchangeable), a final LayerNorm and a linear read-out of ``k`` numbers at every
query slot; ``shared_block`` applies one block ``layers`` times (the paper's option).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import PromptError
from .icl_tasks import TASKS, outputs
from .limits import check_array
from .masks import attention_mask, parse_attention

MISSING_FLAX = "the [train] extra (JAX, optax and Flax) is not installed; pip install 'icl-verify[train]'"

#: the sizes of ``--preset``; the paper's are those of its own code (12 layers, 8 heads, width 512, d = 20,
#: 40 exemplars of which 20 are evaluated, batch 64, Adam lr 1e-4, 5000 x 100 steps)
PRESETS = {
    "cpu": dict(layers=3, heads=2, width=64, d=4, exemplars=16, evaluated=8, queries=4, classes=3, steps=1500,
                batch=64, lr=1e-3, warmup=100, test_tasks=512, checkpoint_every=500),
    "paper": dict(layers=12, heads=8, width=512, d=20, exemplars=40, evaluated=20, queries=1, classes=5,
                  steps=500_000, batch=64, lr=1e-4, warmup=0, test_tasks=1024, checkpoint_every=10_000),
}
#: Adam as in the paper's code
ADAM = dict(b1=0.9, b2=0.999, eps=1e-7)
#: refused up front: the parameters, Adam's two moments and one step's activations must fit (verify.limits)
MAX_WIDTH = 16_384


def require_flax():
    """Import ``(jax, optax, nnx)`` or raise PromptError naming ``pip install 'icl-verify[train]'``."""
    try:
        import jax
        import optax
        from flax import nnx
    except ImportError:
        raise PromptError(f"train: {MISSING_FLAX}") from None
    return jax, optax, nnx


@dataclass(frozen=True)
class TransformerConfig:
    """Everything a transformer training run depends on (``preset_config`` fills it from a preset)."""

    task: str = "linear"
    attention: str = "prefix"
    rule: str | None = None
    shared_block: bool = False
    layers: int = 3
    heads: int = 2
    width: int = 64
    d: int = 4
    exemplars: int = 16
    evaluated: int = 8
    queries: int = 4
    classes: int = 3
    steps: int = 1500
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    test_tasks: int = 512
    checkpoint_every: int = 500
    preset: str = "cpu"

    def __post_init__(self):
        if self.task not in TASKS:
            raise PromptError(f"task: unknown task {self.task!r}; use one of {', '.join(TASKS)}")
        if self.rule is None:
            parse_attention(self.attention)
        for name in ("layers", "heads", "width", "d", "exemplars", "evaluated", "queries", "steps", "batch",
                     "test_tasks", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PromptError(f"{name.replace('_', '-')}: must be an integer >= 1, got {value!r}")
        for name in ("seed", "warmup"):
            if getattr(self, name) < 0:
                raise PromptError(f"{name}: must be an integer >= 0, got {getattr(self, name)}")
        if self.width % self.heads:
            raise PromptError(f"width: {self.width} is not a multiple of --heads {self.heads}; "
                              f"each head gets width / heads features")
        if self.evaluated > self.exemplars - 1:
            raise PromptError(f"evaluated: {self.evaluated} positions need at least {self.evaluated + 1} "
                              f"exemplars (positions N - E .. N - 1 read 1 or more examples); got {self.exemplars}")
        if self.task == "classification" and self.classes < 2:
            raise PromptError(f"classes: classification needs at least 2 classes, got {self.classes}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise PromptError(f"lr: the learning rate must be a finite number > 0, got {self.lr}")
        check_sizes(self)

    @property
    def k(self) -> int:
        return outputs(self.task, self.classes)

    @property
    def length(self) -> int:
        """Slots per sequence: ``N`` examples and ``m`` queries."""
        return self.exemplars + self.queries

    @property
    def positions(self) -> np.ndarray:
        """The evaluated numbers of in-context examples ``N - E, ..., N - 1``."""
        return np.arange(self.exemplars - self.evaluated, self.exemplars)

    @property
    def model_name(self) -> str:
        """What reads what, for labels: the named attention or ``rule: TEXT``."""
        return self.attention if self.rule is None else f"rule: {self.rule}"

    def metadata(self) -> dict:
        """Every setting (written into checkpoints; ``--resume`` compares them)."""
        return asdict(self)


def preset_config(preset: str = "cpu", **overrides) -> TransformerConfig:
    """The preset's sizes with ``overrides`` (``None`` values keep the preset's)."""
    if preset not in PRESETS:
        raise PromptError(f"preset: unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{key: value for key, value in overrides.items() if value is not None}}
    return TransformerConfig(preset=preset, **values)


def check_sizes(config: TransformerConfig) -> None:
    """Refuse, before anything is built, sizes whose arrays cannot fit (``verify.limits``), naming the option."""
    if config.width > MAX_WIDTH:
        raise PromptError(f"width: {config.width} is above the limit of {MAX_WIDTH:,}; use a smaller --width")
    blocks = 1 if config.shared_block else config.layers
    # every block holds ~12 width^2 parameters; Adam keeps two more copies
    check_array("width", (3, blocks, 12, config.width, config.width), itemsize=4,
                what="the parameters and Adam's moments (3, blocks, 12, width, width)")
    check_array("batch", (config.batch, config.heads, config.length, config.length), itemsize=4,
                what="one layer's attention weights (batch, heads, N + m, N + m)")
    check_array("batch", (config.layers, config.batch, config.length, 4 * config.width), itemsize=4,
                what="the activations a step keeps for the gradient (layers, batch, N + m, 4 width)")
    check_array("steps", (config.steps,), what="the loss history (one float per step)")
    check_array("test-tasks", (config.test_tasks, config.length, 4 * config.width), itemsize=4,
                what="one evaluation batch's activations (test tasks, N + m, 4 width)")


# ----------------------------------------------------------------------------- token layout and masks

def example_mask(config: TransformerConfig, n: int) -> np.ndarray:
    """``reads`` over ``n`` examples and ``m`` queries: ``mask[i, j]`` when token ``j`` reads token ``i``."""
    if config.rule is not None:
        from .rule import parse_rule

        return parse_rule(config.rule).mask(n, config.queries)
    return attention_mask(config.attention, n, config.queries)


def sequence_mask(config: TransformerConfig, n: int) -> np.ndarray:
    """The ``(N + m, N + m)`` attention mask in Flax's convention ``[target, source]`` for ``n`` examples.

    ``reads`` (``example_mask``) is placed on example slots ``0..n-1`` and query slots
    ``N..N+m-1``; every token reads itself; padding slots ``n..N-1`` are read by nobody.
    """
    N, m = config.exemplars, config.queries
    slots = np.concatenate([np.arange(n), N + np.arange(m)])
    out = np.zeros((config.length, config.length), dtype=bool)
    out[np.ix_(slots, slots)] = example_mask(config, n).T
    out[np.diag_indices(config.length)] = True
    return out


def mask_table(config: TransformerConfig) -> np.ndarray:
    """``(E, N + m, N + m)``: :func:`sequence_mask` at every evaluated number of examples."""
    return np.stack([sequence_mask(config, int(n)) for n in config.positions])


def tokens(X: np.ndarray, Y: np.ndarray, n: np.ndarray, exemplars: int) -> np.ndarray:
    """Tokens ``(batch, N + m, d + k + 1)`` of points ``X (batch, N + m, d)``, labels ``Y (batch, N + m, k)``.

    Sequence ``b`` uses its first ``n[b]`` points as examples ``[x; y; 0]``, zeros on the unused
    example slots, and its last ``m`` points as queries ``[x; 0; 1]``.
    """
    batch, length, _ = X.shape
    slot = np.arange(length)[None, :, None]
    used = slot < np.asarray(n)[:, None, None]
    query = slot >= exemplars
    x = np.where(used | query, X, 0.0)
    y = np.where(used, Y, 0.0)
    flag = np.broadcast_to(query, (batch, length, 1)).astype(X.dtype)
    return np.concatenate([x, y, flag], axis=-1)


# ----------------------------------------------------------------------------- the model

def build_model(config: TransformerConfig, seed: int | None = None):
    """The Flax (``nnx``) transformer of ``config``, parameters initialized from ``seed`` (default ``config.seed``)."""
    require_flax()
    import jax
    from flax import nnx

    class Block(nnx.Module):
        """``h + Attn(LN(h)) -> h + MLP(LN(h))`` (pre-LayerNorm)."""

        def __init__(self, rngs):
            width = config.width
            self.attention_norm = nnx.LayerNorm(width, rngs=rngs)
            self.attention = nnx.MultiHeadAttention(num_heads=config.heads, in_features=width, decode=False,
                                                    rngs=rngs)
            self.mlp_norm = nnx.LayerNorm(width, rngs=rngs)
            self.mlp_in = nnx.Linear(width, 4 * width, rngs=rngs)
            self.mlp_out = nnx.Linear(4 * width, width, rngs=rngs)

        def __call__(self, h, mask):
            h = h + self.attention(self.attention_norm(h), mask=mask)
            return h + self.mlp_out(jax.nn.gelu(self.mlp_in(self.mlp_norm(h))))

    class Transformer(nnx.Module):
        def __init__(self, rngs):
            features = config.d + config.k + 1
            self.embed = nnx.Linear(features, config.width, rngs=rngs)
            self.blocks = nnx.List([Block(rngs) for _ in range(1 if config.shared_block else config.layers)])
            self.final_norm = nnx.LayerNorm(config.width, rngs=rngs)
            self.readout = nnx.Linear(config.width, config.k, rngs=rngs)

        def __call__(self, Z, mask):
            """``Z : (batch, N + m, d + k + 1)``, ``mask : (batch, N + m, N + m)`` -> ``(batch, m, k)``."""
            h = self.embed(Z)
            for layer in range(config.layers):
                h = self.blocks[0 if config.shared_block else layer](h, mask[:, None, :, :])
            return self.readout(self.final_norm(h[:, config.exemplars:, :]))

    return Transformer(nnx.Rngs(config.seed if seed is None else seed))


def with_steps(config: TransformerConfig, steps: int) -> TransformerConfig:
    """``config`` with another step budget (``--resume`` may extend a run)."""
    return replace(config, steps=steps)
