"""The variant claims V1-V5 of SPEC section 7, decided for one variant.

How each is decided (statuses as in :mod:`proofs.registry`):

- V1: P10's classification (:func:`verify.derive.derive`: the package's layer on symbolic
  tokens, identities in every data symbol, at the construction's ``d``; the paper's
  construction also through the general lemma L6 at symbolic ``d``): ``proved``, or
  ``refuted`` with concrete tokens whose form breaks.
- V2-V5 need V1 (the residual dynamics ``r <- r - eta N r``, ``N = D^{-1} M``, exist only
  for constructions in P10's family).  The rule's structure for *all* ``n`` comes from z3
  (:mod:`.structure`); where a structure settles a claim, the claim is ``proved`` or
  ``conditional`` on named results of :mod:`proofs.assumptions`; otherwise a deterministic
  exact search (:mod:`.search`) refutes it with a re-checked witness, or the claim is
  ``checked`` at the sizes tried.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import sympy as sp

from proofs.symbolic import Ledger  # the ledger every theorem's status comes from

from . import exact as ex
from . import refute, scaling, search
from .construction import (
    Classification,
    VariantConstruction,
    check_v1,
    gamma_text,
    scalar_positive,
    symbolic_step,
    symmetric_psd,
    v1_witness,
)
from .structure import Attention, Structure, blocks, named

STATEMENTS = {
    "V1": "The stack is per-position preconditioned gradient descent: w_j <- w_j + (eta/c_j) sum_{i in A(j)} "
          "(y_i - w_i x_i) x_i^T Gamma_0 (P10's family; SPEC section 6).",
    "V2": "At the stationary point every query's prediction equals the minimum-norm least-squares prediction "
          "y X^+ x_q on the examples (every prompt with nonzero examples at which the stack is stable for some eta, "
          "docs/SPEC.md section 7).",
    "V3": "The step sizes with rate < 1 are exactly 0 < eta < eta_max",
    "V4": "Every eta stable for prefix attention with the same normalizer is stable for this variant.",
    "V5": "For every stable eta (docs/SPEC.md section 7), ||(I - eta D^{-1} M)^l||_2 <= 1 for every layer l "
          "(no transient growth).",
}


def _formal() -> dict:
    """Each claim as a SymPy Boolean (data, like ``Theorem.formal``): ``stable`` is docs/SPEC.md section 7's
    ``(a) & (b) & (c)`` at ``eta``, ``stable_prefix`` the same for prefix attention."""
    eta = sp.Symbol("eta", real=True)
    c_j, n = sp.symbols("c_j n", positive=True)
    i, j, q = sp.symbols("i j q", integer=True)
    r, xg, w, yhat, yls = (sp.IndexedBase(name) for name in ("r", "xGamma0", "w", "yhat_inf", "y_Xplus_x"))
    a, b, c = sp.symbols("nonzero_eigenvalues_inside rank_N2_eq_rank_N no_query_reads_null", cls=sp.Symbol)
    stable, prefix, eta_max, growth = sp.symbols("stable prefix_stable eta_max max_l_norm_B_l")
    stable_def = sp.Equivalent(stable, sp.And(a, b, c))
    return {
        "V1": sp.Eq(w[j, 1] - w[j, 0], eta / c_j * sp.Sum(r[i] * xg[i], (i, 0, n - 1))),  # the sum over A(j)
        "V2": sp.And(stable_def, sp.Implies(stable, sp.Eq(yhat[q], yls[q]))),
        "V3": sp.And(stable_def, sp.Equivalent(stable, sp.And(eta > 0, eta < eta_max))),
        "V4": sp.And(stable_def, sp.Implies(prefix, stable)),
        "V5": sp.And(stable_def, sp.Implies(stable, growth <= 1)),
    }


FORMAL = _formal()


class Context:
    """Everything the claims share: the attention, normalizer, construction and z3's structure."""

    def __init__(self, attention: Attention, kind: str, scale: Fraction, con: VariantConstruction,
                 structure: Structure, classes: dict[int, Classification]):
        self.attention, self.kind, self.scale, self.con = attention, kind, scale, con
        self.structure, self.classes = structure, classes
        self.prefix = named("prefix")

    def at_unit_scale(self) -> Context:
        """This context at ``c = 1`` (itself when ``c = 1`` or the normalizer is count): where the searches
        propose (:mod:`.scaling`: the claims are invariant in ``c``)."""
        if self.kind != "constant" or self.scale == 1:
            return self
        return Context(self.attention, self.kind, Fraction(1), self.con, self.structure, self.classes)

    @property
    def search_dims(self) -> tuple:
        """The dimensions the searches use (in order, until a witness): the construction's, or the sampled ones."""
        good = sorted(d for d, c in self.classes.items() if c.in_family)
        return tuple(good) or self.con.dims[:1]

    @property
    def d(self) -> int:
        return self.search_dims[0]

    @property
    def extra_sizes(self) -> tuple:
        """Sizes just past the first full block (``b + 1``, ``b + 2`` at ``n = 16``), when it is large:
        where a block rule first differs from prefix attention."""
        if self.structure.kind != "block":
            return ()
        b = len(blocks(np.asarray(self.attention.mask(16, 1)), 16)[0])
        return (b + 1, b + 2) if 3 <= b <= 10 else ()

    def find(self, finder, *attentions, dims=None):
        """Run a search at every search dimension; ``(witness or None, prompts tried)``."""
        total = 0
        for d in dims or self.search_dims:
            extra = self.extra_sizes if d <= 2 else ()
            witness, tried = finder(*[self.mod_for(a, d) for a in attentions], d, extra_sizes=extra)
            total += tried
            if witness is not None:
                return witness, total
        return None, total

    @property
    def gamma0(self):
        return self.classes[self.d].gamma0

    def mod_for(self, attention: Attention | None = None, d: int | None = None) -> Callable:
        attention = attention or self.attention
        kq, pv = self.con.at_unit_step(d or self.d)

        def mod_for(n, m):
            return ex.model(attention, self.kind, self.scale, kq, pv, n, m)

        # identifies the model for search.operator's memo (the rule text names a custom rule)
        mod_for.key = (attention.name, self.kind, self.scale, sp.srepr(kq), sp.srepr(pv))  # type: ignore[attr-defined]
        # P10's Gamma_0 at this d: search.operator proposes with the lemma's formula (re-checks use the layer)
        mod_for.gamma0 = self.classes[d or self.d].gamma0  # type: ignore[attr-defined]
        return mod_for

    @property
    def c_text(self) -> str:
        return f"c_j = {ex.text(self.scale)}" if self.kind == "constant" else "c_j = |A(j)|"

    @property
    def equal_normalizers(self) -> bool:
        """Every example has the same ``c_j``: constant, or count when all examples read all."""
        return self.kind == "constant" or self.structure.holds("all")


