"""Variation operators: mutations and crossovers over genomes.

Every operator has the signature ``operator(parents, rng, space) -> Variation``, with ``rng`` a
``numpy.random.Generator`` and ``space`` a ``genomes.SearchSpace``, and an optional ``new_id``
allocator for innovation ids (``genomes.InnovationCounter``); ``Variation.genome`` is a valid
child inside the space, or None with ``Variation.reason``. ``Operator.name`` is stable and stored
in the lineage.
"""

from operators.base import NotApplicable, Operator, Variation
from operators.crossover import CROSSOVERS, OnePointCrossover
from operators.motif_insertion import MotifError, MotifInsertion, MotifSpec, parse_motif
from operators.mutations import MUTATIONS

OPERATORS = {**MUTATIONS, **CROSSOVERS}

# Operators that need input from the engine besides the parents (mined motifs). They are not
# in OPERATORS, so a campaign uses one only when [search] operators lists it.
GUIDED_OPERATORS = {"insert_motif": MotifInsertion()}


def get_operator(name: str) -> Operator:
    """Return the operator registered under ``name``; LookupError lists the known names."""
    try:
        return {**OPERATORS, **GUIDED_OPERATORS}[name]
    except KeyError:
        known = sorted([*OPERATORS, *GUIDED_OPERATORS])
        raise LookupError(f"unknown operator {name!r}; known operators: {known}") from None


__all__ = ["CROSSOVERS", "GUIDED_OPERATORS", "MUTATIONS", "OPERATORS", "MotifError", "MotifInsertion",
           "MotifSpec", "NotApplicable", "OnePointCrossover", "Operator", "Variation", "get_operator",
           "parse_motif"]
