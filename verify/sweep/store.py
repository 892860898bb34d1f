"""The sweep's results: a Parquet dataset under DIR, one file per cell, ``DIR/KEY.parquet``.

``KEY`` is :func:`verify.sweep.grid.cell_key` (a hash of the measured commands and the cell's
values), so a cell has one file whatever happens: a result is written to a temporary file in DIR
(its name starts with ``.``, which Parquet readers skip) and renamed over ``KEY.parquet``
(atomic on POSIX); writing a cell again replaces its row, never adds one.  The files present are
the finished cells.  :func:`compact` gives every file the dataset's common schema, so
``pandas.read_parquet(DIR)`` reads the whole study; :func:`load` reads it at any time.
"""
from __future__ import annotations

import os
import re

from ..errors import PromptError
from ..output import atomic_path

#: the name of a cell's file (what :func:`finished` counts)
CELL_FILE = re.compile(r"^([0-9a-f]{24})\.parquet$")


def cell_path(out: str, key: str) -> str:
    return os.path.join(out, f"{key}.parquet")


def finished(out: str) -> set[str]:
    """Keys of the cells whose result is in ``out``."""
    if not os.path.isdir(out):
        return set()
    return {m.group(1) for m in map(CELL_FILE.match, os.listdir(out)) if m}


def _write(out: str, key: str, table) -> None:
    import pyarrow.parquet as pq

    with atomic_path(cell_path(out, key)) as tmp:
        pq.write_table(table, tmp)


def write_cell(out: str, row: dict) -> None:
    """Write one cell's row atomically to ``out/KEY.parquet`` (replacing a previous result of the cell)."""
    import pyarrow as pa

    _write(out, row["cell"], pa.Table.from_pylist([row]))


def _cell_tables(out: str) -> list:
    import pyarrow.parquet as pq

    return [pq.read_table(cell_path(out, key)) for key in sorted(finished(out))]


def load(out: str):
    """Every finished cell of ``out`` as one ``pyarrow.Table`` (columns unified; missing values null)."""
    import pyarrow as pa

    tables = _cell_tables(out)
    if not tables:
        raise PromptError(f"DIR: {out!r} holds no sweep results; run icl-verify sweep GRID.toml --out {out} first")
    return pa.concat_tables(tables, promote_options="permissive")


def compact(out: str) -> int:
    """Rewrite the cell files whose schema differs from the dataset's common one; return how many.

    A cell that failed has no ``COMMAND.KEY`` columns and a key that was null has type null;
    afterwards every file has every column with one type, so any Parquet reader sees one table.
    Only the files' footers are read unless a file needs rewriting.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = sorted(finished(out))
    schemas = [pq.read_schema(cell_path(out, key)).remove_metadata() for key in keys]
    if not schemas:
        return 0
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    rewritten = 0
    for key, own in zip(keys, schemas):
        if own.equals(schema):
            continue
        table = pq.read_table(cell_path(out, key))
        columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
                   else pa.nulls(table.num_rows, f.type) for f in schema]
        _write(out, key, pa.Table.from_arrays(columns, schema=schema))
        rewritten += 1
    return rewritten