def verdict(symbolic=(), finite=(), counterexample=None, assumes=()) -> str:
    """The status the paper's theorems get from the same evidence (:class:`proofs.symbolic.Ledger`, where
    every status is computed): ``symbolic``/``finite`` are ``(name, ok)`` checks, ``counterexample`` a
    ``(name, re-checked)`` exact witness, ``assumes`` the named results leaned on."""
    ledger = Ledger()
    for name, ok in symbolic:
        ledger.symbolic(name, bool(ok))
    for name, ok in finite:
        ledger.finite(name, bool(ok))
    if counterexample is not None:
        ledger.counterexample(counterexample[0], bool(counterexample[1]))
    names = [name for name, _ in (*symbolic, *finite)] + ([counterexample[0]] if counterexample else [])
    # the claim's one conclusion, established by these checks (symbolically when a symbolic check argues it;
    # finite spot checks then only support it)
    ledger.coverage.append({"conclusion": "the claim", "checks": names, "assumes": list(assumes),
                            "kind": "symbolic" if symbolic else "finite"})
    return ledger.result("", "", assumes=tuple(assumes)).status


def entry(cid: str, statement: str, status: str, scope: str, assumes=(), witness=None, detail="") -> dict:
    """One claim's JSON: ``id, statement, formal, status, scope, assumes`` (+ ``witness``); ``detail`` joins the
    scope.  ``formal`` is the claim as a SymPy Boolean (:data:`FORMAL`), written with ``sympy.srepr``-free text."""
    out = {"id": cid, "statement": statement, "formal": str(FORMAL[cid]), "status": status,
           "scope": f"{scope} ({detail})" if detail else scope, "assumes": list(assumes)}
    if witness is not None:
        out["witness"] = witness
    return out


