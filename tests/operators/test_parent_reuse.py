"""Shortcuts that let a child reuse parent objects, and the limits that keep results unchanged."""

import numpy as np
import pytest

from genomes import Genome, Node, SearchSpace, infer_shapes
from genomes.zoo import SEEDS
from operators import CROSSOVERS, MUTATIONS, OPERATORS
from operators.base import equal_parent, pick, same_node

SPACE = SearchSpace((1, 8, 8), 10, widths=(4, 32), kernel_sizes=(1, 3), max_nodes=6, max_parameters=50_000)


def chain(widths: tuple[int, ...]) -> Genome:
    nodes = [Node(1, "conv", {"width": widths[0], "kernel": 3}, "relu")]
    nodes += [Node(i + 1, "conv", {"width": width, "kernel": 3}, "relu", inputs=(i,))
              for i, width in enumerate(widths[1:], start=1)]
    return Genome(tuple(nodes), output=len(widths), head="gap")


def json_copy(genome: Genome) -> Genome:
    return Genome.from_json(genome.to_json())


def test_crossover_rebuilding_parent_returns_parent():
    parent = chain((8, 16, 8))
    twin = json_copy(parent)
    expected_hash = json_copy(parent).canonical_hash()
    expected_plan = infer_shapes(json_copy(parent), SPACE.input_shape, SPACE.num_classes)

    variation = CROSSOVERS["aligned_crossover"]([parent, twin], np.random.default_rng(0), SPACE)

    assert variation.genome is parent
    assert variation.genome.canonical_hash() == expected_hash
    assert infer_shapes(variation.genome, SPACE.input_shape, SPACE.num_classes) == expected_plan


@pytest.mark.parametrize("name", sorted(CROSSOVERS))
def test_crossover_of_twins_gives_same_json(name):
    parent = chain((8, 16, 8))
    for seed in range(10):
        variation = CROSSOVERS[name]([parent, json_copy(parent)], np.random.default_rng(seed), SPACE)
        fresh = CROSSOVERS[name]([json_copy(parent), json_copy(parent)], np.random.default_rng(seed), SPACE)

        assert variation == fresh
        assert variation.genome.to_json() == fresh.genome.to_json()


def test_outside_parent_not_copied():
    """A crossover that rebuilds a parent outside the space retries, and reports the parent's problem."""
    parent = chain((8, 64, 8))
    assert SPACE.violation(parent) == "node 2: width 64 is outside (4, 32)"

    variation = CROSSOVERS["aligned_crossover"]([parent, json_copy(parent)], np.random.default_rng(0), SPACE)

    assert not variation.applied
    assert variation.reason == "no valid child in 10 attempts; last: node 2: width 64 is outside (4, 32)"


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_outside_parent_child_inside_or_none(name):
    outside = chain((8, 64, 8))
    other = chain((8, 16, 8))
    operator = OPERATORS[name]
    for seed in range(10):
        parents = [outside] if operator.arity == 1 else [outside, other if seed % 2 else json_copy(outside)]

        variation = operator(parents, np.random.default_rng(seed), SPACE)

        if variation.applied:
            assert SPACE.violation(variation.genome) is None
            assert SPACE.violation(json_copy(variation.genome)) is None


def test_equal_parent_skips_values_of_other_type():
    """8.0 == 8, but the JSON texts and hashes differ, so the parent must not stand in."""
    parent = Genome((Node(1, "linear", {"width": 8.0}),), output=1)
    candidate = Genome((Node(1, "linear", {"width": 8}),), output=1)
    assert parent == candidate

    assert equal_parent(candidate, [parent]) is candidate


@pytest.mark.parametrize("first, second", [
    (Node(1, "linear", {"width": 8}), Node(1, "linear", {"width": 8.0})),
    (Node(1, "linear", {"width": 1}), Node(1, "linear", {"width": True})),
    (Node(1, "dropout", {"percent": 0.0}), Node(1, "dropout", {"percent": -0.0})),
    (Node(1, "identity", inputs=(0,)), Node(1, "identity", inputs=(False,))),
])
def test_same_node_needs_same_types(first, second):
    assert first == second

    assert not same_node(first, second)


def test_same_node_accepts_equal_copies():
    node = Node(2, "conv", {"width": 8, "kernel": 3}, "relu", "concat", inputs=(0, 1))

    assert same_node(node, Node.from_dict(node.to_dict()))


def test_one_point_keeps_node_objects():
    a, b = chain((8, 16, 8)), chain((8, 16, 12))
    for seed in range(10):
        child = CROSSOVERS["one_point_crossover"]([a, b], np.random.default_rng(seed), SPACE).genome
        for node in child.nodes:
            originals = [parent.node(node.id) for parent in (a, b) if node.id in parent]
            if node in originals:
                assert any(node is original for original in originals)


@pytest.mark.parametrize("values", [(1, 3), (1, 2), (3, 5, 7), (10, 25, 50), tuple(range(4, 129))])
def test_index_draw_matches_rng_choice(values):
    """SearchSpace.sample_params draws by index, which must give rng.choice's value and state."""
    for seed in range(200):
        by_choice, by_index = np.random.default_rng(seed), np.random.default_rng(seed)

        assert int(by_choice.choice(values)) == pick(by_index, values)
        assert by_choice.bit_generator.state == by_index.bit_generator.state


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_reused_parent_same_children(name):
    """Parents that store plans and checks from earlier calls give the children of fresh parents."""
    shared = SEEDS["small_cnn"].build(SPACE.input_shape, SPACE.num_classes)
    for seed in range(15):
        reused = MUTATIONS[name]([shared], np.random.default_rng(seed), SPACE)
        fresh = MUTATIONS[name]([json_copy(shared)], np.random.default_rng(seed), SPACE)

        assert reused == fresh
        if reused.applied:
            assert reused.genome.to_json() == fresh.genome.to_json()
            assert reused.genome.canonical_hash() == json_copy(fresh.genome).canonical_hash()
            shared = reused.genome
