"""Mutations: one parent in, one child out. Each returns a new genome (parents are immutable)."""

from __future__ import annotations

import numpy as np

from genomes import INPUT, Genome, GenomeError, Node, SearchSpace
from genomes.ops import CONVOLUTIONS, FLAT, POOLING_OPERATIONS, WIDTH_OPERATIONS, WINDOW_OPERATIONS, Shape
from operators.base import NotApplicable, Operator, pick, with_inputs

HEAD = -1  # pseudo node id for the edge from the output node to the classifier head


def random_node(node_id: int, inputs: tuple[int, ...], rng: np.random.Generator, space: SearchSpace,
                channels: int | None = None) -> Node:
    op = pick(rng, space.operations)
    return Node(node_id, op, space.sample_params(op, rng, channels), pick(rng, space.activations), "add", inputs)


def live_nodes(genome: Genome) -> list[Node]:
    live = genome.live_ids()
    return [n for n in genome.nodes if n.id in live]


def shapes_of(genome: Genome, space: SearchSpace) -> tuple[dict[int, Shape], dict[int, Shape]]:
    """Output shape of every live node (the input included, as id 0) and merged input shape per node."""
    try:
        plan = space.network_plan(genome)
    except GenomeError as error:
        raise NotApplicable(f"the parent does not fit the task: {error}") from None
    outputs = {INPUT: plan.input_shape}
    outputs.update({nid: p.output_shape for nid, p in plan.nodes.items()})
    merged = {nid: p.merged_shape for nid, p in plan.nodes.items()}
    return outputs, merged


def edges_into_live_nodes(genome: Genome) -> list[tuple[int, int]]:
    """(target, input position) of every edge into a live node, plus (HEAD, 0) for the head edge."""
    edges = [(n.id, position) for n in live_nodes(genome) for position in range(len(n.inputs))]
    edges.append((HEAD, 0))
    return edges


def insert_on_edge(genome: Genome, target: int, position: int, make_node) -> Genome:
    """Put a new node on an edge; ``make_node(source)`` builds it, reading ``source``."""
    if target == HEAD:
        new_node = make_node(genome.output)
        return genome.replace_nodes((*genome.nodes, new_node), output=new_node.id)
    node = genome.node(target)
    inputs = list(node.inputs)
    new_node = make_node(inputs[position])
    inputs[position] = new_node.id
    rewired = node.replace(inputs=tuple(inputs))
    nodes = [rewired if n.id == rewired.id else n for n in genome.nodes]
    # As with_node: a new id is appended, and an id already in the genome is replaced.
    if any(n.id == new_node.id for n in nodes):
        return genome.replace_nodes(new_node if n.id == new_node.id else n for n in nodes)
    nodes.append(new_node)
    return genome.replace_nodes(nodes)


class InsertNode(Operator):
    """Insert a random node on an edge (source -> target becomes source -> new -> target)."""

    name = "insert_node"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        if len(genome) >= space.max_nodes:
            raise NotApplicable(f"the genome already has max_nodes = {space.max_nodes} nodes")
        outputs, _ = shapes_of(genome, space)
        target, position = pick(rng, edges_into_live_nodes(genome))

        def make_node(source: int) -> Node:
            return random_node(new_id(), (source,), rng, space, outputs[source][0])

        return insert_on_edge(genome, target, position, make_node)


class InsertIdentity(Operator):
    """Insert a node that computes the identity at initialisation, so the network's function
    is unchanged and inherited weights stay useful.

    The node is a stride-1 convolution with an odd kernel, or a linear layer on a flat input. Its
    width equals its input's channels, with ``identity_init = 1`` and the ``identity`` activation.
    Where the space allows neither, the node is an ``identity`` node.
    """

    name = "insert_identity"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        if len(genome) >= space.max_nodes:
            raise NotApplicable(f"the genome already has max_nodes = {space.max_nodes} nodes")
        if "identity" not in space.activations:
            raise NotApplicable("the space does not allow the 'identity' activation that keeps the function")
        outputs, _ = shapes_of(genome, space)
        target, position = pick(rng, edges_into_live_nodes(genome))
        source = genome.output if target == HEAD else genome.node(target).inputs[position]
        shape = outputs[source]
        low, high = space.widths
        choices = []
        odd_kernels = [k for k in space.kernel_sizes if k % 2 == 1]
        if len(shape) > FLAT and "conv" in space.operations and odd_kernels and 1 in space.strides \
                and 1 in space.dilations and 1 in space.groups and low <= shape[0] <= high:
            params = {"width": shape[0], "kernel": pick(rng, odd_kernels), "stride": 1, "identity_init": 1}
            params["padding"] = params["kernel"] // 2
            choices.append(("conv", params))
        if len(shape) == FLAT and "linear" in space.operations and low <= shape[0] <= high:
            choices.append(("linear", {"width": shape[0], "identity_init": 1}))
        if "identity" in space.operations:
            choices.append(("identity", {}))
        if not choices:
            raise NotApplicable(f"no operation in the space can start as the identity on {shape}")
        op, params = pick(rng, choices)

        def make_node(read: int) -> Node:
            return Node(new_id(), op, params, "identity", "add", (read,))

        return insert_on_edge(genome, target, position, make_node)