def _searched(tried: int, ctx: Context) -> str:
    return (f"searched {tried} exact prompts (d in {', '.join(map(str, ctx.search_dims))}; n = 1..d + 2 for d <= 2, "
            f"n = d, d + 1, d + 2 above; "
            f"small integer entries, eta at fixed fractions of the stable bound, layers <= {search.MAX_LAYER}): "
            f"no counterexample")


def _at(witness: dict) -> str:
    return f"exact witness (d = {len(witness['X'][0])}, n = {len(witness['X'])})"


def not_applicable(cid: str, ctx: Context) -> dict:
    return entry(cid, STATEMENTS[cid], verdict(),
                 "no sizes: the construction is outside P10's family (or V1 failed), so the stack has no weight "
                 "dynamics r <- r - eta N r to ask about")


# ----------------------------------------------------------------------------- V1


def v1(ctx: Context, lemma_status: Callable[[], str]) -> dict:
    bad = [c for c in ctx.classes.values() if not c.in_family]
    if bad:
        first = bad[0]
        witness = v1_witness(ctx.con, first.d)
        if witness is not None and check_v1(ctx.con, witness):
            return entry("V1", STATEMENTS["V1"], verdict(counterexample=("tokens whose form breaks", True)),
                         f"d = {first.d}: {first.reason}", witness=witness)
        witness = not_gd_witness(ctx.mod_for(None, first.d), first.d)
        if witness is not None and check_not_gd(ctx.mod_for(None, first.d), witness):
            return entry("V1", STATEMENTS["V1"],
                         verdict(counterexample=("a prompt that is not gradient descent", True)),
                         f"d = {first.d}: {first.reason}", witness=witness)
        return entry("V1", STATEMENTS["V1"], verdict(finite=[("P10's derivation, no concrete witness", True)]),
                     f"d = {first.d}: P10's derivation says {first.reason}, but no concrete witness was found",
                     detail="not refuted without an exact witness")
    statement = STATEMENTS["V1"] + " Gamma = eta Gamma_0 with Gamma_0 = " + _gamma_words(ctx) + "."
    broken = [d for d, c in ctx.classes.items() if not symbolic_step(ctx.con, d, c.gamma0)]
    step_check = ("P10's Gamma_0 satisfies the layer at a source block of symbolic size", not broken)
    if broken:
        return entry("V1", statement, verdict([step_check]), "P10's Gamma_0 does not satisfy the layer at a source "
                     f"block of symbolic size, d = {', '.join(map(str, broken))}")
    step = ("verify.lsa.attend on a target [x; r] reading a source block Z_A of symbolic size n_A (through "
            "Z_A Z_A^T) with symbolic c_j")
    if ctx.con.name == "paper":
        status = lemma_status()
        return entry("V1", statement, status,
                     "every d and n, any attention sets and normalizers: the general lemma L6 (symbolic d, source "
                     f"block of symbolic size; status {status}); {step} and P10's derivation at d = "
                     f"{', '.join(map(str, ctx.con.dims))} give Gamma_0 = {_gamma_words(ctx)}")
    return entry("V1", statement, verdict([step_check]),
                 f"d = {ctx.d} (the construction's size), every n, any attention sets and c_j: P10's derivation "
                 f"(verify.derive, identities in every data symbol) gives Gamma_0, and {step} confirms it")


def _forced_gamma(mod_for, d: int) -> list:
    """Row ``k`` of the only possible ``Gamma`` (at ``eta = 1``): ``c_q`` times the weight change of
    queries ``e_1..e_d`` reading one example ``(e_k, y = 1)``."""
    E = [[Fraction(int(a == b)) for b in range(d)] for a in range(d)]
    mod = mod_for(1, d)
    return [[mod.c[1 + q] * g for q, g in enumerate(ex.query_increment(mod, [E[k]], [Fraction(1)], E))]
            for k in range(d)]


