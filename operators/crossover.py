"""Crossover: two parents in, one child out.

The first parent counts as the fitter one: the aligned crossover takes its disjoint genes, and
every crossover keeps its head.
"""

from __future__ import annotations

from genomes import INPUT, Genome, InvalidGenomeError, Node
from genomes.innovation import IdAllocator
from operators.base import NotApplicable, Operator, pick, renamed, same_node, same_value, with_inputs


class OnePointCrossover(Operator):
    """One-point crossover on the topological order of the live nodes.

    The child takes the first ``i`` nodes of parent A and the nodes of parent B from position
    ``j`` on. The cut points are aligned: B's node just before the cut is replaced by
    A's node just before its cut, B's node before that by A's one before, and so on back to the
    input. B's nodes keep their innovation ids unless A's part already uses them, and then get
    new ones. Parent B needs at least two nodes (a cut inside it); otherwise the operator reports
    that it does not apply, instead of drawing from an empty range.
    """

    name = "one_point_crossover"
    arity = 2

    def propose(self, parents, rng, space, new_id):
        a, b = (p.pruned() for p in parents)
        order_a, order_b = a.topological_order(), b.topological_order()
        if len(order_b) < 2 or not order_a:
            raise NotApplicable(
                f"parents have {len(order_a)} and {len(order_b)} live nodes; the second needs at "
                f"least 2 so a cut falls inside it"
            )
        i = int(rng.integers(1, len(order_a) + 1))
        j = int(rng.integers(1, len(order_b)))
        return self.splice(a, order_a[:i], b, order_b, j, new_id)

    @staticmethod
    def splice(a: Genome, prefix: list[int], b: Genome, order_b: list[int], j: int,
               new_id: IdAllocator) -> Genome:
        mapping: dict[int, int] = {INPUT: INPUT}
        for t, nid in enumerate(order_b[:j]):
            steps_back = (j - 1) - t
            position = len(prefix) - 1 - steps_back
            mapping[nid] = prefix[position] if position >= 0 else INPUT
        taken = set(prefix)
        for nid in order_b[j:]:
            mapping[nid] = nid if nid not in taken else new_id()
            taken.add(mapping[nid])
        suffix = [b.node(nid) for nid in order_b[j:]]
        nodes = [a.node(nid) for nid in prefix]
        nodes += [renamed(n, mapping[n.id], tuple(mapping[s] for s in n.inputs)) for n in suffix]
        return Genome(tuple(nodes), mapping[b.output], b.head)


class AlignedCrossover(Operator):
    """Crossover aligned by innovation id, as in NEAT.

    The child has the structure of the first (fitter) parent. For every node whose id both parents
    carry, a fair coin picks the parent that gives its operation, parameters, activation, merge and
    inputs. Disjoint nodes come from the fitter parent. Inputs that the child does not contain are
    dropped, and when the other parent's inputs would close a cycle the node keeps the fitter
    parent's inputs. Parents without a shared id give no child.
    """

    name = "aligned_crossover"
    arity = 2

    def propose(self, parents, rng, space, new_id):
        fitter, other = (p.pruned() for p in parents)
        shared = [nid for nid in fitter.ids if nid in other]
        if not shared:
            raise NotApplicable("the parents share no innovation id, so no gene can be aligned")
        donors = {nid for nid in shared if rng.random() < 0.5}
        genes_only = []
        rewired = []
        for node in fitter.nodes:
            if node.id not in donors:
                genes_only.append(node)
                rewired.append(node)
                continue
            donor = other.node(node.id)
            inputs = tuple(s for s in donor.inputs if s == INPUT or s in fitter)
            # Where a donated gene equals the fitter parent's own, the child keeps that node
            # object, which carries its checks and shape plan and lets the child be found equal
            # to the parent.
            gene = donor if same_value(donor.merge, node.merge) else donor.replace(merge=node.merge)
            genes_only.append(self._prefer_own(with_inputs(gene, node.inputs), node))
            rewired.append(self._prefer_own(with_inputs(donor, inputs or node.inputs), node))
        child = Genome(tuple(rewired), fitter.output, fitter.head)
        try:
            child.topological_order()
        except InvalidGenomeError:
            child = Genome(tuple(genes_only), fitter.output, fitter.head)
        return child

    @staticmethod
    def _prefer_own(gene: Node, own: Node) -> Node:
        return own if same_node(gene, own) else gene


def grow_block(genome: Genome, rng, max_size: int) -> tuple[int, set[int]]:
    """Pick a connected block: a random live node (its exit) and up to ``max_size - 1`` ancestors,
    each an input of a node already in the block. Return the exit and the block's ids."""
    live = sorted(genome.live_ids())
    exit_id = pick(rng, live)
    block = {exit_id}
    size = int(rng.integers(1, max_size + 1))
    while len(block) < size:
        frontier = sorted({s for nid in block for s in genome.node(nid).inputs if s != INPUT} - block)
        if not frontier:
            break
        block.add(pick(rng, frontier))
    return exit_id, block


def descendants(genome: Genome, sources: set[int]) -> set[int]:
    readers = genome.consumers()
    reached: set[int] = set()
    stack = list(sources)
    while stack:
        for reader in readers.get(stack.pop(), ()):
            if reader not in reached:
                reached.add(reader)
                stack.append(reader)
    return reached


class SubgraphCrossover(Operator):
    """Replace a connected block of the first parent by a connected block of the second.

    Each block is a node (its exit) and some of its ancestors. The second parent's block reads
    one entry: an input of the first parent's block that does not descend from that block (the
    network input always qualifies), so the child stays acyclic. Every reader of a removed node
    reads the new block's exit. Inserted nodes keep their innovation ids unless the child already
    uses them.
    """

    name = "subgraph_crossover"
    arity = 2
    max_block = 3

    def propose(self, parents, rng, space, new_id):
        a, b = (p.pruned() for p in parents)
        if not a.nodes or not b.nodes:
            raise NotApplicable("a parent has no live node")
        _, removed = grow_block(a, rng, self.max_block)
        donor_exit, donor_block = grow_block(b, rng, self.max_block)

        downstream = descendants(a, removed)
        entries = sorted({s for nid in removed for s in a.node(nid).inputs
                          if s not in removed and s not in downstream} | {INPUT})
        entry = pick(rng, entries)

        kept = [n for n in a.nodes if n.id not in removed]
        taken = {n.id for n in kept}
        mapping: dict[int, int] = {}
        donor_order = [nid for nid in b.topological_order() if nid in donor_block]
        for nid in donor_order:
            mapping[nid] = nid if nid not in taken else new_id()
            taken.add(mapping[nid])
        inserted = []
        for nid in donor_order:
            node = b.node(nid)
            inputs = tuple(dict.fromkeys(mapping.get(s, entry) for s in node.inputs))
            inserted.append(renamed(node, mapping[nid], inputs))
        new_exit = mapping[donor_exit]
        rewired = [with_inputs(n, tuple(dict.fromkeys(new_exit if s in removed else s for s in n.inputs)))
                   for n in kept]
        output = new_exit if a.output in removed else a.output
        return Genome((*rewired, *inserted), output, a.head)


CROSSOVERS = {op.name: op for op in (OnePointCrossover(), AlignedCrossover(), SubgraphCrossover())}
