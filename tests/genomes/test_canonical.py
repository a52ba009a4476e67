"""Canonical hash: same for renumbered or reordered genomes, different for any real change.

An independent check compares the hash with networkx's isomorphism test on the live graph.
"""

import random
from collections import Counter

import networkx as nx
import pytest
import strategies
from golden_corpus import ring_genome
from hypothesis import given, settings
from hypothesis import strategies as st

from genomes import Genome, InvalidGenomeError, Node, infer_shapes


def residual_genome() -> Genome:
    """Two convolutions, the first one pooled, joined by concat and then added to the first one."""
    return Genome(
        (
            Node(1, "conv", {"width": 4, "kernel": 3}, "relu", inputs=(0,)),
            Node(2, "maxpool", {"kernel": 2}, "identity", inputs=(1,)),
            Node(3, "conv", {"width": 4, "kernel": 5}, "gelu", inputs=(0,)),
            Node(4, "identity", {}, "identity", "concat", inputs=(2, 3)),
            Node(5, "batchnorm", {}, "relu", "add", inputs=(4, 1)),
        ),
        output=5,
        head="gap",
    )


def replace_node(genome: Genome, node_id: int, **changes) -> Genome:
    return genome.with_node(genome.node(node_id).replace(**changes))


# -- invariance ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_hash_ignores_ids_and_node_order(data):
    genome = data.draw(strategies.genomes((1, 40), max_nodes=7))
    mapping = data.draw(strategies.relabelings(genome))
    relabeled = genome.relabeled(mapping)
    shuffled = relabeled.replace_nodes(data.draw(st.permutations(relabeled.nodes)))

    assert shuffled.validate() is shuffled
    assert shuffled.canonical_hash() == genome.canonical_hash()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_hash_ignores_add_input_order(data):
    genome = data.draw(strategies.genomes((1, 40), max_nodes=7))
    copy = data.draw(strategies.isomorphic_copies(genome))

    assert copy.canonical_hash() == genome.canonical_hash()


def test_hash_is_sha256_hex():
    digest = residual_genome().canonical_hash()

    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_hash_ignores_explicit_defaults():
    genome = residual_genome()
    explicit = replace_node(genome, 1, params={"width": 4, "kernel": 3, "stride": 1, "padding": 1})

    assert explicit != genome
    assert explicit.canonical_hash() == genome.canonical_hash()


def test_hash_ignores_merge_of_single_input():
    genome = residual_genome()
    concat = replace_node(genome, 2, merge="concat")

    assert concat.canonical_hash() == genome.canonical_hash()


def test_add_input_order_ignored():
    genome = residual_genome()
    swapped = replace_node(genome, 5, inputs=(1, 4))

    assert swapped.canonical_hash() == genome.canonical_hash()


def test_concat_input_order_matters():
    genome = residual_genome()
    swapped = replace_node(genome, 4, inputs=(3, 2))

    assert swapped.canonical_hash() != genome.canonical_hash()


def test_concat_order_with_repeated_source():
    genome = Genome((Node(1, "conv", {"width": 3}, inputs=(0,)),
                     Node(2, "identity", merge="concat", inputs=(1, 1, 0))), output=2)
    swapped = replace_node(genome, 2, inputs=(0, 1, 1))

    assert swapped.canonical_hash() != genome.canonical_hash()


# -- dead nodes ---------------------------------------------------------------------------------


def test_dead_nodes_ignored():
    genome = residual_genome()
    dead = genome.with_node(Node(9, "linear", {"width": 7}, "tanh", inputs=(0, 3)))
    dead = dead.with_node(Node(8, "conv", {"width": 2}, inputs=(9,)))

    assert len(dead) == len(genome) + 2
    assert dead.canonical_hash() == genome.canonical_hash()
    assert dead.pruned() == genome


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_dead_node_ignored(data):
    genome = data.draw(strategies.genomes((1, 40), max_nodes=6))
    sources = data.draw(st.lists(st.sampled_from((0, *genome.ids)), min_size=1, max_size=3))
    op = data.draw(st.sampled_from(["identity", "batchnorm", "maxpool"]))
    with_dead = genome.with_node(Node(genome.next_id(), op, {}, "relu", inputs=tuple(sources)))

    assert with_dead.canonical_hash() == genome.canonical_hash()
    assert genome.pruned().canonical_hash() == genome.canonical_hash()