def not_gd_witness(mod_for, d: int) -> dict | None:
    """One example ``(x, y)`` whose weight change (read off queries ``e_1..e_d``) is not
    ``(1/c_q) y x^T Gamma`` for the ``Gamma`` that one-example prompts ``(e_k, 1)`` force."""
    import itertools

    gamma = _forced_gamma(mod_for, d)
    E = [[Fraction(int(a == b)) for b in range(d)] for a in range(d)]
    mod = mod_for(1, d)
    for x in itertools.product((1, 2, -1, 3), repeat=d):
        for y in (1, 2, -1):
            x_, y_ = [Fraction(a) for a in x], Fraction(y)
            observed = ex.query_increment(mod, [x_], [y_], E)
            predicted = [y_ * sum((x_[k] * gamma[k][q] for k in range(d)), Fraction(0)) / mod.c[1 + q]
                         for q in range(d)]
            if observed != predicted:
                return {"d": d, "eta": "1", "forced_gamma": ex.texts(gamma), "x": ex.texts(x_), "y": ex.text(y_),
                        "weight_change": ex.texts(observed), "gd_weight_change": ex.texts(predicted),
                        "breaks": "one-example prompts (e_k, 1) force Gamma's rows; the prompt (x, y) then moves the "
                                  "query weight by weight_change, not (1/c_q) y x^T Gamma"}
    return None


def check_not_gd(mod_for, w: dict) -> bool:
    """Exact re-check of :func:`not_gd_witness` from its ``x`` and ``y``."""
    d = w["d"]
    gamma = _forced_gamma(mod_for, d)
    E = [[Fraction(int(a == b)) for b in range(d)] for a in range(d)]
    mod = mod_for(1, d)
    x, y = [ex.parse(a) for a in w["x"]], ex.parse(w["y"])
    observed = ex.query_increment(mod, [x], [y], E)
    predicted = [y * sum((x[k] * gamma[k][q] for k in range(d)), Fraction(0)) / mod.c[1 + q] for q in range(d)]
    return (ex.texts(gamma) == w["forced_gamma"] and observed != predicted and ex.texts(observed) == w["weight_change"])


def _gamma_words(ctx: Context) -> str:
    """``Gamma_0`` as derived: ``g I_d`` when it is a multiple of the identity at every ``d``, else per ``d``."""
    import sympy as sp

    gammas = {d: sp.Matrix(c.gamma0) for d, c in ctx.classes.items()}
    g = next(iter(gammas.values()))[0, 0]
    if all(G == g * sp.eye(d) for d, G in gammas.items()):
        return "I_d" if g == 1 else f"{sp.sstr(g)} I_d"
    if len(gammas) == 1:
        return gamma_text(next(iter(gammas.values())))
    return "; ".join(f"d = {d}: {gamma_text(G)}" for d, G in gammas.items())


# ----------------------------------------------------------------------------- V2


def v2(ctx: Context) -> dict:
    s = ctx.structure
    scalar = scalar_positive(ctx.gamma0)
    if s.holds("all") and s.holds("queries_read_all") and scalar is not None:
        # spot check: the search must not find a counterexample to a claim argued true
        witness, tried, _, note = _found(ctx, search.find_v2, _recheck_v2, spot=True)
        argued = ("z3: every example and every query reads every example, for all n", True)
        spot = ("spot check: no exact counterexample", witness is None)
        if witness is not None:
            return entry("V2", STATEMENTS["V2"], verdict([argued], [spot]),
                         _scoped("the argument below and an exact witness disagree", note), witness=witness)
        return entry("V2", STATEMENTS["V2"], verdict([argued], [spot], assumes=("power-convergence",
                                                                                "pseudoinverse-min-norm")),
                     "every n, d (z3: every example and every query reads every example, for all n; equal c_j), so "
                     f"the stack is gradient descent preconditioned by {ex.text(scalar)} I from w = 0: its limit "
                     f"solves the normal equations inside the row space of X; spot-checked on {tried} exact prompts",
                     assumes=("power-convergence", "pseudoinverse-min-norm"), detail=note)
    witness, tried, ok, note = _found(ctx, search.find_v2, _recheck_v2)
    if witness is not None:
        return entry("V2", STATEMENTS["V2"], verdict(counterexample=("exact witness", ok)),
                     _scoped(_at(witness), note), witness=witness)
    return entry("V2", STATEMENTS["V2"], verdict(finite=[("exact search", True)]), _scoped(
        _searched(tried, ctx) + "; prompts whose N is singular or has an eigenvalue with Re <= 0 were skipped", note))


def _found(ctx: Context, finder, recheck, spot: bool = False) -> tuple:
    """V2's or V5's search (``finder``) in the frame ``c = 1``, its witness mapped to ``ctx``'s ``c`` and
    re-checked there (:func:`.scaling.search`): ``(witness, prompts tried, re-checked, note)``."""
    def find(unit: Context):
        return (_spot(lambda: unit.find(finder, None, dims=unit.search_dims[:2])) if spot
                else unit.find(finder, None))

    return scaling.search(ctx, find, recheck)


