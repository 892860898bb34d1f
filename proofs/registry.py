"""The theorem registry: every theorem as data (id, title, statement, dependencies, proof).

A proof is a function ``prove(setup) -> Result``.  ``setup`` carries everything
the proof is *about* (the construction, the attention masks, the normalizers),
so a test can hand it a wrong construction and watch the status become
``failed``.  Status is computed by running the proof, never typed in:

- ``proved``: checked symbolically for symbolic n, d (and by induction over L
  where layers matter: base case and step);
- ``checked``: only at the finite sizes named in ``scope``;
- ``failed``: some check did not hold.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from verify.construction import Construction, paper
from verify.masks import attention_mask
from verify.normalizers import normalizer

#: best first; a theorem is never better than the worst status it depends on
STATUSES = ("proved", "conditional", "checked", "refuted", "failed")

#: modules of proofs/, in dependency order; each defines ``THEOREM``
MODULES = ("lemma", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11")


@dataclass(frozen=True)
class Setup:
    """What the proofs are about; replace a field to get a (deliberately wrong) variant.

    construction : ``(eta, d, k=1) -> Construction`` (numeric or SymPy; proofs may
        call it with a SymPy ``eta`` and, for symbolic ``d``, build blocks from it).
    mask : ``(spec, n, m) -> bool array`` (``verify.masks.attention_mask``).
    normalizer : ``(kind, mask, scale) -> c`` (``verify.normalizers.normalizer``).
    extra : options; ``{"fail_fast": True}`` makes the proofs of ``proofs/symbolic.py``
        stop at their first failed check (used by the mutation tests).
    """

    construction: Callable = paper
    mask: Callable = attention_mask
    normalizer: Callable = normalizer
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The outcome of running a proof."""

    status: str
    scope: str
    witness: dict | None = None
    detail: str = ""
    #: ids of ``proofs.assumptions.ASSUMPTIONS`` the proof rests on (then it is at best ``conditional``)
    assumes: tuple = ()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        from .assumptions import ASSUMPTIONS

        unknown = [a for a in self.assumes if a not in ASSUMPTIONS]
        if unknown:
            raise ValueError(f"unknown assumption ids {unknown}; register them in proofs/assumptions.py")


@dataclass(frozen=True)
class Theorem:
    """One entry of the blueprint."""

    id: str
    title: str
    statement: str
    latex: str
    depends_on: tuple
    prove: Callable[[Setup], Result]


def _flip_v(eta, d, k=1):
    con = paper(eta, d, k)
    return Construction(con.K, con.Q, -con.V, con.P)


def _double_p(eta, d, k=1):
    con = paper(eta, d, k)
    return Construction(con.K, con.Q, con.V, 2 * con.P)


def _mask_shift(spec, n, m):
    """Example j reads i + 1 wherever it should read i (causal 2..j+1, prefix 2..n)."""
    mask = attention_mask(spec, n, m)
    shifted = np.zeros_like(mask)
    shifted[1:n, :n] = mask[: n - 1, :n]
    shifted[:n, n:] = mask[:n, n:]
    return shifted


def _mask_ahead(spec, n, m):
    """Examples also read the next example (causal j reads 1..j+1; prefix is unchanged)."""
    mask = attention_mask(spec, n, m).copy()
    mask[np.arange(1, n), np.arange(n - 1)] = True
    return mask


def _mask_strict(spec, n, m):
    """Examples stop reading themselves (causal j reads 1..j-1)."""
    mask = attention_mask(spec, n, m).copy()
    mask[np.arange(n), np.arange(n)] = False
    return mask


def _normalizer_off(kind, mask, scale=1.0):
    return normalizer(kind, mask, scale) + 1


#: deliberately wrong setups (tests and ``icl-verify prove --mutation NAME``): every
#: proof must report ``failed`` on each of them, except ``mask-ahead``, which leaves the
#: prefix mask as it is (only proofs about causal attention must fail on it)
MUTATIONS = {
    "flip-v": Setup(construction=_flip_v),
    "double-p": Setup(construction=_double_p),
    "mask-shift": Setup(mask=_mask_shift),
    "mask-strict": Setup(mask=_mask_strict),
    "mask-ahead": Setup(mask=_mask_ahead),
    "normalizer-off": Setup(normalizer=_normalizer_off),
}


def theorems() -> list[Theorem]:
    """Every theorem, in dependency order."""
    return [importlib.import_module(f"proofs.{name}").THEOREM for name in MODULES]


def closure(theorems: list[Theorem], ids) -> list[Theorem]:
    """The theorems named by ``ids`` and everything they depend on, in registry order."""
    by_id = {t.id: t for t in theorems}
    needed: set[str] = set()
    stack = list(ids)
    while stack:
        tid = stack.pop()
        if tid not in needed:
            needed.add(tid)
            stack.extend(by_id[tid].depends_on)
    return [t for t in theorems if t.id in needed]


def run(theorem: Theorem, setup: Setup | None = None) -> dict[str, Any]:
    """Run one proof and return its JSON entry (``id, title, status, scope, depends_on, seconds``...)."""
    start = time.perf_counter()
    try:
        result = theorem.prove(setup or Setup())
    except Exception as exc:  # a proof that crashes on a wrong setup has failed, not passed
        stopped = type(exc).__name__ == "CheckFailed"  # a fail-fast ledger (proofs.symbolic) stopped early
        result = Result("failed", "stopped at the first failed check" if stopped else "exception",
                        detail=str(exc) if stopped else f"{type(exc).__name__}: {exc}")
    entry = {
        "id": theorem.id,
        "title": theorem.title,
        "status": result.status,
        "scope": result.scope,
        "depends_on": list(theorem.depends_on),
        "assumes": list(result.assumes),
        "seconds": round(time.perf_counter() - start, 3),
    }
    if result.witness is not None:
        entry["witness"] = result.witness
    if result.detail:
        entry["detail"] = result.detail
    return entry


def worst(statuses) -> str:
    """The worst of some statuses in the order ``proved > conditional > checked > refuted > failed``."""
    ranks = [STATUSES.index(s) for s in statuses]
    return STATUSES[max(ranks)] if ranks else STATUSES[0]


def compose(entries: list[dict]) -> list[dict]:
    """Statuses along ``depends_on``: a theorem is never better than what it depends on.

    ``entries`` in dependency order (``run``'s dicts); each gains ``own_status`` (what its
    own proof gave) and ``status`` becomes the worst of its own and its dependencies'
    composed statuses.  A dependency that was not run counts as ``failed``: nothing
    vouches for it.  Returns new dicts; the input is not changed.
    """
    by_id: dict[str, dict] = {}
    out = []
    for entry in entries:
        entry = dict(entry)
        entry["own_status"] = entry["status"]
        deps = [by_id[d]["status"] if d in by_id else "failed" for d in entry["depends_on"]]
        entry["status"] = worst([entry["status"], *deps])
        weak = [d for d in entry["depends_on"] if d not in by_id or by_id[d]["status"] != "proved"]
        if entry["status"] != entry["own_status"]:
            entry["detail"] = "; ".join(filter(None, [entry.get("detail", ""),
                                                      f"limited by its dependencies {', '.join(weak)}"]))
        by_id[entry["id"]] = entry
        out.append(entry)
    return out
