"""Values that genomes and nodes keep once computed: callers get copies, and equal-looking values
of another type are not mistaken for each other."""

import hashlib
import json
import pickle
import random

import pytest

from genomes import Genome, InvalidGenomeError, Node, SearchSpace, ShapeError, infer_shapes
from genomes import canonical
from genomes.genome import _RESOLVED


def small_genome() -> Genome:
    return Genome(
        (
            Node(1, "conv", {"width": 4}, "relu"),
            Node(2, "maxpool", {}, "identity", inputs=(1,)),
            Node(3, "conv", {"width": 4, "kernel": 1}, "gelu", "add", inputs=(2, 1)),
            Node(9, "linear", {"width": 3}, "relu", inputs=(1,)),
        ),
        output=3,
        head="gap",
    )


def test_infer_shapes_hands_out_own_node_dict():
    genome = small_genome()
    first = infer_shapes(genome, (1, 16), 3)
    first.nodes.clear()

    second = infer_shapes(genome, (1, 16), 3)

    assert list(second.nodes) == [1, 2, 3]
    assert second.parameters == infer_shapes(small_genome(), (1, 16), 3).parameters


def test_infer_shapes_keeps_one_plan_per_input():
    genome = small_genome()

    sequence = infer_shapes(genome, (1, 16), 3)
    image = infer_shapes(genome, (1, 8, 8), 3)

    assert sequence.nodes[3].output_shape == (4, 8)
    assert image.nodes[3].output_shape == (4, 4, 4)
    assert infer_shapes(genome, (1, 16), 3).nodes[3].output_shape == (4, 8)
    assert infer_shapes(genome, [1, 16], 5).num_classes == 5


def test_orders_and_live_ids_are_copies():
    genome = small_genome()
    genome.topological_order().clear()
    genome.live_ids().clear()

    assert genome.topological_order() == [1, 2, 3, 9]
    assert genome.live_ids() == {1, 2, 3}


def test_resolved_params_are_copies():
    node = Node(1, "conv", {"width": 4})
    node.resolved_params()["width"] = 99

    assert node.resolved_params()["width"] == 4
    assert Node(2, "conv", {"width": 4}).resolved_params()["width"] == 4


@pytest.mark.parametrize("value", [8.0, True])
def test_resolution_cache_keeps_types_apart(value):
    """8.0 == 8 and True == 1, but only the int is a valid width."""
    _RESOLVED.clear()
    assert Node(1, "linear", {"width": int(value)}).resolved_params()["width"] == int(value)

    with pytest.raises(ValueError, match="must be an integer"):
        Node(1, "linear", {"width": value}).resolved_params()


def test_invalid_genome_raises_on_every_call():
    genome = Genome((Node(1, "identity", inputs=(0, 2)), Node(2, "identity", inputs=(1,))), output=2)

    for _ in range(2):
        with pytest.raises(InvalidGenomeError, match="cycle through nodes"):
            genome.canonical_hash()
        with pytest.raises(InvalidGenomeError, match="cycle through nodes"):
            genome.validate()


def test_checked_node_still_reports_dangling_input():
    node = Node(2, "identity", inputs=(1,))
    Genome((Node(1, "identity"), node), output=2).validate()

    with pytest.raises(InvalidGenomeError, match="edge 1 -> 2 is dangling"):
        Genome((node,), output=2).validate()


def test_node_pickle_drops_kept_values():
    genome = small_genome()
    infer_shapes(genome, (1, 16), 3)
    node = genome.node(3)

    copy = pickle.loads(pickle.dumps(node))

    assert copy == node
    assert set(vars(copy)) == {"id", "op", "params", "activation", "merge", "inputs"}
    assert copy.resolved_params() == node.resolved_params()


def test_hash_same_after_label_cache_cleared():
    genome = small_genome()
    expected = genome.canonical_hash()
    canonical._LABELS.clear()

    assert small_genome().canonical_hash() == expected


def test_refined_color_matches_json_digest():
    draw = random.Random(3)

    def color() -> str:
        return hashlib.sha256(str(draw.random()).encode()).hexdigest()

    for _ in range(200):
        own = color()
        inputs = [color() for _ in range(draw.randint(0, 4))]
        outs = sorted((color(), draw.choice((-1, 0, 1, 5))) for _ in range(draw.randint(0, 4)))
        expected = hashlib.sha256(json.dumps([own, inputs, [list(o) for o in outs]], sort_keys=True).encode())

        assert canonical._refined_color(own, inputs, outs) == expected.hexdigest()