def _recheck_v2(ctx: Context, witness: dict) -> bool:
    return search.check_v2(ctx.mod_for(None, len(witness["X"][0])), witness)


def _recheck_v5(ctx: Context, witness: dict) -> bool:
    return search.check_v5(ctx.mod_for(None, len(witness["X"][0])), witness)


def _scoped(scope: str, note: str) -> str:
    return f"{scope}; {note}" if note else scope


def _spot(run):
    """Run a search as a spot check with a smaller budget (callers pass the two smallest dimensions)."""
    old = search.PER_SIZE
    search.PER_SIZE = 4
    try:
        return run()
    finally:
        search.PER_SIZE = old


# ----------------------------------------------------------------------------- V3

STABLE = ("stable (docs/SPEC.md section 7): every residual and query prediction converges for every label "
          "vector; exactly (a) |1 - eta l| < 1 for every nonzero eigenvalue l of N = D^{-1} M, (b) rank N^2 = "
          "rank N, (c) no query reads a null vector of N")
CHARACTERISATION = "stability-characterisation"


def _blockwise(ctx: Context) -> bool:
    """z3: block lower triangular with full diagonal blocks (or triangular, or all) with self-reads, and
    whoever reads a member of a block reads all of it (queries included), for every n."""
    return ctx.structure.kind in ("triangular", "block", "all") and ctx.structure.holds("whole")


def _variant(ctx: Context) -> refute.Variant:
    return refute.Variant(ctx.attention, ctx.prefix, ctx.kind, ctx.scale,
                          {d: sp.Matrix(c.gamma0) for d, c in ctx.classes.items() if c.in_family})


def _blocks_at(ctx: Context):
    return lambda n: blocks(np.asarray(ctx.attention.mask(n, 1), dtype=bool), n)


def _formula(ctx: Context) -> str:
    kind = ctx.structure.kind
    paper = ctx.con.name == "paper"
    g = "" if paper else " Gamma_0"
    gamma = "" if paper else f", Gamma_0 = {gamma_text(ctx.gamma0)}"
    if kind == "triangular":
        q = "||x_j||^2" if paper else "x_j^T Gamma_0 x_j"
        return (f"eta_max = 2 min c_j / {q} over the examples with {q} > 0 ({ctx.c_text}{gamma}; "
                "eta_max = inf when there is none)")
    which = "the single block of all examples" if kind == "all" else "the diagonal blocks beta"
    return (f"eta_max = min over {which} of 2 / lambda_max(D_beta^{{-1}} X_beta{g} X_beta^T) over the blocks "
            f"with a nonzero one ({ctx.c_text}{gamma}; = 2c / lambda_max(X_beta{g} X_beta^T) for a constant c; "
            "blocks: the classes of examples that read each other)")


