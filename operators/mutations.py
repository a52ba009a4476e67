"""Mutations: one parent in, one child out. Each returns a new genome (parents are immutable)."""

from __future__ import annotations

import numpy as np

from genomes import INPUT, Genome, Node, SearchSpace
from genomes.ops import WIDTH_OPERATIONS
from operators.base import NotApplicable, Operator, pick

HEAD = -1  # pseudo node id for the edge from the output node to the classifier head


def random_node(node_id: int, inputs: tuple[int, ...], rng: np.random.Generator, space: SearchSpace) -> Node:
    op = pick(rng, space.operations)
    return Node(node_id, op, space.sample_params(op, rng), pick(rng, space.activations), "add", inputs)


def live_nodes(genome: Genome) -> list[Node]:
    live = genome.live_ids()
    return [n for n in genome.nodes if n.id in live]


class InsertNode(Operator):
    """Insert a random node on an edge (source -> target becomes source -> new -> target)."""

    name = "insert_node"

    def propose(self, parents, rng, space):
        (genome,) = parents
        if len(genome) >= space.max_nodes:
            raise NotApplicable(f"the genome already has max_nodes = {space.max_nodes} nodes")
        edges = [(n.id, position) for n in live_nodes(genome) for position in range(len(n.inputs))]
        edges.append((HEAD, 0))
        target, position = pick(rng, edges)
        new_id = genome.next_id()
        if target == HEAD:
            new_node = random_node(new_id, (genome.output,), rng, space)
            return genome.replace_nodes((*genome.nodes, new_node), output=new_id)
        node = genome.node(target)
        inputs = list(node.inputs)
        source = inputs[position]
        inputs[position] = new_id
        child = genome.with_node(node.replace(inputs=tuple(inputs)))
        return child.with_node(random_node(new_id, (source,), rng, space))


class RemoveNode(Operator):
    """Remove a node; its readers take its inputs in its place."""

    name = "remove_node"

    def propose(self, parents, rng, space):
        (genome,) = parents
        nodes = live_nodes(genome)
        if len(nodes) < 2:
            raise NotApplicable("the genome has a single node; nothing can be removed")
        node = pick(rng, nodes)
        output = genome.output
        if node.id == output:
            predecessors = [s for s in node.inputs if s != INPUT]
            if not predecessors:
                raise NotApplicable(f"output node {node.id} reads only the input; removing it leaves no node")
            output = predecessors[0]
        rewired = []
        for other in genome.nodes:
            if other.id == node.id:
                continue
            if node.id in other.inputs:
                inputs = []
                for src in other.inputs:
                    inputs.extend(node.inputs if src == node.id else (src,))
                other = other.replace(inputs=tuple(inputs))
            rewired.append(other)
        return genome.replace_nodes(rewired, output=output)


class AddSkip(Operator):
    """Add an edge from an earlier node (or the input) to a later node; the order keeps it acyclic."""

    name = "add_skip"

    def propose(self, parents, rng, space):
        (genome,) = parents
        order = [INPUT, *[nid for nid in genome.topological_order() if nid in genome.live_ids()]]
        pairs = [(order[i], order[j]) for j in range(1, len(order)) for i in range(j)
                 if order[i] not in genome.node(order[j]).inputs]
        if not pairs:
            raise NotApplicable("every node already reads every earlier node")
        source, target = pick(rng, pairs)
        node = genome.node(target)
        merge = pick(rng, ("add", "concat")) if len(node.inputs) == 1 else node.merge
        return genome.with_node(node.replace(inputs=(*node.inputs, source), merge=merge))


class ChangeOperation(Operator):
    """Give a node another operation from the space, with freshly drawn hyperparameters."""

    name = "change_operation"

    def propose(self, parents, rng, space):
        (genome,) = parents
        node = pick(rng, live_nodes(genome))
        choices = [op for op in space.operations if op != node.op]
        if not choices:
            raise NotApplicable("the space allows a single operation")
        op = pick(rng, choices)
        return genome.with_node(node.replace(op=op, params=space.sample_params(op, rng)))


class ChangeActivation(Operator):
    """Give a node another activation from the space."""

    name = "change_activation"

    def propose(self, parents, rng, space):
        (genome,) = parents
        node = pick(rng, live_nodes(genome))
        choices = [a for a in space.activations if a != node.activation]
        if not choices:
            raise NotApplicable("the space allows a single activation")
        return genome.with_node(node.replace(activation=pick(rng, choices)))


class ChangeWidth(Operator):
    """Scale the width of a convolution or linear node by 1/2, 3/4, 3/2 or 2, clipped to the space."""

    name = "change_width"

    def propose(self, parents, rng, space):
        (genome,) = parents
        candidates = [n for n in live_nodes(genome) if n.op in WIDTH_OPERATIONS]
        if not candidates:
            raise NotApplicable("no node has a width (convolution or linear)")
        node = pick(rng, candidates)
        params = node.resolved_params()
        low, high = space.widths
        width = int(np.clip(round(params["width"] * pick(rng, (0.5, 0.75, 1.5, 2.0))), low, high))
        if width == params["width"]:
            # Scaling hit a bound of the range: take any other allowed width instead.
            others = [w for w in range(low, high + 1) if w != width]
            if not others:
                raise NotApplicable(f"node {node.id} keeps width {width}; the space allows no other")
            width = pick(rng, others)
        params["width"] = width
        return genome.with_node(node.replace(params=params))


MUTATIONS: dict[str, Operator] = {
    op.name: op
    for op in (InsertNode(), RemoveNode(), AddSkip(), ChangeOperation(), ChangeActivation(), ChangeWidth())
}
