"""Scale covariance (issue 16): every command answers the same on a prompt and on it rescaled by powers of two.

With ``X -> 2^a X`` and ``y -> 2^b y`` the mathematics maps weights to ``2^(b-a)``
times, step sizes to ``2^(-2a)`` times and predictions to ``2^b`` times their
values; rates and transient peaks do not change.  The commands run in a frame of
exact powers of two (``verify.frame``), so the rescaled answers must agree to
1e-12 relative -- or the rescaled run must refuse in one line (exit 2) because an
output leaves the float range.  The mutation check shows that an absolute zero
test (an eigenvalue below 1e-8 counts as zero) is caught.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np
from helpers import save_prompt
from hypothesis import Phase, assume, find, given, settings
from hypothesis import strategies as st

from verify.cli import main
from verify.lemma import residual_operator
from verify.masks import attention_mask
from verify.normalizers import normalizer
from verify.strategies import prompts

RTOL = 1e-12
TINY = float(np.finfo(float).tiny)
SPECS = ("prefix", "causal", "sliding:2", "block:2", "hybrid:2")


def cli(*argv) -> tuple[int, dict | None]:
    """Run a command with ``--json FILE``; ``(exit code, result or None)``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        code = main([str(a) for a in argv] + ["--json", out])
        if code != 0:
            assert not os.path.exists(out), "a refused command wrote its output"
            return code, None
        with open(out) as fh:
            return code, json.load(fh)


def commands(X, y, Xq, spec: str, kind: str, eta: float) -> dict:
    """Every command on one prompt: ``{command: (exit code, result)}``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_prompt(os.path.join(tmp, "p.npz"), X, y, Xq)
        model = ["--attention", spec, "--normalization", kind]
        return {
            "stationary": cli("stationary", path, *model),
            "rate": cli("rate", path, *model, "--eta", repr(eta), "--layers", 6),
            "simulate": cli("simulate", path, *model, "--eta", repr(eta), "--layers", 3),
        }


#: output key -> how it scales: exponent = u * a + v * b for (u, v)
SCALING = {
    "stationary": {"example_weights": (-1, 1), "query_weight": (-1, 1), "query_weights": (-1, 1),
                   "query_predictions": (0, 1)},
    "rate": {"rate": (0, 0), "stable_eta_max": (-2, 0), "stable": None, "transient_peak": (0, 0),
             "peak_layer": None, "depth_safe_eta": (-2, 0)},
    "simulate": {"query_predictions": (0, 1), "example_residuals": (0, 1), "algorithm_query_predictions": (0, 1),
                 "rate": (0, 0), "stable": None},
}


def representable(value, e: int) -> bool:
    a = np.asarray(value, dtype=float)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(a, e)
    top = float(np.max(np.abs(out), initial=0.0))
    return bool(np.all(np.isfinite(out)) and (not np.any(a != 0) or top >= TINY))


def assert_covariant(base: dict, scaled: dict, a: int, b: int) -> None:
    for command, keys in SCALING.items():
        code0, out0 = base[command]
        code1, out1 = scaled[command]
        if code0 != 0 or code1 != 0:
            # a refusal (exit 2) is right only when the other side's answer leaves the float range here
            assert 2 in (code0, code1), f"{command}: exit codes {code0}, {code1}"
            if code0 == code1:
                continue
            done, sign = (out1, -1) if code0 != 0 else (out0, 1)
            assert not all(representable(done[key], sign * (u * a + v * b))
                           for key, scaling in keys.items() if scaling is not None and key in done
                           for u, v in [scaling]), f"{command} refused an answer that a float holds"
            continue
        for key, scaling in keys.items():
            if key not in out0:
                continue
            if scaling is None:
                assert out1[key] == out0[key], f"{command}.{key} changed under rescaling"
                continue
            value = np.asarray(out0[key], dtype=float)
            e = scaling[0] * a + scaling[1] * b
            want = np.ldexp(value, e)
            got = np.asarray(out1[key], dtype=float)
            scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
            same_inf = np.isinf(want) == np.isinf(got)
            assert same_inf.all() and np.all(np.abs(got - want)[np.isfinite(want)] <= RTOL * scale), \
                f"{command}.{key}: {got} != 2^{e} * {value}"


@st.composite
def scale_instances(draw):
    prompt = draw(prompts(d=st.integers(1, 3), n=st.integers(2, 6), m=st.integers(1, 2),
                          mu_x=st.sampled_from([0.0, 2.0])))
    spec = draw(st.sampled_from(SPECS))
    kind = draw(st.sampled_from(["constant", "count"]))
    # the step size scales by 2^(-2a): keep it a normal float
    a = draw(st.integers(-480, 480))
    b = draw(st.integers(-700, 700))
    fraction = draw(st.sampled_from([0.3, 0.9]))
    return prompt, spec, kind, a, b, fraction


def exactly_scaled(a, e: int) -> bool:
    """``2^e a`` is exact: no nonzero entry leaves the normal range (a subnormal drops bits)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(a, e)
    return bool(np.all(np.isfinite(out)) and np.all((a == 0) | (np.abs(out) >= TINY)))


