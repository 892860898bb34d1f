"""Acceptance of issue 5: a test file written outside the project, using only
``from verify.strategies import prompts`` and numpy (and Hypothesis' ``given``),
runs green under pytest in a fresh process -- and a wrong claim in the same
setting runs red, so the harness itself can fail.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

USER_TEST = '''
import numpy as np
from hypothesis import given, settings
from verify.strategies import prompts


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(prompts(d=2, noise=0.5))
def test_least_squares_residual_is_orthogonal_to_the_inputs(prompt):
    assert prompt.X.shape == (prompt.n, 2) and prompt.y.shape == (prompt.n,)
    w = np.linalg.lstsq(prompt.X, prompt.y, rcond=None)[0]
    r = prompt.y - prompt.X @ w
    scale = 1 + np.abs(prompt.X).max() * (np.abs(prompt.y).max() + np.abs(r).max())
    assert np.abs(prompt.X.T @ r).max() <= 1e-8 * scale * np.linalg.cond(prompt.X)


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(prompts(mode="exact"))
def test_exact_prompts_hold_the_same_numbers(prompt):
    assert np.array_equal(np.array(prompt.exact.X, dtype=float), prompt.X)
'''

WRONG_CLAIM = '''
import numpy as np
from hypothesis import given, settings
from verify.strategies import prompts


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(prompts(d=2, n=3, noise=0.5))
def test_noisy_labels_are_fitted_exactly_by_least_squares(prompt):
    w = np.linalg.lstsq(prompt.X, prompt.y, rcond=None)[0]
    assert np.abs(prompt.y - prompt.X @ w).max() <= 1e-9
'''


def test_external_test_files_run_green_and_red(tmp_path):
    """One fresh pytest process outside the project (no project conftest, no profile):
    the user's true claims pass and the wrong claim fails."""
    (tmp_path / "test_user_claims.py").write_text(textwrap.dedent(USER_TEST))
    (tmp_path / "test_user_wrong_claim.py").write_text(textwrap.dedent(WRONG_CLAIM))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "HYPOTHESIS_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "--rootdir", str(tmp_path), str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "PASSED test_user_claims.py::test_least_squares_residual_is_orthogonal_to_the_inputs" in out, out
    assert "PASSED test_user_claims.py::test_exact_prompts_hold_the_same_numbers" in out, out
    assert "FAILED test_user_wrong_claim.py::test_noisy_labels_are_fitted_exactly_by_least_squares" in out, out
    assert "1 failed, 2 passed" in out, out
