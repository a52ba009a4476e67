"""decode: output shape, accepted input layouts, dead nodes, deterministic initialisation."""

import math

import pytest
import strategies
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genomes import Genome, InvalidGenomeError, Node, ShapeError, count_parameters, decode, zoo

INPUT_SHAPES = [(40,), (1, 40), (1, 8, 8), (3, 16, 16)]

# The seeds with convolutions, pooling or attention need a sequence or image input.
FLAT_ONLY_SEEDS = ("mnist1d_mlp", "small_mlp", "linear")
SEED_CASES = [
    pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
    for name in sorted(zoo.SEEDS)
    for shape in INPUT_SHAPES
    if len(shape) > 1 or name in FLAT_ONLY_SEEDS
]


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("name, input_shape", SEED_CASES)
def test_seed_output_shape(name, input_shape, batch_size):
    network = decode(zoo.build_seed(name, input_shape, 7), input_shape, 7)
    shaped = torch.randn(batch_size, *input_shape)
    flat = shaped.reshape(batch_size, math.prod(input_shape))

    assert network(shaped).shape == (batch_size, 7)
    assert network(flat).shape == (batch_size, 7)


@pytest.mark.parametrize("name, input_shape", SEED_CASES)
def test_flat_and_shaped_input_agree(name, input_shape):
    network = decode(zoo.build_seed(name, input_shape, 7), input_shape, 7).eval()
    shaped = torch.randn(3, *input_shape)

    with torch.no_grad():
        from_shaped = network(shaped)
        from_flat = network(shaped.reshape(3, -1))

    assert torch.equal(from_shaped, from_flat)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_genome_output_shape(data):
    input_shape = data.draw(st.sampled_from([(40,), (1, 40), (2, 9, 9)]), label="input_shape")
    genome = data.draw(strategies.genomes(input_shape, 4, max_nodes=6), label="genome")
    batch_size = data.draw(st.sampled_from([1, 5]), label="batch_size")
    # Eval mode: in training mode PyTorch rejects batch norm over a single value per channel.
    network = decode(genome, input_shape, 4).eval()
    shaped = torch.randn(batch_size, *input_shape)

    with torch.no_grad():
        from_shaped = network(shaped)
        from_flat = network(shaped.reshape(batch_size, -1))

    assert from_shaped.shape == (batch_size, 4)
    assert from_flat.shape == (batch_size, 4)


@settings(max_examples=50, deadline=None)
@given(strategies.genomes((2, 12), 3, max_nodes=5))
def test_every_parameter_gets_gradient(genome):
    network = decode(genome, (2, 12), 3).train()

    network(torch.randn(4, 2, 12)).sum().backward()

    for name, parameter in network.named_parameters():
        assert parameter.grad is not None, name


# -- dead nodes ----------------------------------------------------------------------------------


def genome_with_dead_branch() -> Genome:
    return Genome(
        (
            Node(1, "conv", {"width": 4}, "relu", inputs=(0,)),
            Node(2, "conv", {"width": 16, "kernel": 5}, "relu", inputs=(0, 1)),
            Node(3, "linear", {"width": 32}, inputs=(2,)),
            Node(4, "maxpool", {}, inputs=(1,)),
        ),
        output=4,
    )


def test_dead_nodes_not_built():
    genome = genome_with_dead_branch()

    network = decode(genome, (1, 40), 10)

    assert sorted(network.cells) == ["1", "4"]
    assert not any(name.startswith(("cells.2.", "cells.3.")) for name, _ in network.named_parameters())


def test_dead_nodes_add_no_parameters():
    genome = genome_with_dead_branch()
    live_only = genome.pruned()

    network = decode(genome, (1, 40), 10)

    assert len(live_only) == 2
    assert sum(p.numel() for p in network.parameters()) == count_parameters(live_only, (1, 40), 10)
    assert sum(p.numel() for p in network.parameters()) == sum(
        p.numel() for p in decode(live_only, (1, 40), 10).parameters())


def test_dead_node_that_does_not_fit_is_ignored():
    genome = genome_with_dead_branch().with_node(Node(5, "conv", {"width": 2}, inputs=(3,)))

    network = decode(genome, (1, 40), 10)

    assert sorted(network.cells) == ["1", "4"]


# -- determinism -------------------------------------------------------------------------------


def state_after_seed(genome: Genome, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return decode(genome, (1, 40), 10).state_dict()


@pytest.mark.parametrize("name", sorted(zoo.SEEDS))
def test_same_seed_same_weights(name):
    genome = zoo.build_seed(name, (1, 40), 10)

    first = state_after_seed(genome, 3)
    second = state_after_seed(genome, 3)

    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("name", sorted(zoo.SEEDS))
def test_other_seed_other_weights(name):
    genome = zoo.build_seed(name, (1, 40), 10)

    first = state_after_seed(genome, 3)
    second = state_after_seed(genome, 4)

    assert not torch.equal(first["head.classifier.weight"], second["head.classifier.weight"])


def test_node_order_keeps_weights():
    """Modules are built in topological order with ties broken by id, whatever the node order."""
    genome = genome_with_dead_branch()
    reordered = genome.replace_nodes(reversed(genome.nodes))
    batch = torch.randn(2, 1, 40)

    torch.manual_seed(0)
    first = decode(genome, (1, 40), 10)
    torch.manual_seed(0)
    second = decode(reordered, (1, 40), 10)

    with torch.no_grad():
        assert torch.equal(first(batch), second(batch))


# -- errors --------------------------------------------------------------------------------------


def test_decode_invalid_genome_raises():
    genome = Genome((Node(1, "identity", inputs=(0, 5)),), output=1)

    with pytest.raises(InvalidGenomeError, match=r"edge 5 -> 1 is dangling"):
        decode(genome, (1, 40), 10)


def test_decode_shape_error_names_node():
    genome = Genome((Node(1, "linear", {"width": 3}, inputs=(0,)), Node(2, "maxpool", {}, inputs=(1,))), 2)

    with pytest.raises(ShapeError, match=r"node 2: operation 'maxpool' cannot take a flat \(3,\) input"):
        decode(genome, (1, 40), 10)