class RemoveNode(Operator):
    """Remove a node; its readers take its inputs in its place."""

    name = "remove_node"

    def propose(self, parents, rng, space, new_id):
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

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        live = genome.live_ids()
        order = [INPUT, *[nid for nid in genome.topological_order() if nid in live]]
        pairs = [(order[i], order[j]) for j in range(1, len(order)) for i in range(j)
                 if order[i] not in genome.node(order[j]).inputs]
        if not pairs:
            raise NotApplicable("every node already reads every earlier node")
        source, target = pick(rng, pairs)
        node = genome.node(target)
        merge = pick(rng, ("add", "concat")) if len(node.inputs) == 1 else node.merge
        return genome.with_node(node.replace(inputs=(*node.inputs, source), merge=merge))


class RemoveEdge(Operator):
    """Remove one input of a node that has several, when every live node stays live.

    Every node keeps at least one input, so each still has a path from the network input, and
    an edge is only removed when its source still has a path to the output through another edge.
    """

    name = "remove_edge"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        live = genome.live_ids()
        candidates = []
        for node in live_nodes(genome):
            if len(node.inputs) < 2:
                continue
            for position in range(len(node.inputs)):
                inputs = node.inputs[:position] + node.inputs[position + 1:]
                if genome.live_ids_with_inputs(node.id, inputs) == live:
                    candidates.append((node, inputs))
        if not candidates:
            raise NotApplicable("no edge can be removed without disconnecting a node from the output")
        node, inputs = pick(rng, candidates)
        return genome.with_node(node.replace(inputs=inputs))


class ChangeOperation(Operator):
    """Give a node another operation from the space, with freshly drawn hyperparameters."""

    name = "change_operation"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        _, merged = shapes_of(genome, space)
        node = pick(rng, live_nodes(genome))
        choices = [op for op in space.operations if op != node.op]
        if not choices:
            raise NotApplicable("the space allows a single operation")
        op = pick(rng, choices)
        return genome.with_node(node.replace(op=op, params=space.sample_params(op, rng, merged[node.id][0])))


class ChangeActivation(Operator):
    """Give a node another activation from the space."""

    name = "change_activation"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        node = pick(rng, live_nodes(genome))
        choices = [a for a in space.activations if a != node.activation]
        if not choices:
            raise NotApplicable("the space allows a single activation")
        return genome.with_node(node.replace(activation=pick(rng, choices)))


