"""Variation operators: mutations and crossovers over genomes.

Every operator has the signature ``operator(parents, rng, space) -> Variation``, with ``rng`` a
``numpy.random.Generator`` and ``space`` a ``genomes.SearchSpace``, and an optional ``new_id``
allocator for innovation ids (``genomes.InnovationCounter``); ``Variation.genome`` is a valid
child inside the space, or None with ``Variation.reason``. ``Operator.name`` is stable and stored
in the lineage.
"""

from operators.base import NotApplicable, Operator, Variation
from operators.crossover import CROSSOVERS, OnePointCrossover
from operators.mutations import MUTATIONS

OPERATORS = {**MUTATIONS, **CROSSOVERS}


def get_operator(name: str) -> Operator:
    """The operator registered under ``name``; LookupError lists the known names."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise LookupError(f"unknown operator {name!r}; known operators: {sorted(OPERATORS)}") from None


__all__ = ["CROSSOVERS", "MUTATIONS", "OPERATORS", "NotApplicable", "OnePointCrossover", "Operator",
           "Variation", "get_operator"]
