"""Crossover: two parents in, one child out."""

from __future__ import annotations

from genomes import INPUT, Genome
from operators.base import NotApplicable, Operator


class OnePointCrossover(Operator):
    """One-point crossover on the topological order of the live nodes.

    The child takes the first ``i`` nodes of parent A and the nodes of parent B from position
    ``j`` on, renumbered. The cut points are aligned: B's node just before the cut is replaced by
    A's node just before its cut, B's node before that by A's one before, and so on back to the
    input. Parent B needs at least two nodes (a cut inside it); otherwise the operator reports
    that it does not apply, instead of drawing from an empty range.
    """

    name = "one_point_crossover"
    arity = 2

    def propose(self, parents, rng, space):
        a, b = (p.pruned() for p in parents)
        order_a, order_b = a.topological_order(), b.topological_order()
        if len(order_b) < 2 or not order_a:
            raise NotApplicable(
                f"parents have {len(order_a)} and {len(order_b)} live nodes; the second needs at "
                f"least 2 so a cut falls inside it"
            )
        i = int(rng.integers(1, len(order_a) + 1))
        j = int(rng.integers(1, len(order_b)))
        return self.splice(a, order_a[:i], b, order_b, j)

    @staticmethod
    def splice(a: Genome, prefix: list[int], b: Genome, order_b: list[int], j: int) -> Genome:
        mapping: dict[int, int] = {INPUT: INPUT}
        for t, nid in enumerate(order_b[:j]):
            steps_back = (j - 1) - t
            position = len(prefix) - 1 - steps_back
            mapping[nid] = prefix[position] if position >= 0 else INPUT
        next_id = max(prefix) + 1
        for nid in order_b[j:]:
            mapping[nid] = next_id
            next_id += 1
        suffix = [b.node(nid) for nid in order_b[j:]]
        nodes = [a.node(nid) for nid in prefix]
        nodes += [n.replace(id=mapping[n.id], inputs=tuple(mapping[s] for s in n.inputs)) for n in suffix]
        return Genome(tuple(nodes), mapping[b.output], b.head)


CROSSOVERS = {op.name: op for op in (OnePointCrossover(),)}
