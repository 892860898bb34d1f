"""In-context linear regression tasks: the training distribution of ``icl-verify train`` (issue 15).

A task draws ``w ~ N(0, I)`` (``W`` of shape ``(d, k)`` for ``k`` outputs), examples
and queries ``x ~ N(0, I_d) + mu_x`` (``x_dist = "normal"``) or ``U(-1, 1)^d + mu_x``
(``"uniform"``), labels ``y = x^T W`` plus Gaussian noise of size ``noise`` on the
examples only (queries are scored against the true ``W``).  Training, ``derive --fit``'s
``stack_gap`` and experiment E4 all sample from this one definition; the tokens are
built by :func:`verify.prompt.tokens`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import PromptError
from .prompt import tokens

X_DISTS = ("normal", "uniform")


@dataclass(frozen=True)
class TaskDistribution:
    """Regression prompts with ``n`` examples and ``m`` queries in dimension ``d`` with ``k`` outputs."""

    d: int
    n: int
    m: int = 8
    k: int = 1
    x_dist: str = "normal"
    mu_x: float = 0.0
    noise: float = 0.0

    def __post_init__(self):
        for field in ("d", "n", "m", "k"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise PromptError(f"{field}: must be an integer >= 1, got {value!r}")
        if self.x_dist not in X_DISTS:
            raise PromptError(f"x-dist: unknown input distribution {self.x_dist!r}; use normal or uniform")
        if not math.isfinite(self.mu_x):
            raise PromptError(f"mu-x: the input shift must be a finite number, got {self.mu_x}")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise PromptError(f"noise: the label noise must be a finite number >= 0, got {self.noise}")

    def sample(self, rng: np.random.Generator, batch: int):
        """Draw ``batch`` prompts.

        Returns
        -------
        X : (batch, n, d), Y : (batch, n, k), Xq : (batch, m, d), Yq : (batch, m, k)
            ``Y = X W + noise * eps``, ``Yq = Xq W``.
        """
        draw = rng.standard_normal if self.x_dist == "normal" else (lambda shape: rng.uniform(-1.0, 1.0, shape))
        X = draw((batch, self.n, self.d)) + self.mu_x
        Xq = draw((batch, self.m, self.d)) + self.mu_x
        W = rng.standard_normal((batch, self.d, self.k))
        Y = X @ W
        if self.noise:
            Y = Y + self.noise * rng.standard_normal(Y.shape)
        return X, Y, Xq, Xq @ W

    def second_moment(self) -> np.ndarray:
        """``E[x x^T] = v I + mu_x^2 1 1^T`` with ``v = 1`` (normal) or ``1/3`` (uniform); ``(d, d)``.

        This is the input covariance when ``mu_x = 0``; preconditioned gradient descent on a
        prompt sees ``X X^T / n``, which concentrates around it.
        """
        v = 1.0 if self.x_dist == "normal" else 1.0 / 3.0
        return v * np.eye(self.d) + self.mu_x**2 * np.ones((self.d, self.d))

    def metadata(self) -> dict:
        """The fields as plain values (stored beside trained weights)."""
        return asdict(self)


def token_batch(X, Y, Xq) -> np.ndarray:
    """Initial tokens ``(batch, d + k, n + m)`` of sampled prompts, one :func:`verify.prompt.tokens` per prompt."""
    return np.stack([tokens(X[t], Y[t], Xq[t]) for t in range(X.shape[0])])