# -- sensitivity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda g: replace_node(g, 1, op="avgpool", params={}),
        lambda g: replace_node(g, 2, op="avgpool"),
        lambda g: replace_node(g, 1, params={"width": 5, "kernel": 3}),
        lambda g: replace_node(g, 1, params={"width": 4, "kernel": 5}),
        lambda g: replace_node(g, 1, params={"width": 4, "kernel": 3, "stride": 2}),
        lambda g: replace_node(g, 1, params={"width": 4, "kernel": 3, "padding": 0}),
        lambda g: replace_node(g, 2, params={"kernel": 2, "padding": 1}),
        lambda g: replace_node(g, 1, activation="silu"),
        lambda g: replace_node(g, 5, activation="identity"),
        lambda g: replace_node(g, 4, merge="add"),
        lambda g: replace_node(g, 5, merge="concat"),
        lambda g: replace_node(g, 5, inputs=(4, 0)),
        lambda g: replace_node(g, 5, inputs=(4, 1, 0)),
        lambda g: replace_node(g, 5, inputs=(4, 1, 1)),
        lambda g: replace_node(g, 5, inputs=(4,)),
        lambda g: replace_node(g, 3, inputs=(1,)),
        lambda g: g.replace_nodes(g.nodes, head="flatten"),
        lambda g: g.replace_nodes(g.nodes, output=4),
    ],
    ids=["op", "pool op", "width", "kernel", "stride", "padding", "pool padding", "activation",
         "output activation", "concat to add", "add to concat", "rewire", "extra edge",
         "duplicate edge", "dropped edge", "moved edge", "head", "output"],
)
def test_any_change_changes_hash(change):
    genome = residual_genome()
    changed = change(genome)

    assert changed.validate() is changed
    assert changed.canonical_hash() != genome.canonical_hash()


@st.composite
def one_change(draw):
    """A random genome and a copy with one live node's label changed or one live edge added or removed.

    Each change alters the multiset of live labels or the number of live edges, so no change can
    give an isomorphic genome.
    """
    genome = draw(strategies.genomes((1, 40), max_nodes=6))
    live = sorted(genome.live_ids())
    node = genome.node(draw(st.sampled_from(live)))
    kinds = ["activation", "edge added", "op"]
    if "width" in node.params:
        kinds.append("width")
    if len(node.inputs) > 1:
        kinds += ["edge removed", "merge"]
    kind = draw(st.sampled_from(kinds))

    if kind == "activation":
        activation = draw(st.sampled_from(["relu", "gelu", "silu", "tanh", "identity"]).filter(
            lambda name: name != node.activation))
        changed = node.replace(activation=activation)
    elif kind == "op":
        op = draw(st.sampled_from(["maxpool", "avgpool", "batchnorm", "identity"]).filter(
            lambda name: name != node.op))
        changed = node.replace(op=op, params={})
    elif kind == "width":
        changed = node.replace(params={**node.param_dict, "width": node.param_dict["width"] + 1})
    elif kind == "merge":
        changed = node.replace(merge="add" if node.merge == "concat" else "concat")
    elif kind == "edge added":
        source = draw(st.sampled_from([0, *(nid for nid in live if nid < node.id)]))
        changed = node.replace(inputs=(*node.inputs, source))
    else:
        position = draw(st.integers(0, len(node.inputs) - 1))
        changed = node.replace(inputs=node.inputs[:position] + node.inputs[position + 1:])
    return genome, genome.with_node(changed), kind


@settings(max_examples=300, deadline=None)
@given(one_change())
def test_random_change_changes_hash(case):
    genome, changed, kind = case

    assert changed.canonical_hash() != genome.canonical_hash(), kind


# -- comparison with an isomorphism test --------------------------------------------------------