def v3(ctx: Context) -> dict:
    kind = ctx.structure.kind
    psd = symmetric_psd(ctx.gamma0)
    if kind in ("triangular", "block", "all") and psd:
        statement = f"{STATEMENTS['V3']}, with {_formula(ctx)}, where {STABLE}."
        interval = ("|1 - eta l| < 1 <=> 0 < eta < 2/l for l > 0 (z3, reals)", _interval_lemma())
        if not interval[1]:
            return entry("V3", statement, verdict([interval]), "the step-size lemma |1 - eta l| < 1 <=> 0 < eta < 2/l "
                         "did not check")
        if _blockwise(ctx):
            why = ("every n (z3: every example reads itself, reads a later example only mutually, the mutual "
                   "classes are intervals read in full, and whoever reads a member of a class -- example or query "
                   "-- reads all of it), so N is block lower triangular with diagonal blocks D_beta^{-1} X_beta "
                   "Gamma_0 X_beta^T (real eigenvalues >= 0); its null vectors are X_beta^T v_beta = 0 on every "
                   "block (no Jordan chain, invisible to every reader), so (b) and (c) hold and (a) is the formula; "
                   "|1 - eta l| < 1 <=> 0 < eta < 2/l for l > 0 (z3, reals)")
            assumes = (CHARACTERISATION, "block-triangular-spectrum", "spectral-theorem")
            blockwise = ("z3: blocks read in whole by every reader, for every n", _blockwise(ctx))
            return _engine_checked(ctx, entry("V3", statement, verdict([blockwise, interval], assumes=assumes), why,
                                              assumes=assumes))
        witness, searched, ok, note = scaling.search(ctx, _find_v3, _recheck_v3)
        if witness is not None:
            return entry("V3", statement, verdict(counterexample=("exact witness", ok)), _scoped(
                f"{_at(witness)}: eta inside the formula's range and stable for prefix, but the variant is "
                f"not stable ({witness['reason']}); z3: {_whole_words(ctx)}", note), witness=witness)
        return entry("V3", statement, verdict(finite=[("exact search", True)]), _scoped(
            f"z3 did not establish that readers read whole blocks ({_whole_words(ctx)}); searched "
            f"{searched.describe()}: no prompt where the formula and the exact test disagree", note))
    statement = (f"{STATEMENTS['V3']}, with eta_max = 0 when (b) or (c) fails or some nonzero eigenvalue l of "
                 "D^{-1} M has Re(l) <= 0, else min over the nonzero eigenvalues of 2 Re(l) / |l|^2 (no closed "
                 f"form from the rule's structure), where {STABLE}.")
    return _engine_checked(ctx, entry(
        "V3", statement, verdict([("|1 - eta l| < 1 <=> 0 < eta < 2 Re(l)/|l|^2 (the characterisation on N)", True)],
                                 assumes=(CHARACTERISATION,)),
        f"every n and prompt: the characterisation of stable applied to N, and |1 - eta l| < 1 <=> 0 < eta < "
        f"2 Re(l)/|l|^2 for Re(l) > 0; z3 established no block structure read in whole ({ctx.structure.describe()})",
        assumes=(CHARACTERISATION,)))


def _find_v3(ctx: Context) -> tuple:
    variant = _variant(ctx)
    return refute.find_v3(variant, _blocks_at(ctx),
                          lambda w: refute.check_witness(variant, ctx.mod_for, w, need_prefix=False))


def _recheck_v3(ctx: Context, witness: dict) -> bool:
    return refute.check_witness(_variant(ctx), ctx.mod_for, witness, need_prefix=False)


def _whole_words(ctx: Context) -> str:
    cex = ctx.structure.counterexamples.get("whole")
    if ctx.structure.decided.get("whole") is None:
        return "undecided whether readers read whole blocks"
    if cex:
        who = "the query" if cex["j"] == cex["n"] else f"example {cex['j']}"
        return (f"at n = {cex['n']}, examples {cex['i']} and {cex['k']} read each other but {who} reads only "
                f"{cex['i']}")
    return "readers read whole blocks"


def _interval_lemma() -> bool:
    """z3 over the reals: for l > 0, |1 - eta l| < 1 exactly when 0 < eta < 2/l (i.e. eta l < 2)."""
    import z3

    eta, lam = z3.Reals("eta lam")
    inside = z3.And(1 - eta * lam < 1, 1 - eta * lam > -1)
    solver = z3.Solver()
    solver.add(lam > 0, inside != z3.And(eta > 0, eta * lam < 2))
    return solver.check() == z3.unsat


# ----------------------------------------------------------------------------- V4


def v4(ctx: Context) -> dict:
    statement = f"{STATEMENTS['V4']} ({STABLE})"
    kind = ctx.structure.kind
    if kind == "all" and ctx.structure.holds("queries_read_all"):
        same = ("z3: every example and every query reads every example, for all n",
                ctx.structure.holds("all") and ctx.structure.holds("queries_read_all"))
        return _engine_checked(ctx, entry(
            "V4", statement, verdict([same]),
            "every n (z3: every example and every query reads every example), so D^{-1} M and the query read-out "
            "are prefix's own: the same stable step sizes"))
    if _blockwise(ctx) and ctx.kind == "constant" and symmetric_psd(ctx.gamma0):
        assumes = (CHARACTERISATION, "block-triangular-spectrum", "spectral-theorem", "rayleigh-quotient")
        return _engine_checked(ctx, entry(
            "V4", statement, verdict([("z3: blocks read in whole by every reader, for every n", _blockwise(ctx))],
                                     assumes=assumes),
            f"every n (z3: {kind} structure, whole blocks read by every reader), constant c: (b) and (c) hold (V3), "
            "and the nonzero eigenvalues are those of the diagonal blocks X_beta Gamma_0 X_beta^T / c, principal "
            "submatrices of prefix's X Gamma_0 X^T / c, whose largest eigenvalue bounds theirs (the paper's P8)",
            assumes=assumes))
    witness, searched, ok, note = scaling.search(ctx, _find_v4, _recheck_v4)
    if witness is not None:
        return entry("V4", statement, verdict(counterexample=("exact witness", ok)), _scoped(
            f"{_at(witness)}: eta stable for prefix, the variant not stable ({witness['reason']})", note),
            witness=witness)
    return entry("V4", statement, verdict(finite=[("exact search", True)]),
                 _scoped(f"searched {searched.describe()} with the exact test: no counterexample", note))


