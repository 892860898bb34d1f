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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verify.construction import Construction, paper
from verify.masks import SymbolicMask, reads
from verify.normalizers import normalizer

#: best first; a theorem is never better than the worst status it depends on
STATUSES = ("proved", "conditional", "checked", "refuted", "failed")

#: modules of proofs/, in dependency order; each defines ``THEOREM`` (``conformance``: E0, engine conformance)
MODULES = ("conformance", "lemma", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11")


def _at_call_time(module: str, name: str) -> Callable:
    """``module.name`` looked up at every call: the proofs read the package's model as it is
    when they run (a replaced ``verify.masks.reads`` is what they see), never a copy."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = f"{module}.{name}"
    return call


@dataclass(frozen=True)
class Setup:
    """What the proofs are about; replace a field to get a (deliberately wrong) variant.

    Every field defaults to the package's own definition, looked up at call time:

    construction : ``verify.construction.paper(eta, d, k=1)`` (``d`` an int or a SymPy symbol).
    mask : ``verify.masks.attention_mask(spec, n, m)`` (built from ``reads``).
    reads : ``verify.masks.reads(spec, i, j, n)``.
    normalizer : ``verify.normalizers.normalizer(kind, mask, scale)``.
    attend, lsa_layer, lsa_forward : ``verify.lsa.attend``, ``lsa_layer`` and ``lsa_forward``.
    extra : options; ``{"fail_fast": True}`` makes the proofs of ``proofs/symbolic.py``
        stop at their first failed check (used by the mutation tests).
    """

    construction: Callable = _at_call_time("verify.construction", "paper")
    mask: Callable = _at_call_time("verify.masks", "attention_mask")
    reads: Callable = _at_call_time("verify.masks", "reads")
    normalizer: Callable = _at_call_time("verify.normalizers", "normalizer")
    attend: Callable = _at_call_time("verify.lsa", "attend")
    lsa_layer: Callable = _at_call_time("verify.lsa", "lsa_layer")
    lsa_forward: Callable = _at_call_time("verify.lsa", "lsa_forward")
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
    #: per conclusion of the formal statement, the checks that established it (``proofs.formal.establish``)
    coverage: tuple = ()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        from .assumptions import ASSUMPTIONS

        unknown = [a for a in self.assumes if a not in ASSUMPTIONS]
        if unknown:
            raise ValueError(f"unknown assumption ids {unknown}; register them in proofs/assumptions.py")


@dataclass(frozen=True)
class Theorem:
    """One entry of the blueprint.

    ``formal`` is the statement as data (a SymPy Boolean or a list of them, one per conclusion,
    see ``proofs.formal``); ``prove(setup, formal)`` establishes exactly that formula: the
    registry hands it the ``formal`` of the theorem it runs, so a replaced formula is what is checked.
    """

    id: str
    title: str
    statement: str
    latex: str
    depends_on: tuple
    prove: Callable[[Setup, Any], Result]
    formal: Any = None


# ---------------------------------------------------------------- deliberately wrong models


def _flip_v(eta, d, k=1, gamma=None):
    con = paper(eta, d, k, gamma)
    return Construction(con.K, con.Q, -con.V, con.P)


def _double_p(eta, d, k=1, gamma=None):
    con = paper(eta, d, k, gamma)
    return Construction(con.K, con.Q, con.V, 2 * con.P)


def _flip_v_from_5(eta, d, k=1, gamma=None):
    """V's sign flipped only when d >= 5 (and at a symbolic d): right at every sampled small size."""
    con = paper(eta, d, k, gamma)
    return con if isinstance(d, (int, np.integer)) and d < 5 else Construction(con.K, con.Q, -con.V, con.P)


def _mask_from(rule: Callable) -> Callable:
    """A mask function built from a (wrong) ``reads`` the way ``attention_mask`` builds it."""
    def mask(spec, n, m):
        if not isinstance(n, (int, np.integer)):
            return _WrongMask(spec, n, m, rule)
        tokens = np.arange(n + m)
        return np.asarray(rule(spec, tokens[:, None], tokens[None, :], n), dtype=bool).reshape(n + m, n + m)
    return mask


@dataclass(frozen=True)
class _WrongMask(SymbolicMask):
    rule: Callable = reads

    def __getitem__(self, index):
        i, j = index
        return self.rule(self.spec, i, j, self.n)


def _reads_ahead_from_7(spec, i, j, n):
    """Example j also reads example j + 1 once n >= 7 (so causal is wrong only at n >= 7)."""
    base = reads(spec, i, j, n)
    if isinstance(base, (bool, np.ndarray)):
        return base | ((i == j + 1) & (i < n) & (j < n) & (n >= 7))
    import sympy as sp

    return sp.Or(base, sp.And(sp.Eq(i, j + 1), i < n, n >= 7))


def _reads_ahead(spec, i, j, n):
    """Examples also read the next example (causal j reads 0..j+1; prefix is unchanged)."""
    base = reads(spec, i, j, n)
    if isinstance(base, (bool, np.ndarray)):
        return base | ((i == j + 1) & (i < n))
    import sympy as sp

    return sp.Or(base, sp.And(sp.Eq(i, j + 1), i < n))


def _reads_strict(spec, i, j, n):
    """Examples stop reading themselves (causal j reads 0..j-1)."""
    base = reads(spec, i, j, n)
    if isinstance(base, (bool, np.ndarray)):
        return base & ~(np.asarray(i == j) & np.asarray(j < n))
    import sympy as sp

    return sp.And(base, sp.Not(sp.And(sp.Eq(i, j), j < n)))


def _reads_shift(spec, i, j, n):
    """Example j reads i + 1 wherever it should read i (causal 1..j+1, prefix 1..n-1 plus nothing at 0)."""
    base = reads(spec, i - 1, j, n)
    if isinstance(base, (bool, np.ndarray)):
        return (base & (i >= 1) & (i < n)) if not isinstance(base, bool) else bool(base and i >= 1 and i < n)
    import sympy as sp

    return sp.And(base, i >= 1, i < n)


def _shift_normalizer(when: Callable) -> Callable:
    """The normalizer plus one wherever ``when(size)`` holds (``size = n + m``), numeric and symbolic."""
    def wrong(kind, mask, scale=1.0):
        c = normalizer(kind, mask, scale)
        if isinstance(mask, SymbolicMask):
            import sympy as sp

            j = sp.Symbol("j", integer=True)
            return sp.Lambda(j, c(j) + sp.Piecewise((1, when(mask.n + mask.m)), (0, True)))
        return c + 1 if when(mask.shape[1]) else c
    return wrong


def _do_nothing_attend(targets, sources, construction, mask=None, c=1):
    return targets


def _do_nothing_layer(Z, construction, mask=None, c=1):
    return Z


def _do_nothing_forward(Z, constructions, mask=None, c=1):
    return [Z] * (len(constructions) + 1)


def _with_reads(rule: Callable) -> Setup:
    return Setup(reads=rule, mask=_mask_from(rule))


#: deliberately wrong models (tests and ``icl-verify prove --mutation NAME``): every proof must
#: report ``failed`` on each of them, except ``mask-ahead`` and ``mask-ahead-from-7``, which leave the
#: prefix mask as it is (only proofs about causal attention must fail on them).  The ``-from-``
#: mutations are right at every small size and wrong only beyond (and at symbolic sizes).
MUTATIONS = {
    "flip-v": Setup(construction=_flip_v),
    "double-p": Setup(construction=_double_p),
    "flip-v-from-d5": Setup(construction=_flip_v_from_5),
    "mask-shift": _with_reads(_reads_shift),
    "mask-strict": _with_reads(_reads_strict),
    "mask-ahead": _with_reads(_reads_ahead),
    "mask-ahead-from-7": _with_reads(_reads_ahead_from_7),
    "normalizer-off": Setup(normalizer=_shift_normalizer(lambda size: True)),
    "normalizer-off-from-9": Setup(normalizer=_shift_normalizer(lambda size: size >= 9)),
    "do-nothing": Setup(attend=_do_nothing_attend, lsa_layer=_do_nothing_layer, lsa_forward=_do_nothing_forward),
}


#: gates: a gate's entry can only fail the theorems it names, never lower them otherwise.  E0 (engine
#: conformance, ``proofs/conformance.py``) is ``checked`` at finite sizes; if it ``failed``, the numbers
#: ``simulate``, ``stationary`` and ``rate`` print are not the proved model's, so every theorem those
#: commands rely on is ``failed`` too; if it is ``checked``, their statuses stay what their proofs give
#: (the proofs are about the symbolic model; E0 ties the numeric engine to it).
GATES = {"E0": ("L6", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P11")}


def gates_of(tid: str) -> list[str]:
    """The gates of theorem ``tid`` (ids of entries whose failure fails it)."""
    return [gate for gate, gated in GATES.items() if tid in gated]


def theorems() -> list[Theorem]:
    """Every theorem, in dependency order (a module may add more after its ``THEOREM``)."""
    out = []
    for name in MODULES:
        module = importlib.import_module(f"proofs.{name}")
        out.append(module.THEOREM)
        out.extend(getattr(module, "MORE_THEOREMS", ()))
    return out


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
            stack.extend(g for g in gates_of(tid) if g in by_id)
    return [t for t in theorems if t.id in needed]


def _prove(theorem: Theorem, setup: Setup) -> Result:
    """``theorem.prove(setup, theorem.formal)``; a proof function that takes only the setup (a hand-written
    stand-in, as tests use) is called with the setup alone."""
    import inspect

    prove: Callable = theorem.prove
    params = inspect.signature(prove).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional):
        return prove(setup, theorem.formal)
    return prove(setup)


def run(theorem: Theorem, setup: Setup | None = None) -> dict[str, Any]:
    """Run one proof and return its JSON entry (``id, title, status, scope, depends_on, seconds``...)."""
    start = time.perf_counter()
    from . import formal as _formal

    try:
        result = _prove(theorem, setup or Setup())
    except Exception as exc:  # a proof that crashes on a wrong setup has failed, not passed
        stopped = type(exc).__name__ == "CheckFailed"  # a fail-fast ledger (proofs.symbolic) stopped early
        result = Result("failed", "stopped at the first failed check" if stopped else "exception",
                        detail=str(exc) if stopped else f"{type(exc).__name__}: {exc}")
    from .assumptions import spot_check

    broken = [a for a in result.assumes if not spot_check(a)]  # the assumption as registered now
    problems = [f"spot check of {', '.join(broken)} failed"] if broken else []
    if theorem.formal is not None and result.status != "failed":  # coverage is the formula's, not the proof's word
        stated = list(map(_formal.render, _formal.conclusions(theorem.formal)))
        covered = [c["conclusion"] for c in result.coverage if c["checks"]]
        if len(covered) != len(stated) or not stated:
            problems.append(f"{len(stated) - len(covered)} of the {len(stated)} conclusions of the formal statement "
                            "were established by no check")
    if problems:  # a named result whose spot check fails cannot be leaned on; an uncovered conclusion is unproved
        result = Result("failed", result.scope, result.witness, "; ".join(filter(None, [result.detail, *problems])),
                        result.assumes, result.coverage)
    entry = {
        "id": theorem.id,
        "title": theorem.title,
        "status": result.status,
        "scope": result.scope,
        "depends_on": list(theorem.depends_on),
        "assumes": list(result.assumes),
        "formal": _formal.render(theorem.formal),
        "conclusions": [dict(c) for c in result.coverage],
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
    """Statuses along ``depends_on``: a theorem is never better than what it depends on; and a
    failed gate (:data:`GATES`, e.g. E0) fails the theorems it gates, leaving them unchanged otherwise.

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
        # what a theorem rests on includes what its dependencies rest on
        entry["own_assumes"] = list(entry.get("assumes", ()))
        inherited = [a for d in entry["depends_on"] if d in by_id for a in by_id[d]["assumes"]]
        entry["assumes"] = list(dict.fromkeys([*entry["own_assumes"], *inherited]))
        deps = [by_id[d]["status"] if d in by_id else "failed" for d in entry["depends_on"]]
        entry["status"] = worst([entry["status"], *deps])
        failed_gates = [g for g in gates_of(entry["id"]) if g in by_id and by_id[g]["status"] == "failed"]
        if failed_gates:
            entry["status"] = "failed"
        weak = [d for d in entry["depends_on"] if d not in by_id or by_id[d]["status"] != "proved"]
        if entry["status"] != entry["own_status"]:
            why = [f"limited by its dependencies {', '.join(weak)}"] if weak else []
            why += [f"the numeric engine disagrees with the proved model ({', '.join(failed_gates)} failed)"
                    ] if failed_gates else []
            entry["detail"] = "; ".join(filter(None, [entry.get("detail", ""), *why]))
        by_id[entry["id"]] = entry
        out.append(entry)
    return out
