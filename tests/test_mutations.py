"""Every property can fail: run its body with a deliberately wrong implementation and
show that Hypothesis finds a counterexample (issue 5, "Must be able to fail").

Each row names a property of ``test_properties.py`` / ``test_variant_properties.py``,
the strategy its ``@given`` test uses, and one mutation: the value sign of ``V``
flipped, a mask off by one, the normalizer left out, a wrong step size, or a wrong
stationary-point / rate formula.  The search is derandomized and skips shrinking
(only the existence of a counterexample matters here).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import test_properties as props
import test_variant_properties as variant_props
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from verify.algorithms import causal_stationary, gradient_descent, least_squares
from verify.construction import Construction, paper
from verify.lemma import stationary_weights
from verify.masks import attention_mask
from verify.rates import analyse

# ---------------------------------------------------------------- the mutants


def flipped_v(eta, d, k=1, gamma=None):
    """The paper's construction with the sign of ``V`` flipped: gradient ascent."""
    good = paper(eta, d, k, gamma)
    return Construction(good.K, good.Q, -good.V, good.P)


def off_by_one(mask, n):
    """Every target drops the last example it reads (causal example j reads 1..j-1)."""
    mask = np.array(mask, copy=True)
    for j in range(mask.shape[1]):
        reads = np.flatnonzero(mask[:n, j])
        if reads.size:
            mask[reads[-1], j] = False
    return mask


def no_normalizer(c):
    """``c_j = 1`` whatever the normalizer says."""
    return np.ones_like(np.asarray(c, dtype=float))


def gd_double_step(X, Y, etas, c=1.0, W0=None, gamma=None):
    return gradient_descent(X, Y, [2 * eta for eta in etas], c, W0, gamma)


def online_gd_norm_step(X, Y):
    """Online GD with step ``1 / ||x_j||`` instead of ``1 / ||x_j||^2``."""
    W, out = np.zeros((Y.shape[1], X.shape[1])), []
    for x, y in zip(X, Y):
        W = W + np.outer(y - W @ x, x) / np.linalg.norm(x)
        out.append(W)
    return np.stack(out)


def lambda_max_rate(X, eta, c):
    """P4's rate without ``lambda_min^+``."""
    return float(abs(1 - eta * np.linalg.eigvalsh(X.T @ X).max() / c))


def prefix_stationary_for_causal(X, Y, mask, c, W0=None, gamma=None):
    """The prefix (least-squares) stationary point used for every mask."""
    return stationary_weights(X, Y, attention_mask("prefix", X.shape[0], mask.shape[0] - X.shape[0]), c, W0, gamma)


def stationary_off_by_one(X, Y, mask, c, W0=None, gamma=None):
    return stationary_weights(X, Y, off_by_one(mask, X.shape[0]), c, W0, gamma)


def stationary_without_normalizer(X, Y, mask, c, W0=None, gamma=None):
    return stationary_weights(X, Y, mask, no_normalizer(c), W0, gamma)


def ridge(X, Y):
    """Regularised, so not the least-squares minimiser."""
    return np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ Y).T


def ls_for_every_attention(X, Y, attention, kind):
    return least_squares(X, Y)


def constant_formula_for_count(X, Y, attention, kind):
    """P6's stationary point used for the count normalizer too (P9 says it differs)."""
    return least_squares(X, Y) if attention == "prefix" else causal_stationary(X, Y)[-1]


# ---------------------------------------------------------------- the table