def _must(ok: bool) -> None:
    assert ok, "the chosen exponents do not rescale the prompt exactly"


def prop_covariant(instance, run=commands, require=assume) -> None:
    prompt, spec, kind, a, b, fraction = instance
    X, y, Xq = prompt.X, prompt.y, prompt.Xq
    # the rescaled prompt must be the exact rescaling (and the unscaled one a normal-range prompt)
    require(all(exactly_scaled(v, e) for v, e in ((X, a), (Xq, a), (y, b), (X, 0), (Xq, 0), (y, 0))))
    code, probe = cli_rate_probe(X, y, Xq, spec, kind)
    top = probe["stable_eta_max"] if code == 0 else None
    eta = fraction * top if top and np.isfinite(top) else 0.1
    base = run(X, y, Xq, spec, kind, eta)
    scaled = run(np.ldexp(X, a), np.ldexp(y, b), np.ldexp(Xq, a), spec, kind, float(np.ldexp(eta, -2 * a)))
    assert_covariant(base, scaled, a, b)


def cli_rate_probe(X, y, Xq, spec, kind):
    with tempfile.TemporaryDirectory() as tmp:
        path = save_prompt(os.path.join(tmp, "p.npz"), X, y, Xq)
        return cli("rate", path, "--attention", spec, "--normalization", kind, "--eta", 1)


@given(scale_instances())
def test_every_command_is_covariant_under_power_of_two_rescaling(instance):
    prop_covariant(instance)


def test_extreme_scales_rescale_or_refuse():
    """The issue's cases (2^100, 2^-100, 2^300, ...) on a prefix and a causal prompt: the step size
    scales by 2^(-2a), so ``|a| <= 480`` keeps it a float; ``y`` goes to 2^700."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (8, 3)) + 1
    y, Xq = X @ np.array([1.0, 2.0, 3.0]), rng.uniform(-1, 1, (2, 3))
    for spec in ("prefix", "causal"):
        for a, b in ((100, 100), (-100, -100), (300, 300), (-300, -300), (480, 700), (-480, -700), (0, 700),
                     (0, -700), (480, -700)):
            instance = (type("P", (), {"X": X, "y": y, "Xq": Xq}), spec, "constant", a, b, 0.5)
            prop_covariant(instance, require=_must)


def absolute_zero_test(X, y, Xq, spec, kind, eta):
    """A mutant: ``stable_eta_max`` from a spectrum whose zero test is absolute (|lambda| < 1e-8)."""
    out = commands(X, y, Xq, spec, kind, eta)
    mask = attention_mask(spec, X.shape[0], Xq.shape[0])
    lam = np.linalg.eigvals(residual_operator(X, mask, normalizer(kind, mask)))
    lam = lam[np.abs(lam) > 1e-8]
    code, rate = out["rate"]
    if code == 0:
        rate = dict(rate)
        with np.errstate(over="ignore"):
            rate["stable_eta_max"] = float(np.min(2 * lam.real / np.abs(lam) ** 2)) if lam.size else float("inf")
        out["rate"] = (code, rate)
    return out


def test_mutation_absolute_tolerance_is_caught():
    def fails(instance):
        try:
            prop_covariant(instance, run=absolute_zero_test)
        except AssertionError:
            return True
        return False

    found = find(scale_instances(), fails, settings=settings(max_examples=60, derandomize=True, database=None,
                                                             phases=(Phase.generate,)))
    assert found is not None
