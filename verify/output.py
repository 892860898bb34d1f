"""Writing results: JSON (``-`` for stdout) with non-finite numbers as ``null``."""
from __future__ import annotations

import json
import math
import sys

import numpy as np


def to_jsonable(value):
    """Convert numpy values to plain JSON types; NaN and inf become None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_json(result: dict, target: str) -> None:
    """Write ``result`` to the file ``target``, or to stdout when ``target == '-'``."""
    text = json.dumps(to_jsonable(result), indent=2)
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(target, "w") as fh:
            fh.write(text + "\n")
