"""Hypothesis profiles for the property suite, selected by ``HYPOTHESIS_PROFILE``.

Importing this module registers three profiles and loads the one named by the
environment variable ``HYPOTHESIS_PROFILE`` (default ``dev``)::

    HYPOTHESIS_PROFILE=ci python -m pytest -n 2      # what CI and the README run
    HYPOTHESIS_PROFILE=thorough python -m pytest     # nightly-style, many examples

=============  ===========  =====================================================
profile        examples     purpose
=============  ===========  =====================================================
``ci``         25           derandomized, no example database: the same examples
                            on every run and machine, so a red CI is reproducible
``dev``        60           random examples, local database (replays failures)
``thorough``   1000         random examples, for a long nightly run
=============  ===========  =====================================================

All three disable the deadline: the first call into LAPACK or SymPy can take
far longer than later ones, and a deadline would make timing a test outcome.
``print_blob`` is on so a failure prints the ``@reproduce_failure`` line.

A project reusing :mod:`verify.strategies` need not import this module; it can
register its own profiles.  ``verify.strategies`` never loads a profile.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

ENV_VAR = "HYPOTHESIS_PROFILE"
DEFAULT = "dev"
PROFILES = ("ci", "dev", "thorough")

# Strategies that run LAPACK while drawing (stable step sizes) are slower to
# generate than Hypothesis expects of pure data, which is not a bug.
_COMMON = settings(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])

settings.register_profile("ci", _COMMON, max_examples=25, derandomize=True, database=None)
settings.register_profile("dev", _COMMON, max_examples=60)
settings.register_profile("thorough", _COMMON, max_examples=1000)


def load(name: str | None = None) -> str:
    """Load profile ``name`` (default: ``$HYPOTHESIS_PROFILE`` or ``dev``); return its name.

    A profile the user registered elsewhere is accepted too.  Raises ValueError
    naming the variable and the known profiles when the name is unknown.
    """
    name = name or os.environ.get(ENV_VAR) or DEFAULT
    try:
        settings.load_profile(name)
    except InvalidArgument:
        raise ValueError(f"{ENV_VAR}: unknown Hypothesis profile {name!r}; use one of {', '.join(PROFILES)}") from None
    return name


ACTIVE = load()
