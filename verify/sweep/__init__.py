"""``icl-verify sweep``: studies over grids of prompts and variants, on Dask.

- :mod:`.grid`: the TOML grid file, its checks and its cells;
- :mod:`.cell`: one cell, the CLI's own commands run on the cell's example prompt;
- :mod:`.run`: the cells as Dask tasks (an embedded ``LocalCluster`` or an existing scheduler);
- :mod:`.store`: the Parquet dataset, one file per cell, written atomically;
- :mod:`.plot`: derived columns (``causal_gap``), line plots and heatmaps, the report's section.

Dask, pyarrow and pandas come with the ``[sweep]`` extra (:func:`require_extra`).
"""
from __future__ import annotations

from ..errors import PromptError

#: the top-level packages of the [sweep] extra
EXTRA = ("dask", "distributed", "pyarrow", "pandas")


def require_extra() -> None:
    """Check that the ``[sweep]`` extra is installed (without importing it: a finished grid starts
    no cluster), or refuse in one line saying what to install."""
    import importlib.util
    import sys

    for name in EXTRA + (("tomli",) if sys.version_info < (3, 11) else ()):
        if sys.modules.get(name, True) is None or importlib.util.find_spec(name) is None:
            raise PromptError(f"sweep: needs the [sweep] extra ({name} is missing); "
                              "install it with pip install 'icl-verify[sweep]'")
