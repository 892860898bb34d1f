"""Prove or refute the theory for a user's own variant (SPEC section 7, claims V1-V5).

Example::

    from proofs.variants import prove_variant
    from verify.rule import parse_rule

    report = prove_variant("causal", "count")                       # a named attention
    report = prove_variant(parse_rule("i <= j and (j - i) % 2 == 0"))  # a custom rule
    [(c["id"], c["status"]) for c in report["claims"]]

The answer is the JSON of ``icl-verify prove --attention ... --rule ...``:
``{"variant": {"attention", "rule", "normalization", "construction"}, "claims": [{"id",
"statement", "status", "scope", "assumes", "seconds", "witness"?}]}``.
"""
from __future__ import annotations

from fractions import Fraction

from verify.errors import PromptError

from . import exact as ex
from .claims import Context, not_applicable, timed, v1, v2, v3, v4, v5, verdict
from .construction import VariantConstruction, classify, custom_construction, paper_construction
from .structure import Attention, custom, decide, named

__all__ = ["prove_variant", "run_claims"]

IDS = ("V1", "V2", "V3", "V4", "V5")


def _attention(rule) -> Attention:
    from verify.rule import Rule

    if isinstance(rule, Attention):
        return rule
    if isinstance(rule, Rule):
        return custom(rule)
    if isinstance(rule, str):
        return named(rule)
    raise PromptError(f"attention: expected a named attention, a verify.rule.Rule or an Attention, "
                      f"got {type(rule).__name__}")


def _construction(construction) -> VariantConstruction:
    if construction is None:
        return paper_construction()
    if isinstance(construction, VariantConstruction):
        return construction
    if hasattr(construction, "kq") and hasattr(construction, "pv"):
        return custom_construction(construction.kq, construction.pv)
    kq, pv = construction
    return custom_construction(kq, pv)


def _scale(scale) -> Fraction:
    from verify.rational import parse_number

    try:  # text is parsed exactly and bounded (|exponent| <= 100): 1e400 is refused, not an OverflowError
        value = ex.frac(scale) if not isinstance(scale, str) else parse_number(scale, "scale")
    except PromptError:
        raise
    except (ValueError, ZeroDivisionError, TypeError):
        raise PromptError(f"scale: {scale!r} is not a rational number; give e.g. 1, 2 or 3/2") from None
    if value <= 0:
        raise PromptError(f"scale: the constant normalizer needs c > 0, got {scale}")
    return value


def _lemma_status() -> str:
    """The general lemma L6's own status (proofs.lemma through the registry, as ``prove`` runs it)."""
    from proofs import lemma, registry

    return registry.run(lemma.THEOREM)["status"]


def _first_blocks(attention: Attention) -> tuple:
    """The size of the largest full block at n = 16, when it exceeds ``PAPER_DIMS`` (capped)."""
    from .construction import MAX_BLOCK_DIM, PAPER_DIMS
    from .structure import blocks

    size = max(len(b) for b in blocks(attention.mask(16, 1), 16))
    return (size,) if max(PAPER_DIMS) < size <= MAX_BLOCK_DIM else ()


def run_claims(attention: Attention, normalization: str, scale: Fraction, con: VariantConstruction,
               lemma_status=_lemma_status) -> list[dict]:
    """The five claim entries, in order (each with ``seconds``)."""
    structure = decide(attention)
    if con.name == "paper" and structure.kind == "block":
        con = paper_construction(_first_blocks(attention))
    classes = {d: classify(con, d) for d in con.dims}
    ctx = Context(attention, normalization, scale, con, structure, classes)
    claims = [timed(v1, ctx, lemma_status)]
    if structure.disagreements:
        detail = "; ".join(structure.disagreements)
        for cid in IDS[1:]:
            claims.append({"id": cid, "statement": "", "status": verdict([("z3 and brute force agree", False)]),
                           "scope": "z3 and brute force disagree",
                           "assumes": [], "seconds": 0.0, "detail": detail})
        return claims
    # the residual dynamics V2-V5 ask about exist only for constructions in P10's family
    applicable = all(c.in_family for c in classes.values()) and claims[0]["status"] != verdict([("V1", False)])
    for cid, fn in zip(IDS[1:], (v2, v3, v4, v5), strict=False):
        claims.append(timed(fn, ctx) if applicable else timed(not_applicable, cid, ctx))
    return claims


def prove_variant(rule, normalization: str = "constant", scale=1, construction=None, *,
                  rule_text: str | None = None) -> dict:
    """Decide V1-V5 for a variant.

    Parameters
    ----------
    rule : a named attention (``"causal"``, ``"sliding:3"``...), a :class:`verify.rule.Rule`
        (``--rule``) or a :class:`proofs.variants.structure.Attention`.
    normalization : ``"constant"`` (``c_j = scale``) or ``"count"`` (``c_j = |A(j)|``).
    scale : the constant ``c`` (a positive rational).
    construction : None (the paper's, every ``d``), ``(kq, pv)`` SymPy matrices (may contain
        the symbol ``eta``) or an object with ``kq`` and ``pv``.

    Returns the ``{"variant", "claims"}`` dict; raises PromptError for bad input.
    """
    from verify.rule import Rule

    if normalization not in ("constant", "count"):
        raise PromptError(f"normalization: unknown normalizer {normalization!r}; use constant or count")
    attention = _attention(rule)
    con = _construction(construction)
    value = _scale(scale)
    claims = run_claims(attention, normalization, value, con)
    text = rule.text if isinstance(rule, Rule) else rule_text
    variant = {
        "attention": rule if isinstance(rule, str) else None,
        "rule": text,
        "normalization": normalization,
        "construction": con.as_json(),
    }
    return {"variant": variant, "claims": claims}