class ChangeWidth(Operator):
    """Scale the width of a convolution or linear node by 1/2, 3/4, 3/2 or 2, clipped to the space."""

    name = "change_width"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        candidates = [n for n in live_nodes(genome) if n.op in WIDTH_OPERATIONS]
        if not candidates:
            raise NotApplicable("no node has a width (convolution or linear)")
        node = pick(rng, candidates)
        params = node.resolved_params()
        low, high = space.widths
        width = int(min(max(round(params["width"] * pick(rng, (0.5, 0.75, 1.5, 2.0))), low), high))
        if width == params["width"]:
            # Scaling hit a bound of the range: take any other allowed width instead.
            others = [w for w in range(low, high + 1) if w != width]
            if not others:
                raise NotApplicable(f"node {node.id} keeps width {width}; the space allows no other")
            width = pick(rng, others)
        params["width"] = width
        groups = params.get("groups", 1)
        if width % groups:
            # Keep the grouping valid: round the width up to a multiple of groups, or drop groups.
            rounded = -(-width // groups) * groups
            if rounded <= high:
                params["width"] = rounded
            else:
                params["groups"] = 1
        return genome.with_node(node.replace(params=params))


def window_nodes(genome: Genome, ops: frozenset[str]) -> list[Node]:
    return [n for n in live_nodes(genome) if n.op in ops]


class ChangeKernel(Operator):
    """Give a convolution or pooling node another kernel size from the space.

    The padding becomes half the kernel (times the dilation), so an odd convolution kernel keeps
    the size at stride 1.
    """

    name = "change_kernel"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        candidates = window_nodes(genome, WINDOW_OPERATIONS)
        if not candidates:
            raise NotApplicable("no node has a kernel (convolution or pooling)")
        node = pick(rng, candidates)
        params = node.resolved_params()
        sizes = space.pool_sizes if node.op in POOLING_OPERATIONS else space.kernel_sizes
        others = [k for k in sizes if k != params["kernel"]]
        if not others:
            raise NotApplicable(f"node {node.id}: the space allows no other kernel than {params['kernel']}")
        params["kernel"] = int(pick(rng, others))
        params["padding"] = params.get("dilation", 1) * (params["kernel"] // 2)
        return genome.with_node(node.replace(params=params))


class ChangeStride(Operator):
    """Give a convolution or pooling node another stride from the space.

    The space check that every operator runs rejects a stride that shrinks a later node's input
    below its window, and the operator then draws again.
    """

    name = "change_stride"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        candidates = window_nodes(genome, WINDOW_OPERATIONS)
        if not candidates:
            raise NotApplicable("no node has a stride (convolution or pooling)")
        node = pick(rng, candidates)
        params = node.resolved_params()
        others = [s for s in space.strides if s != params["stride"]]
        if not others:
            raise NotApplicable(f"node {node.id}: the space allows no other stride than {params['stride']}")
        params["stride"] = int(pick(rng, others))
        return genome.with_node(node.replace(params=params))


class ChangeDilationGroups(Operator):
    """Change the dilation of a convolution, or the groups of a plain convolution.

    New groups are drawn among the space's values, and the depthwise count when the width equals
    the input channels, that divide both the input channels and the width, so the node stays valid.
    """

    name = "change_dilation_groups"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        candidates = window_nodes(genome, CONVOLUTIONS)
        if not candidates:
            raise NotApplicable("no convolution to change")
        _, merged = shapes_of(genome, space)
        node = pick(rng, candidates)
        params = node.resolved_params()
        channels = merged[node.id][0]
        options = [("dilation", d) for d in space.dilations if d != params["dilation"]]
        if node.op == "conv":
            allowed = set(space.groups)
            if channels == params["width"]:
                allowed.add(channels)  # depthwise
            options += [("groups", g) for g in sorted(allowed)
                        if g != params["groups"] and channels % g == 0 and params["width"] % g == 0]
        if not options:
            raise NotApplicable(f"node {node.id}: no other dilation or groups fits")
        key, value = pick(rng, options)
        params[key] = int(value)
        params["padding"] = params["dilation"] * (params["kernel"] // 2)
        return genome.with_node(node.replace(params=params))


class SwapMerge(Operator):
    """Switch the merge of a node with several inputs between ``add`` and ``concat``."""

    name = "swap_merge"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        candidates = [n for n in live_nodes(genome) if len(n.inputs) > 1]
        if not candidates:
            raise NotApplicable("no node has several inputs to merge")
        node = pick(rng, candidates)
        return genome.with_node(node.replace(merge="concat" if node.merge == "add" else "add"))


class DuplicateBlock(Operator):
    """Repeat a chain of up to three nodes right after itself, with new ids.

    The chain is a live node and up to two predecessors, each the single input of the next. The
    copy reads the chain's last node, and every reader of that node reads the copy instead, as
    when a network stacks one more block of the same kind.
    """

    name = "duplicate_block"

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        nodes = live_nodes(genome)
        last = pick(rng, nodes)
        chain = [last]
        length = int(rng.integers(1, 4))
        while len(chain) < length and len(chain[0].inputs) == 1 and chain[0].inputs[0] != INPUT:
            chain.insert(0, genome.node(chain[0].inputs[0]))
        if len(genome) + len(chain) > space.max_nodes:
            raise NotApplicable(f"a copy of {len(chain)} node(s) would exceed max_nodes = {space.max_nodes}")
        mapping = {n.id: new_id() for n in chain}
        copies = []
        for position, node in enumerate(chain):
            source = last.id if position == 0 else mapping[chain[position - 1].id]
            copies.append(node.replace(id=mapping[node.id], inputs=(source,)))
        tail = mapping[last.id]
        rewired = [with_inputs(n, tuple(tail if s == last.id else s for s in n.inputs)) for n in genome.nodes]
        output = tail if genome.output == last.id else genome.output
        return genome.replace_nodes((*rewired, *copies), output=output)


MUTATIONS: dict[str, Operator] = {
    op.name: op
    for op in (InsertNode(), RemoveNode(), AddSkip(), ChangeOperation(), ChangeActivation(), ChangeWidth(),
               RemoveEdge(), ChangeKernel(), ChangeStride(), ChangeDilationGroups(), SwapMerge(),
               DuplicateBlock(), InsertIdentity())
}
