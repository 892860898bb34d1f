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

#: the modules of the [sweep] extra and what to install when one is missing
EXTRA = ("dask.distributed", "pyarrow", "pyarrow.parquet", "pandas")


def require_extra() -> None:
    """Import the ``[sweep]`` extra's modules, or refuse in one line saying what to install."""
    import importlib
    import sys

    for name in EXTRA + (("tomli",) if sys.version_info < (3, 11) else ()):
        try:
            importlib.import_module(name)
        except ImportError:
            raise PromptError(f"sweep: needs the [sweep] extra ({name} is missing); "
                              "install it with pip install 'icl-verify[sweep]'") from None