def _find_v4(ctx: Context) -> tuple:
    variant = _variant(ctx)
    return refute.find_v4(variant, lambda w: refute.check_witness(variant, ctx.mod_for, w))


def _recheck_v4(ctx: Context, witness: dict) -> bool:
    return refute.check_witness(_variant(ctx), ctx.mod_for, witness)


# ----------------------------------------------------------------------------- the engine


def _engine_checked(ctx: Context, claim: dict) -> dict:
    """Before ``proved``/``conditional`` stands: the package's own numeric engine must agree (:mod:`.engine`)."""
    from . import engine

    if ctx.kind != "constant" or engine.in_range(ctx.scale):
        return engine.confirm(ctx, claim, _variant(ctx))
    # the float engine cannot be given this c: it runs at c = 1 (the claims are invariant in c, .scaling) and a
    # refuting witness it finds is mapped to c and re-checked there
    recheck = _recheck_v3 if claim["id"] == "V3" else _recheck_v4
    witness, out, ok, _ = scaling.search(ctx, lambda unit: _unit_witness(engine.confirm(unit, claim, _variant(unit)),
                                                                          claim), recheck)
    note = (f"the engine ran at c = 1: c = {ex.text(ctx.scale)} is outside its floating point range "
            f"(2^-{engine.ENGINE_RANGE}..2^{engine.ENGINE_RANGE}; the claim is invariant in c)")
    if witness is None:
        return {**out, "scope": f"{out['scope']}; {note}"}
    return {**out, "witness": witness, "status": verdict(counterexample=("exact witness", ok)),
            "scope": f"{out['scope']}; {note}" + ("" if ok else "; the witness mapped to c failed its exact re-check")}


def _unit_witness(checked: dict, claim: dict) -> tuple:
    """``(witness the engine check added or None, the checked claim)``."""
    return (checked["witness"] if "witness" in checked and "witness" not in claim else None), checked


# ----------------------------------------------------------------------------- V5


def v5(ctx: Context) -> dict:
    s = ctx.structure
    symmetric_gamma = ctx.gamma0 == ctx.gamma0.T
    if (s.holds("all") or s.holds("symmetric")) and ctx.equal_normalizers and symmetric_gamma:
        witness, tried, _, note = _found(ctx, search.find_v5, _recheck_v5, spot=True)
        argued = ("z3: example j reads i exactly when i reads j, for all n", True)
        spot = ("spot check: no exact counterexample", witness is None)
        if witness is not None:
            return entry("V5", STATEMENTS["V5"], verdict([argued], [spot]),
                         _scoped("the argument below and an exact witness disagree", note), witness=witness)
        return entry("V5", STATEMENTS["V5"], verdict([argued], [spot], assumes=("spectral-theorem",)),
                     "every n (z3: example j reads i exactly when i reads j), equal c_j and symmetric Gamma_0: "
                     "B = I - eta D^{-1} M is symmetric, so ||B^l||_2 = max |1 - eta l|^l <= 1 at a stable eta "
                     f"(zero eigenvalues give 1); spot-checked on {tried} exact prompts", assumes=("spectral-theorem",),
                     detail=note)
    witness, tried, ok, note = _found(ctx, search.find_v5, _recheck_v5)
    if witness is not None:
        return entry("V5", STATEMENTS["V5"], verdict(counterexample=("exact witness", ok)),
                     _scoped(_at(witness), note), witness=witness)
    return entry("V5", STATEMENTS["V5"], verdict(finite=[("exact search", True)]),
                 _scoped(_searched(tried, ctx), note))


def timed(fn, *args) -> dict:
    start = time.perf_counter()
    out = fn(*args)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out
