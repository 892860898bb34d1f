"""Load the Hypothesis profile named by ``HYPOTHESIS_PROFILE`` (``ci``, ``dev`` or ``thorough``).

Importing :mod:`verify.profiles` registers the three profiles and loads the
selected one (default ``dev``), e.g. ``HYPOTHESIS_PROFILE=ci python -m pytest -n 2``.
"""
import verify.profiles  # noqa: F401
