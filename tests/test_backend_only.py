"""No function of the model branches on the representation of its arguments outside verify/backend.py.

The model is written once (``verify.construction``, ``verify.masks``, ``verify.normalizers``,
``verify.lsa``); numpy, JAX, SymPy and Python numbers differ only inside ``verify.backend``'s
helpers.  This test reads the model modules' source and fails on any type test there: a call
of ``isinstance``, ``issubclass``, ``type``, ``hasattr``, a reference to a representation class
(``np.ndarray``, ``np.integer``, ``np.floating``, ``sympy.Basic``, ...), a SymPy ``is_*`` class flag,
or ``__class__``.  Its own mutation check: the same scanner flags each such snippet.
"""
from __future__ import annotations

import ast
import inspect

import pytest

import verify.construction
import verify.lsa
import verify.masks
import verify.normalizers

MODEL = (verify.construction, verify.masks, verify.normalizers, verify.lsa)
TYPE_CALLS = {"isinstance", "issubclass", "type", "hasattr"}
REPRESENTATIONS = {"ndarray", "integer", "floating", "number", "generic", "Basic", "Expr", "MatrixBase", "MatrixExpr",
                   "Symbol", "Array", "Tracer", "bool_"}
SYMPY_FLAGS = {"is_Symbol", "is_Matrix", "is_Number", "is_Integer", "is_Rational", "is_Boolean", "is_symbol"}


def type_branches(source: str) -> list[str]:
    """Every type test in ``source``: ``'line N: what'``."""
    tree = ast.parse(source)
    # annotations name types without testing them; a constructor call (``sympy.Symbol("j")``) builds one
    skip = {id(n) for node in ast.walk(tree) for a in _annotations(node) for n in ast.walk(a)}
    skip |= {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in TYPE_CALLS:
            found.append(f"line {node.lineno}: {node.func.id}(...)")
        elif isinstance(node, ast.Attribute) and node.attr in REPRESENTATIONS | SYMPY_FLAGS | {"__class__"}:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def _annotations(node) -> list:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
        return [a.annotation for a in args if a.annotation is not None] + ([node.returns] if node.returns else [])
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    return []


@pytest.mark.parametrize("module", MODEL, ids=lambda m: m.__name__)
def test_the_model_has_no_type_branch_outside_the_backend(module):
    assert type_branches(inspect.getsource(module)) == [], module.__name__


@pytest.mark.parametrize("snippet", [
    "def f(x):\n    return x if isinstance(x, int) else -x",
    "def f(x):\n    if type(x) is float:\n        return 1",
    "import numpy as np\ndef f(x):\n    return np.ndarray",
    "def f(x):\n    return x.is_Symbol",
    "def f(x):\n    return hasattr(x, 'shape')",
    "def f(x):\n    return x.__class__",
    "import sympy\ndef f(x) -> int:\n    return x if x in (sympy.Symbol,) else 0",
])
def test_the_scanner_flags_every_kind_of_type_test(snippet):
    assert type_branches(snippet), snippet


def test_the_backend_is_where_the_dispatch_lives():
    import verify.backend

    assert type_branches(inspect.getsource(verify.backend))  # the scanner sees the backend's own tests
