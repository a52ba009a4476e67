"""The operator contract: ``(parents, rng, space) -> Variation``.

An operator never changes its parents (genomes are immutable) and draws every random choice from
the ``numpy.random.Generator`` it is given, so it is deterministic for a given generator state.
The child it returns is valid and inside the search space; when it cannot make one, the
``Variation`` carries no genome and the reason instead of raising.

Node ids are innovation ids (see ``genomes.innovation``): nodes copied from a parent keep their
id, and each node an operator creates takes one from the ``new_id`` allocator passed by keyword.
Without one, ids continue after the largest id of the parents, which is unique within the child
but not across a campaign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from genomes import Genome, Node, SearchSpace
from genomes.innovation import IdAllocator, local_allocator

log = logging.getLogger(__name__)


class NotApplicable(Exception):
    """Raised inside an operator when the parents offer nothing to vary (no node to remove, ...)."""


@dataclass(frozen=True)
class Variation:
    """Outcome of one operator call: the child, or why there is none."""

    operator: str
    genome: Genome | None
    reason: str | None = None

    @property
    def applied(self) -> bool:
        return self.genome is not None


class Operator:
    """Base class. Subclasses set ``name`` and ``arity`` and implement ``propose``.

    ``propose`` returns a candidate child or raises NotApplicable; ``__call__`` checks the
    arguments, prunes dead nodes, and retries up to ``attempts`` times until a candidate is inside
    the search space. A crossover candidate that equals a parent (see ``equal_parent``) is
    replaced by that parent's pruned object, so the child can be a parent object itself.
    """

    name: str = ""
    arity: int = 1
    attempts: int = 10

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator,
                 space: SearchSpace, *, new_id: IdAllocator | None = None) -> Variation:
        if len(parents) != self.arity:
            raise ValueError(f"operator '{self.name}' takes {self.arity} parent(s), got {len(parents)}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"operator '{self.name}' needs a numpy.random.Generator, got {type(rng).__name__}")
        if new_id is None:
            new_id = local_allocator(*parents)
        last_problem = "no attempt made"
        for _ in range(self.attempts):
            try:
                candidate = self.propose(list(parents), rng, space, new_id)
            except NotApplicable as reason:
                return Variation(self.name, None, str(reason))
            candidate = candidate.pruned()
            if self.arity > 1:
                # A mutation always changes its parent, so only a crossover can rebuild one.
                candidate = equal_parent(candidate, parents)
            problem = space.violation(candidate)
            if problem is None:
                return Variation(self.name, candidate)
            last_problem = problem
        log.debug("operator %s found no valid child: %s", self.name, last_problem)
        return Variation(self.name, None, f"no valid child in {self.attempts} attempts; last: {last_problem}")

    def propose(self, parents: list[Genome], rng: np.random.Generator, space: SearchSpace,
                new_id: IdAllocator) -> Genome:
        raise NotImplementedError


def equal_parent(candidate: Genome, parents: Sequence[Genome]) -> Genome:
    """Return the pruned parent that equals ``candidate`` strictly, or ``candidate`` itself.

    A crossover often rebuilds one of its parents. The parent object keeps its shape plans,
    space checks and canonical hash, so the engine skips that work for the copy. Strictly means
    that the two give the same JSON text, which ``==`` does not ensure: ``8.0 == 8``.
    """
    for parent in parents:
        parent = parent.pruned()
        if same_genome(parent, candidate):
            return parent
    return candidate


def same_genome(first: Genome, second: Genome) -> bool:
    """Return whether two genomes pass ``same_value`` field by field and ``same_node`` node by node."""
    return (len(first.nodes) == len(second.nodes) and same_value(first.output, second.output)
            and same_value(first.head, second.head)
            and all(same_node(ours, theirs) for ours, theirs in zip(first.nodes, second.nodes)))


def same_value(first: Any, second: Any) -> bool:
    """Return whether two field values are the same object, or equal ints or equal strings.

    Values of other types count as different unless they are the same object, because equal
    values can differ in JSON (``0.0 == -0.0``, ``[8.0] == [8]``).
    """
    if first is second:
        return True
    kind = type(first)
    return kind is type(second) and (kind is int or kind is str) and first == second


def same_node(first: Node, second: Node) -> bool:
    """Return whether every field of two nodes passes ``same_value``, element by element."""
    if first is second:
        return True
    return (same_value(first.id, second.id) and same_value(first.op, second.op)
            and same_value(first.activation, second.activation) and same_value(first.merge, second.merge)
            and len(first.inputs) == len(second.inputs)
            and all(same_value(a, b) for a, b in zip(first.inputs, second.inputs))
            and len(first.params) == len(second.params)
            and all(same_value(key, other_key) and same_value(value, other_value)
                    for (key, value), (other_key, other_value) in zip(first.params, second.params)))


def with_inputs(node: Node, inputs: tuple[int, ...]) -> Node:
    """Return the node reading ``inputs``: the node itself when they equal its own, else a copy.

    Keeping the same node object lets a child reuse what was computed for the parent's node.
    """
    if inputs == node.inputs and all(type(new) is type(old) for new, old in zip(inputs, node.inputs)):
        return node
    return node.replace(inputs=inputs)


def renamed(node: Node, node_id: int, inputs: tuple[int, ...]) -> Node:
    """Return the node with id ``node_id`` reading ``inputs``: the node itself when neither changes."""
    if same_value(node_id, node.id):
        return with_inputs(node, inputs)
    return node.replace(id=node_id, inputs=inputs)


def pick(rng: np.random.Generator, items: Sequence):
    """Draw one element of a non-empty sequence uniformly (works for tuples, unlike rng.choice)."""
    return items[int(rng.integers(len(items)))]
