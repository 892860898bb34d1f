"""The paper's theory experiments (SPEC section 4) and E3 (issue 8), vectorized over tasks.

Each experiment is a pure function returning the rows of its CSV file (a list of
dicts); plotting (``verify.plots``) and writing files (``icl-verify figures``)
are separate.

- :func:`e1_convergence` -- E1: errors over 50 LSA layers, prefix vs causal.
- :func:`e2_stationary` -- E2: causal stationary query error vs context length.
- :func:`e3_transient` -- E3: transient growth of the residual iteration.
"""
from .e1 import E1_COLUMNS, e1_convergence
from .e2 import E2_COLUMNS, e2_stationary
from .e3 import E3_COLUMNS, e3_transient

__all__ = ["E1_COLUMNS", "E2_COLUMNS", "E3_COLUMNS", "e1_convergence", "e2_stationary", "e3_transient"]