def labelled_graph(genome: Genome) -> nx.MultiDiGraph:
    """The live graph, each node with the label the hash gives it and each concat edge by position."""
    live = genome.pruned()
    graph = nx.MultiDiGraph()
    graph.add_node(0, label=("input",))
    for node in live.nodes:
        several = len(node.inputs) > 1
        params = tuple(sorted(node.resolved_params().items()))
        label = (node.op, params, node.activation, node.merge if several else None, node.id == live.output)
        graph.add_node(node.id, label=label)
    for node in live.nodes:
        ordered = node.merge == "concat" and len(node.inputs) > 1
        for position, source in enumerate(node.inputs):
            graph.add_edge(source, node.id, position=position if ordered else None)
    return graph


def isomorphic(first: Genome, second: Genome) -> bool:
    if first.head != second.head:
        return False

    def same_edges(a, b):
        return Counter(e["position"] for e in a.values()) == Counter(e["position"] for e in b.values())

    return nx.is_isomorphic(labelled_graph(first), labelled_graph(second),
                            node_match=lambda a, b: a["label"] == b["label"], edge_match=same_edges)


@st.composite
def rewired(draw, genome: Genome) -> Genome:
    """The genome with one input of one node moved to another earlier node, or reversed."""
    node = draw(st.sampled_from(genome.nodes))
    if draw(st.booleans()):
        inputs = tuple(reversed(node.inputs))
    else:
        position = draw(st.integers(0, len(node.inputs) - 1))
        source = draw(st.integers(0, node.id - 1))
        inputs = node.inputs[:position] + (source,) + node.inputs[position + 1:]
    return genome.with_node(node.replace(inputs=inputs))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_hash_equal_iff_isomorphic(data):
    # Few labels, so rewiring often gives an isomorphic genome and both outcomes get tested.
    genome = data.draw(strategies.genomes((1, 40), operations=("identity", "maxpool"),
                                          activations=("relu",), heads=("flatten",), max_nodes=7))
    other = data.draw(strategies.isomorphic_copies(data.draw(rewired(genome))))

    same_hash = genome.canonical_hash() == other.canonical_hash()

    assert same_hash == isomorphic(genome, other)


# -- symmetric graphs ---------------------------------------------------------------------------


@pytest.mark.parametrize("rings", [[2, 1, 1], [3, 1, 2], [3, 1, 1, 1], [4, 2, 2], [5, 2, 3], [6, 2, 2, 2]],
                         ids=lambda rings: "+".join(map(str, rings)))
def test_ring_genomes_hash_ignores_ids(rings):
    genome = ring_genome(rings)
    shuffler = random.Random(0)
    expected = genome.canonical_hash()

    for _ in range(15):
        new_ids = shuffler.sample(range(1, 1000), len(genome))
        copy = genome.relabeled(dict(zip(genome.ids, new_ids)))
        nodes = list(copy.nodes)
        shuffler.shuffle(nodes)
        assert copy.replace_nodes(nodes).canonical_hash() == expected


def test_ring_genomes_of_different_shape_differ():
    one_ring = ring_genome([6])
    two_rings = ring_genome([3, 3])

    assert not isomorphic(one_ring, two_rings)
    assert one_ring.canonical_hash() != two_rings.canonical_hash()


@pytest.mark.parametrize("branches", [2, 8, 16])
def test_parallel_identical_branches(branches):
    convs = [Node(i, "conv", {"width": 2}, "relu", inputs=(0,)) for i in range(1, branches + 1)]
    pools = [Node(branches + i, "maxpool", {}, "identity", inputs=(i,)) for i in range(1, branches + 1)]
    total = Node(2 * branches + 1, "identity", merge="add", inputs=tuple(n.id for n in pools))
    genome = Genome((*convs, *pools, total), total.id)
    reversed_ids = genome.relabeled({nid: 100 - nid for nid in genome.ids})

    assert reversed_ids.canonical_hash() == genome.canonical_hash()
    assert infer_shapes(genome, (1, 8), 2).nodes[total.id].output_shape == (2, 4)


def test_hash_of_invalid_genome_raises():
    genome = Genome((Node(1, "identity", inputs=(0, 2)), Node(2, "identity", inputs=(1,))), output=2)

    with pytest.raises(InvalidGenomeError, match="cycle through nodes"):
        genome.canonical_hash()
