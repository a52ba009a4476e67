"""Parameter and FLOP counts from the genome alone match the decoded network.

Parameters are compared with ``sum(p.numel())`` of the decoded module. The ``matmul`` FLOPs of
the convention in ``genomes.ops`` are compared with ``torch.utils.flop_counter.FlopCounterMode``
per sample. FlopCounterMode counts no
elementwise work and, on CPU, no attention products, so those kinds are checked from formulas.
"""

import pytest
import strategies
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from genomes import Genome, Node, ShapeError, count_flops, count_parameters, decode, describe, infer_shapes, zoo

INPUT_SHAPES = [(40,), (1, 40), (1, 8, 8), (3, 16, 16)]
NUM_CLASSES = 10


def fits(genome: Genome, input_shape) -> bool:
    try:
        infer_shapes(genome, input_shape, NUM_CLASSES)
    except ShapeError:
        return False
    return True


SEED_CASES = [
    pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
    for name in sorted(zoo.SEEDS)
    for shape in INPUT_SHAPES
    if fits(zoo.build_seed(name, shape, NUM_CLASSES), shape)
]


def measured_parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def matmul_flops(genome: Genome, input_shape, num_classes: int = NUM_CLASSES) -> int:
    return infer_shapes(genome, input_shape, num_classes).flop_count.matmul


def measured_flops(network: torch.nn.Module, input_shape) -> int:
    # Training mode, because in eval mode nn.MultiheadAttention takes a fused fast path that
    # FlopCounterMode does not count. A batch of two lets batch norm run; halve the total.
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network.train()(torch.randn(2, *input_shape))
    return counter.get_total_flops() // 2


def test_every_seed_fits_sequences_and_images():
    cases = {tuple(case.values) for case in SEED_CASES}

    for name in zoo.SEEDS:
        for shape in INPUT_SHAPES[1:]:
            assert (name, shape) in cases


@pytest.mark.parametrize("name", ["mnist1d_cnn", "small_cnn"])
def test_conv_seeds_reject_flat_input(name):
    with pytest.raises(ShapeError, match=r"node 1: operation 'conv' cannot take a flat \(40,\) input"):
        infer_shapes(zoo.build_seed(name, (40,), NUM_CLASSES), (40,), NUM_CLASSES)


@pytest.mark.parametrize("name, input_shape", SEED_CASES)
def test_seed_parameters_match_module(name, input_shape):
    genome = zoo.build_seed(name, input_shape, NUM_CLASSES)
    network = decode(genome, input_shape, NUM_CLASSES)

    assert count_parameters(genome, input_shape, NUM_CLASSES) == measured_parameters(network)


@pytest.mark.parametrize("name, input_shape", SEED_CASES)
def test_seed_flops_match_counter(name, input_shape):
    genome = zoo.build_seed(name, input_shape, NUM_CLASSES)
    network = decode(genome, input_shape, NUM_CLASSES)

    assert matmul_flops(genome, input_shape) == measured_flops(network, input_shape)


@pytest.mark.parametrize("name, expected", [("mnist1d_cnn", 5_210), ("mnist1d_mlp", 15_210)])
def test_mnist1d_parameter_counts(name, expected):
    genome = zoo.build_seed(name, (1, 40), 10)

    assert count_parameters(genome, (1, 40), 10) == expected
    assert measured_parameters(decode(genome, (1, 40), 10)) == expected


def test_describe_rows_add_up():
    genome = zoo.build_seed("small_cnn", (1, 40), 10)
    plan = infer_shapes(genome, (1, 40), 10)

    rows = describe(genome, (1, 40), 10)

    assert [row["id"] for row in rows] == [1, 2, 3, 4]
    assert sum(row["parameters"] for row in rows) + plan.head_parameters == plan.parameters
    assert sum(row["flops"] for row in rows) + plan.head_flops == plan.flops


# -- merges that need projections and resampling -----------------------------------------------


def two_branch_genome(first: Node, second: Node, merge: str) -> Genome:
    return Genome((first, second, Node(3, "identity", merge=merge, inputs=(1, 2))), output=3)


MERGE_CASES = [
    pytest.param((30,), Node(1, "linear", {"width": 4}), Node(2, "linear", {"width": 9}), "add",
                 id="flat projection"),
    pytest.param((2, 40), Node(1, "conv", {"width": 4}), Node(2, "conv", {"width": 6, "stride": 2}), "add",
                 id="sequence resample and projection"),
    pytest.param((2, 40), Node(1, "conv", {"width": 4}), Node(2, "maxpool", {"kernel": 3}), "concat",
                 id="sequence resample"),
    pytest.param((3, 12, 12), Node(1, "conv", {"width": 4}), Node(2, "avgpool", {}), "add",
                 id="image resample and projection"),
    pytest.param((3, 12, 12), Node(1, "conv", {"width": 5, "stride": 2}), Node(2, "linear", {"width": 7}), "add",
                 id="mixed rank projection"),
    pytest.param((3, 12, 12), Node(1, "conv", {"width": 5, "stride": 2}), Node(2, "linear", {"width": 7}), "concat",
                 id="mixed rank concat"),
]


@pytest.mark.parametrize("input_shape, first, second, merge", MERGE_CASES)
def test_merge_costs_match_module(input_shape, first, second, merge):
    genome = two_branch_genome(first.replace(id=1), second.replace(id=2), merge)
    network = decode(genome, input_shape, 3)

    assert count_parameters(genome, input_shape, 3) == measured_parameters(network)
    assert matmul_flops(genome, input_shape, 3) == measured_flops(network, input_shape)


def test_projection_counted_once_per_input():
    genome = two_branch_genome(Node(1, "linear", {"width": 4}), Node(2, "linear", {"width": 9}), "add")
    plan = infer_shapes(genome, (30,), 3)
    first, second = plan.nodes[3].inputs

    assert first.project_to == 9
    assert second.project_to is None
    assert plan.nodes[3].parameters == 4 * 9
    assert plan.nodes[3].flop_count.matmul == 2 * 4 * 9
    assert plan.nodes[3].flop_count.elementwise == 9


# -- random genomes ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_genome_costs_match_module(data):
    input_shape = data.draw(st.sampled_from([(40,), (1, 40), (2, 9, 9)]), label="input_shape")
    genome = data.draw(strategies.genomes(input_shape, 3, max_nodes=6), label="genome")
    network = decode(genome, input_shape, 3)

    assert count_parameters(genome, input_shape, 3) == measured_parameters(network)
    assert matmul_flops(genome, input_shape, 3) == measured_flops(network, input_shape)
