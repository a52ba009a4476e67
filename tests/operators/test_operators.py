import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genomes import INPUT, Genome, Node, SearchSpace, decode
from genomes.zoo import SEEDS
from operators import CROSSOVERS, MUTATIONS, OPERATORS, OnePointCrossover, get_operator

SHAPES = {"flat": (20,), "sequence": (2, 24), "image": (3, 12, 12)}


def space_for(shape):
    return SearchSpace(shape, 5, widths=(2, 24), max_nodes=8, max_parameters=200_000)


def seeds_in(space):
    genomes = [seed.build(space.input_shape, space.num_classes) for seed in SEEDS.values()]
    return [g for g in genomes if space.contains(g)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SHAPES)), seed=st.integers(0, 2**32 - 1),
       chain=st.lists(st.sampled_from(sorted(OPERATORS)), min_size=1, max_size=8))
def test_operator_chains_stay_valid(kind, seed, chain):
    space = space_for(SHAPES[kind])
    rng = np.random.default_rng(seed)
    pool = seeds_in(space)
    genome = pool[int(rng.integers(len(pool)))]
    for name in chain:
        operator = OPERATORS[name]
        parents = [genome] if operator.arity == 1 else [genome, pool[int(rng.integers(len(pool)))]]
        variation = operator(parents, rng, space)
        if not variation.applied:
            assert variation.reason
            continue
        genome = variation.genome
        assert space.violation(genome) is None
        pool.append(genome)
    network = decode(genome, space.input_shape, space.num_classes)
    output = network(torch.randn(3, *space.input_shape))
    assert output.shape == (3, space.num_classes)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_deterministic_for_rng_state(name):
    space = space_for(SHAPES["sequence"])
    pool = seeds_in(space)
    operator = OPERATORS[name]
    parents = pool[: operator.arity] if operator.arity == 2 else [pool[0]]
    first = operator(parents, np.random.default_rng(7), space)
    second = operator(parents, np.random.default_rng(7), space)
    assert first == second


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_leaves_parent_unchanged(name):
    space = space_for(SHAPES["image"])
    parent = SEEDS["small_cnn"].build(space.input_shape, space.num_classes)
    before = parent.to_json()
    OPERATORS[name]([parent], np.random.default_rng(1), space)
    assert parent.to_json() == before


def single_node(op="identity"):
    return Genome((Node(1, op, {"width": 4} if op == "linear" else {}, "relu", inputs=(INPUT,)),), output=1)


@pytest.mark.parametrize("parents", [
    (single_node(), single_node("linear")),
    (single_node("linear"), single_node()),
])
def test_crossover_with_one_gene_reports_instead_of_raising(parents):
    space = space_for(SHAPES["flat"])
    crossover = OnePointCrossover()
    for seed in range(20):
        variation = crossover(list(parents), np.random.default_rng(seed), space)
        assert not variation.applied
        assert "at least 2" in variation.reason


def test_crossover_with_empty_genome_reports_instead_of_raising():
    space = space_for(SHAPES["flat"])
    empty = Genome((), output=1)
    variation = OnePointCrossover()([empty, single_node()], np.random.default_rng(0), space)
    assert not variation.applied


def test_crossover_takes_prefix_of_first_and_suffix_of_second():
    space = space_for(SHAPES["sequence"])
    a = Genome(tuple(Node(i, "conv", {"width": 4, "kernel": 3}, "relu", inputs=(i - 1,)) for i in range(1, 4)), 3)
    b = Genome(tuple(Node(i, "conv", {"width": 8, "kernel": 1}, "tanh", inputs=(i - 1,)) for i in range(1, 4)), 3)
    seen = set()
    for seed in range(30):
        variation = OnePointCrossover()([a, b], np.random.default_rng(seed), space)
        assert variation.applied
        child = variation.genome
        order = child.topological_order()
        ops = [child.node(n).activation for n in order]
        # A prefix of relu nodes (from a), then at least one tanh node (from b).
        assert ops[-1] == "tanh"
        assert ops == sorted(ops, key=lambda act: act != "relu")
        seen.add(tuple(ops))
    assert len(seen) > 2


def test_remove_node_on_single_node_does_not_apply():
    space = space_for(SHAPES["flat"])
    variation = MUTATIONS["remove_node"]([single_node()], np.random.default_rng(0), space)
    assert not variation.applied
    assert "single node" in variation.reason


def test_insert_node_respects_max_nodes():
    space = SearchSpace((20,), 5, max_nodes=1)
    variation = MUTATIONS["insert_node"]([single_node()], np.random.default_rng(0), space)
    assert not variation.applied
    assert "max_nodes" in variation.reason


def test_add_skip_keeps_graph_acyclic():
    space = space_for(SHAPES["sequence"])
    genome = SEEDS["small_cnn"].build(space.input_shape, space.num_classes)
    assert space.contains(genome)
    rng = np.random.default_rng(3)
    for _ in range(5):
        variation = MUTATIONS["add_skip"]([genome], rng, space)
        assert variation.applied
        genome = variation.genome
        assert len(genome.topological_order()) == len(genome)
    assert len(genome.edges()) == 4 + 5


def test_change_width_stays_in_range():
    space = SearchSpace((20,), 5, widths=(4, 8))
    genome = Genome((Node(1, "linear", {"width": 8}, "relu"),), output=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        variation = MUTATIONS["change_width"]([genome], rng, space)
        assert variation.applied
        width = variation.genome.node(1).resolved_params()["width"]
        assert 4 <= width <= 8
        assert width != 8


def test_wrong_arity_and_rng_raise():
    space = space_for(SHAPES["flat"])
    with pytest.raises(ValueError, match="takes 2 parent"):
        CROSSOVERS["one_point_crossover"]([single_node()], np.random.default_rng(0), space)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        MUTATIONS["insert_node"]([single_node()], 42, space)


def test_unknown_operator_lists_known():
    with pytest.raises(LookupError, match="known operators"):
        get_operator("teleport")
