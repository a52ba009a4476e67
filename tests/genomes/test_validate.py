"""Genome.validate: each broken graph raises InvalidGenomeError naming the node or edge at fault."""

import re

import pytest

from genomes import ACTIVATIONS, OPERATIONS, Genome, InvalidGenomeError, Node


def chain(*nodes: Node, output: int | None = None, head: str = "flatten") -> Genome:
    return Genome(nodes, output if output is not None else nodes[-1].id, head)


def cycle_in_message(message: str) -> list[int]:
    found = re.search(r"cycle through nodes ([\d >-]+);", message)
    assert found, message
    return [int(part) for part in found.group(1).split(" -> ")]


def test_valid_genome_returns_itself():
    genome = chain(Node(1, "conv", {"width": 4}, inputs=(0,)), Node(2, "identity", inputs=(1,)))

    assert genome.validate() is genome


@pytest.mark.parametrize(
    "genome, expected",
    [
        (chain(Node(1, "identity", inputs=(0, 2)), Node(2, "identity", inputs=(1,))), {1, 2}),
        (
            chain(
                Node(1, "identity", inputs=(0,)),
                Node(2, "identity", inputs=(1, 4)),
                Node(3, "identity", inputs=(2,)),
                Node(4, "identity", inputs=(3,)),
                Node(5, "identity", inputs=(4,)),
            ),
            {2, 3, 4},
        ),
        (
            chain(
                Node(9, "identity", inputs=(0, 7)),
                Node(7, "identity", inputs=(8,)),
                Node(8, "identity", inputs=(9,)),
                Node(3, "identity", inputs=(8, 0)),
            ),
            {7, 8, 9},
        ),
    ],
    ids=["two nodes", "three nodes with a node after", "unsorted ids"],
)
def test_cycle_named_by_its_nodes(genome, expected):
    with pytest.raises(InvalidGenomeError, match="cycle through nodes") as caught:
        genome.validate()

    cycle = cycle_in_message(str(caught.value))
    edges = set(genome.edges())
    assert cycle[0] == cycle[-1]
    assert set(cycle) == expected
    for source, target in zip(cycle, cycle[1:]):
        assert (source, target) in edges, f"{source} -> {target} is not an edge"


@pytest.mark.parametrize(
    "genome, match",
    [
        (
            chain(Node(1, "identity", inputs=(0,)), Node(2, "identity", inputs=(1, 9))),
            r"edge 9 -> 2 is dangling: node 9 does not exist",
        ),
        (
            chain(Node(1, "identity", inputs=(-1,))),
            r"edge -1 -> 1 is dangling",
        ),
        (
            chain(Node(1, "identity", inputs=(0,)), Node(2, "identity", inputs=(2,))),
            r"edge 2 -> 2 is a self-loop",
        ),
        (
            chain(Node(1, "identity", inputs=(0,)), Node(2, "identity", inputs=())),
            r"node 2 has no inputs",
        ),
        (
            Genome((), output=1),
            r"the genome has no nodes",
        ),
        (
            chain(Node(1, "identity", inputs=(0,)), Node(1, "conv", {"width": 4}, inputs=(0,))),
            r"node id 1 is used twice",
        ),
        (
            chain(Node(0, "identity", inputs=(0,))),
            r"node id 0 is invalid; ids are integers >= 1",
        ),
        (
            chain(Node(True, "identity", inputs=(0,))),
            r"node id True is invalid",
        ),
        (
            chain(Node(1, "identity", inputs=(0,)), output=7),
            r"output node 7 is missing; the output must name one of the nodes \[1\]",
        ),
        (
            chain(Node(1, "identity", inputs=(0,)), head="attention"),
            r"head 'attention' is unknown; use one of \['flatten', 'gap'\]",
        ),
        (
            chain(Node(1, "identity", merge="mul", inputs=(0, 0))),
            r"node 1: unknown merge 'mul'",
        ),
    ],
    ids=["dangling", "negative source", "self-loop", "no inputs", "empty", "duplicate id",
         "input id", "bool id", "missing output", "unknown head", "unknown merge"],
)
def test_broken_graph_named(genome, match):
    with pytest.raises(InvalidGenomeError, match=match):
        genome.validate()


def test_unknown_operation_lists_known():
    genome = chain(Node(1, "identity", inputs=(0,)), Node(2, "conv3d", inputs=(1,)))

    with pytest.raises(InvalidGenomeError, match=r"node 2: unknown operation 'conv3d'") as caught:
        genome.validate()

    for name in OPERATIONS:
        assert repr(name) in str(caught.value)


def test_unknown_activation_lists_known():
    genome = chain(Node(1, "identity", inputs=(0,)), Node(2, "identity", activation="swish", inputs=(1,)))

    with pytest.raises(InvalidGenomeError, match=r"node 2: unknown activation 'swish'") as caught:
        genome.validate()

    for name in ACTIVATIONS:
        assert repr(name) in str(caught.value)


@pytest.mark.parametrize(
    "node, match",
    [
        (Node(3, "conv", {"kernel": 3}), r"node 3: parameter 'width' of 'conv' is required"),
        (Node(3, "conv", {"width": 0}), r"node 3: parameter 'width' of 'conv' must be >= 1, got 0"),
        (Node(3, "maxpool", {"kernel": 2, "size": 2}), r"node 3: unknown parameter\(s\) \['size'\]"),
        (Node(3, "linear", {"width": 2.5}), r"node 3: parameter 'width' of 'linear' must be an integer"),
        (Node(3, "avgpool", {"stride": True}), r"node 3: parameter 'stride' of 'avgpool' must be an integer"),
    ],
    ids=["missing width", "zero width", "unknown parameter", "float width", "bool stride"],
)
def test_bad_parameter_names_node(node, match):
    genome = chain(Node(1, "identity", inputs=(0,)), node.replace(inputs=(1,)))

    with pytest.raises(InvalidGenomeError, match=match):
        genome.validate()


def test_dead_nodes_are_still_validated():
    genome = chain(Node(1, "identity", inputs=(0,)), Node(2, "conv3d", inputs=(0,)), output=1)

    with pytest.raises(InvalidGenomeError, match=r"node 2: unknown operation"):
        genome.validate()


def test_topological_order_breaks_ties_by_id():
    genome = chain(
        Node(5, "identity", inputs=(0,)),
        Node(3, "identity", inputs=(0,)),
        Node(4, "identity", inputs=(3, 5)),
        Node(1, "identity", inputs=(4,)),
    )

    assert genome.topological_order() == [3, 5, 4, 1]


def test_node_lookup_of_missing_id():
    genome = chain(Node(1, "identity", inputs=(0,)))

    with pytest.raises(InvalidGenomeError, match=r"node 4 is not in the genome"):
        genome.node(4)


def test_topological_order_names_dangling_edge_without_validate():
    genome = Genome((Node(1, "identity", inputs=(0,)), Node(2, "identity", inputs=(1, 9))), output=2)
    with pytest.raises(InvalidGenomeError, match="edge 9 -> 2 is dangling"):
        genome.topological_order()
