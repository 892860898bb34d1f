"""Reading and writing experiment rows as CSV (one dict per row)."""
from __future__ import annotations

import csv

#: columns read back as integers; every other non-``model`` column is a float
INTEGER_COLUMNS = ("layer", "n", "mu_x")


def write_rows(rows, columns, path) -> str:
    """Write ``rows`` with exactly ``columns`` (in that order) to ``path``."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: repr(row[key]) if isinstance(row[key], float) else row[key] for key in columns})
    return str(path)


def read_rows(path) -> list:
    """Read a CSV written by :func:`write_rows`, restoring numbers."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key, value in row.items():
            if key == "model":
                continue
            row[key] = int(value) if key in INTEGER_COLUMNS else float(value)
    return rows