def test_violation_kept_per_space_object():
    wide = SearchSpace((1, 16), 3, widths=(2, 8))
    narrow = SearchSpace((1, 16), 3, widths=(2, 3))
    genome = small_genome()

    assert wide.violation(genome) is None
    assert narrow.violation(genome) == "node 1: width 4 is outside (2, 3)"
    assert wide.violation(genome) is None
    assert narrow.violation(genome) == "node 1: width 4 is outside (2, 3)"


def test_node_mark_is_per_space():
    wide = SearchSpace((1, 16), 3, widths=(2, 8))
    narrow = SearchSpace((1, 16), 3, widths=(2, 3))
    genome = small_genome()
    assert wide.violation(genome) is None

    # A new genome object made of the same node objects, so only the node-level marks remain.
    copy = Genome(genome.nodes, genome.output, genome.head)

    assert narrow.violation(copy) == "node 1: width 4 is outside (2, 3)"
    assert wide.violation(copy) is None


def test_violation_bad_class_count_message():
    space = SearchSpace((1, 16), 0)
    with pytest.raises(ShapeError) as error:
        infer_shapes(small_genome(), (1, 16), 0)

    assert space.violation(small_genome()) == str(error.value)


def test_network_plan_equals_infer_shapes():
    space = SearchSpace((1, 8, 8), 3)
    genome = small_genome()

    assert space.network_plan(genome) == infer_shapes(genome, (1, 8, 8), 3)


def test_node_replace_equals_constructor():
    node = Node(3, "conv", {"width": 4, "kernel": 1}, "gelu", "add", inputs=(2, 1))

    changed = node.replace(params={"kernel": 3, "width": 6}, inputs=[1])
    built = Node(3, "conv", {"width": 6, "kernel": 3}, "gelu", "add", inputs=(1,))

    assert changed == built
    assert list(vars(changed).items()) == list(vars(built).items())
    assert node.replace(id=7) == Node(7, "conv", {"width": 4, "kernel": 1}, "gelu", "add", inputs=(2, 1))


def test_node_replace_unknown_field_error():
    node = Node(1, "identity")
    with pytest.raises(TypeError) as expected:
        Node(id=1, op="identity", colour="red")

    with pytest.raises(TypeError) as actual:
        node.replace(colour="red")

    assert str(actual.value) == str(expected.value)


def test_with_node_same_edges_keeps_order():
    genome = small_genome().validate()
    changed = genome.with_node(genome.node(2).replace(op="avgpool"))

    fresh = Genome(changed.nodes, changed.output, changed.head)

    assert changed.topological_order() == fresh.topological_order()
    assert changed.live_ids() == fresh.live_ids()
    assert changed.canonical_hash() == fresh.canonical_hash()


def test_with_node_new_edges_finds_cycle():
    genome = small_genome().validate()

    looped = genome.with_node(genome.node(1).replace(inputs=(3,)))

    with pytest.raises(InvalidGenomeError, match="cycle through nodes"):
        looped.validate()


def test_with_node_same_edges_still_checks_new_node():
    genome = small_genome().validate()

    broken = genome.with_node(genome.node(2).replace(op="teleport"))

    with pytest.raises(InvalidGenomeError, match="unknown operation 'teleport'"):
        broken.validate()


def test_node_label_depends_on_output_role():
    """A node object keeps one label as the output and one as an inner node."""
    shared = Node(1, "conv", {"width": 4}, "relu")
    as_output = Genome((shared,), output=1)
    as_inner = Genome((shared, Node(2, "identity", inputs=(1,))), output=2)

    first = (as_output.canonical_hash(), as_inner.canonical_hash())
    fresh = (Genome((Node(1, "conv", {"width": 4}, "relu"),), output=1).canonical_hash(),
             Genome((Node(1, "conv", {"width": 4}, "relu"), Node(2, "identity", inputs=(1,))),
                    output=2).canonical_hash())

    assert first == fresh
    assert first[0] != first[1]


def test_with_node_bool_id_still_rejected():
    """True == 1 finds node 1, but a bool id is invalid, so the full check must run."""
    genome = small_genome().validate()

    changed = genome.with_node(genome.node(1).replace(id=True))

    with pytest.raises(InvalidGenomeError, match="node id True is invalid"):
        changed.validate()