MUTATIONS = [
    # 1. forward = weight-space algorithm
    ("prefix GD: V sign flipped", props.prop_forward_matches_weight_space, props.forward_instances("prefix"),
     dict(construct=flipped_v)),
    ("prefix GD: normalizer missing", props.prop_forward_matches_weight_space, props.forward_instances("prefix"),
     dict(mutate_c=no_normalizer)),
    ("prefix GD: mask off by one", props.prop_forward_matches_weight_space, props.forward_instances("prefix"),
     dict(mutate_mask=off_by_one)),
    ("prefix GD: reference with double step", props.prop_forward_matches_weight_space,
     props.forward_instances("prefix"), dict(reference=gd_double_step)),
    ("causal online: V sign flipped", props.prop_forward_matches_weight_space, props.forward_instances("causal"),
     dict(construct=flipped_v)),
    ("causal online: mask off by one", props.prop_forward_matches_weight_space, props.forward_instances("causal"),
     dict(mutate_mask=off_by_one)),
    ("causal online: normalizer missing", props.prop_forward_matches_weight_space, props.forward_instances("causal"),
     dict(mutate_c=no_normalizer)),
    # 2. prefix contraction
    ("contraction: rate without lambda_min", props.prop_prefix_contraction, props.contraction_instances(),
     dict(rate=lambda_max_rate)),
    ("contraction: V sign flipped", props.prop_prefix_contraction, props.contraction_instances(),
     dict(construct=flipped_v)),
    # 3. causal spectral radius and asymptotic rate
    ("causal rate: c_j left out", props.prop_causal_rate, props.causal_rate_instances(),
     dict(radius=lambda X, c, eta: props.spec_causal_radius(X, no_normalizer(c), eta))),
    ("causal rate: V sign flipped", props.prop_causal_rate, props.causal_rate_instances(),
     dict(construct=flipped_v)),
    # 4. stable -> stationary point; unstable -> diverges
    ("convergence: least squares for causal", props.prop_stable_reaches_stationary, props.convergence_instances(),
     dict(reference=ls_for_every_attention)),
    ("convergence: P6 formula for count", props.prop_stable_reaches_stationary, props.convergence_instances(),
     dict(reference=constant_formula_for_count)),
    ("convergence: V sign flipped", props.prop_stable_reaches_stationary, props.convergence_instances(),
     dict(construct=flipped_v)),
    ("divergence: stack runs a quarter step", props.prop_unstable_diverges, props.unstable_instances(),
     dict(eta_in_stack=lambda eta: eta / 4)),
    # 5. causal stationary point
    ("causal stationary: step 1/||x||", props.prop_causal_stationary, props.stationary_instances(),
     dict(online=online_gd_norm_step)),
    ("causal stationary: prefix formula", props.prop_causal_stationary, props.stationary_instances(),
     dict(stationary=prefix_stationary_for_causal)),
    # 6. sub-optimality
    ("risk: ridge in place of least squares", props.prop_causal_risk, props.risk_instances(), dict(ls=ridge)),
    ("d = 1: mean ratio in place of the last", props.prop_d1_noisy_is_last_ratio, props.d1_instances(),
     dict(stationary=lambda X, Y, kind: (Y / X).mean(axis=0)[:, None])),
    # 7. P8
    ("P8: causal normalizer missing", props.prop_prefix_stable_implies_causal_stable, props.p8_instances(),
     dict(causal_c=no_normalizer)),
    # 8. exact mode
    ("exact forward: V sign flipped", props.prop_exact_forward, props.exact_instances(), dict(construct=flipped_v)),
    ("exact stationary: step 1/||x||", props.prop_exact_causal_stationary, props.exact_instances(),
     dict(step=lambda x: 1 / sp.sqrt((x * x.T)[0]))),
    ("exact risk: zero in place of least squares", props.prop_exact_suboptimality, props.exact_instances(),
     dict(ls=lambda X, Y: sp.zeros(X.shape[1], Y.shape[1]))),
    # transient growth (P11)
    ("prefix transient: V sign flipped", props.prop_prefix_no_transient, props.transient_instances("prefix"),
     dict(construct=flipped_v)),
    ("depth-safe eta: the stable bound itself", props.prop_depth_safe_eta,
     props.transient_instances(st.sampled_from(["prefix", "causal"])),
     dict(safe_eta=lambda result: result["stable_eta_max"] * 0.999)),
    # variants (issue 7)
    ("variant stack: V sign flipped", variant_props.prop_variant_forward, variant_props.variants(),
     dict(construct=flipped_v)),
    ("variant stack: mask off by one", variant_props.prop_variant_forward, variant_props.variants(),
     dict(mutate_mask=off_by_one)),
    ("variant stack: normalizer missing", variant_props.prop_variant_forward, variant_props.variants(),
     dict(mutate_c=no_normalizer)),
    ("variant stack: w0 left out of the tokens", variant_props.prop_variant_forward, variant_props.variants(),
     dict(w0_in_tokens=False)),
    ("fixed point: mask off by one", variant_props.prop_stationary_is_fixed_point,
     variant_props.variants(mode="generic"), dict(stationary=stationary_off_by_one)),
    ("fixed point: normalizer missing", variant_props.prop_stationary_is_fixed_point,
     variant_props.variants(mode="generic"), dict(stationary=stationary_without_normalizer)),
    ("variant convergence: mask off by one", variant_props.prop_variant_reaches_stationary,
     variant_props.stable_variants(), dict(stationary=stationary_off_by_one)),
    ("variant convergence: V sign flipped", variant_props.prop_variant_reaches_stationary,
     variant_props.stable_variants(), dict(construct=flipped_v)),
    ("rate: normalizer missing", variant_props.prop_rate_is_spectral_radius,
     variant_props.variants(mode="generic", layers=st.just(1)),
     dict(rate=lambda v, eta: analyse(v.prompt.X, v.mask, no_normalizer(v.c), eta, v.gamma, layers=0)["rate"])),
    ("numeric = symbolic: numeric mask off by one", props.prop_numeric_equals_symbolic,
     props.symbolic_instances(), dict(mutate_mask=off_by_one)),
    ("numeric = symbolic: numeric V sign flipped", props.prop_numeric_equals_symbolic,
     props.symbolic_instances(), dict(construct=flipped_v)),
    ("rate: LSA mask off by one", variant_props.prop_rate_is_spectral_radius,
     variant_props.variants(mode="generic", layers=st.just(1)), dict(mutate_mask=off_by_one)),
]


def assert_caught(prop, strategy, mutation, max_examples=300):
    """Hypothesis must find an instance on which ``prop(instance, **mutation)`` fails an assertion."""

    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(instance):
        with np.errstate(all="ignore"):
            prop(instance, **mutation)

    with pytest.raises(AssertionError):
        run()


@pytest.mark.parametrize("name, prop, strategy, mutation", MUTATIONS, ids=[row[0] for row in MUTATIONS])
def test_mutant_is_caught(name, prop, strategy, mutation):
    assert_caught(prop, strategy, mutation)


def test_every_property_has_a_mutant():
    """Each ``prop_*`` body of the two property files appears in the table."""
    bodies = {getattr(module, name) for module in (props, variant_props) for name in dir(module)
              if name.startswith("prop_")}
    assert bodies == {row[1] for row in MUTATIONS}
