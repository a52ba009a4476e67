"""Values that genomes and nodes keep once computed: callers get copies, and equal-looking values
of another type are not mistaken for each other."""

import hashlib
import json
import pickle
import random

import pytest

from genomes import Genome, InvalidGenomeError, Node, infer_shapes
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
