"""SearchSpace: contains/violation for each limit, and its own input checks."""

import numpy as np
import pytest
import strategies
from hypothesis import given, settings

from genomes import Genome, GenomeError, Node, SearchSpace, count_flops, count_parameters, zoo

SHAPE = (1, 40)


def conv_genome(width: int = 8, kernel: int = 3, nodes: int = 1) -> Genome:
    convs = [Node(1, "conv", {"width": width, "kernel": kernel}, "relu", inputs=(0,))]
    convs += [Node(i, "conv", {"width": width, "kernel": kernel}, "relu", inputs=(i - 1,)) for i in range(2, nodes + 1)]
    return Genome(tuple(convs), output=nodes)


def test_default_space_contains_seeds():
    space = SearchSpace(SHAPE, 10)

    for name in zoo.SEEDS:
        genome = zoo.build_seed(name, SHAPE, 10)
        assert space.violation(genome) is None, name
        assert space.contains(genome), name


@pytest.mark.parametrize("width, inside", [(3, False), (4, True), (64, True), (128, True), (129, False)])
def test_width_limits_inclusive(width, inside):
    space = SearchSpace(SHAPE, 10, widths=(4, 128))

    assert space.contains(conv_genome(width=width)) is inside


def test_width_violation_names_node():
    space = SearchSpace(SHAPE, 10, widths=(4, 16))
    genome = conv_genome(width=8).with_node(Node(2, "linear", {"width": 17}, inputs=(1,)))
    genome = genome.replace_nodes(genome.nodes, output=2)

    assert space.violation(genome) == "node 2: width 17 is outside (4, 16)"


@pytest.mark.parametrize("kernel, inside", [(1, True), (3, True), (5, True), (2, False), (7, False)])
def test_conv_kernel_must_be_listed(kernel, inside):
    space = SearchSpace(SHAPE, 10, kernel_sizes=(1, 3, 5))

    assert space.contains(conv_genome(kernel=kernel)) is inside


def test_kernel_violation_names_node():
    space = SearchSpace(SHAPE, 10, kernel_sizes=(1, 3))

    assert space.violation(conv_genome(kernel=5)) == "node 1: kernel 5 is not in [1, 3]"


@pytest.mark.parametrize("nodes, inside", [(1, True), (3, True), (4, False)])
def test_node_count_limit(nodes, inside):
    space = SearchSpace(SHAPE, 10, max_nodes=3)

    assert space.contains(conv_genome(nodes=nodes)) is inside


def test_node_count_includes_dead_nodes():
    space = SearchSpace(SHAPE, 10, max_nodes=3)
    genome = conv_genome(nodes=3).with_node(Node(4, "identity", inputs=(0,)))

    assert space.violation(genome) == "4 nodes exceed max_nodes 3"


def test_parameter_limit_inclusive():
    genome = zoo.build_seed("mnist1d_cnn", SHAPE, 10)
    parameters = count_parameters(genome, SHAPE, 10)

    at_limit = SearchSpace(SHAPE, 10, max_parameters=parameters)
    below = SearchSpace(SHAPE, 10, max_parameters=parameters - 1)
    unlimited = SearchSpace(SHAPE, 10, max_parameters=None)

    assert parameters == 5_210
    assert at_limit.contains(genome)
    assert below.violation(genome) == "5210 parameters exceed max_parameters 5209"
    assert unlimited.contains(genome)


def test_flop_limit_inclusive():
    genome = zoo.build_seed("mnist1d_cnn", SHAPE, 10)
    flops = count_flops(genome, SHAPE, 10)

    at_limit = SearchSpace(SHAPE, 10, max_flops=flops)
    below = SearchSpace(SHAPE, 10, max_flops=flops - 1)

    assert at_limit.contains(genome)
    assert below.violation(genome) == f"{flops} FLOPs exceed max_flops {flops - 1}"


@pytest.mark.parametrize(
    "space_options, genome, message",
    [
        ({"operations": ("conv", "identity")}, Genome((Node(1, "maxpool", inputs=(0,)),), 1),
         "node 1: operation 'maxpool' is not in the space"),
        ({"activations": ("relu",)}, Genome((Node(1, "identity", activation="tanh", inputs=(0,)),), 1),
         "node 1: activation 'tanh' is not in the space"),
        ({"heads": ("gap",)}, Genome((Node(1, "identity", inputs=(0,)),), 1, "flatten"),
         "head 'flatten' is not in the space's heads ['gap']"),
    ],
    ids=["operation", "activation", "head"],
)
def test_choice_outside_space(space_options, genome, message):
    space = SearchSpace(SHAPE, 10, **space_options)

    assert space.violation(genome) == message
    assert not space.contains(genome)


def test_violation_reports_shape_error():
    space = SearchSpace((40,), 10)

    violation = space.violation(conv_genome())

    assert violation is not None
    assert violation.startswith("node 1: operation 'conv' cannot take a flat (40,) input")


def test_violation_reports_invalid_genome():
    space = SearchSpace(SHAPE, 10)
    genome = Genome((Node(1, "identity", inputs=(0, 3)),), 1)

    assert space.violation(genome) == "edge 3 -> 1 is dangling: node 3 does not exist"


@pytest.mark.parametrize(
    "options, match",
    [
        ({"operations": ("conv", "deconv")}, r"operations \['deconv'\] invalid"),
        ({"operations": ()}, r"operations \[\] invalid"),
        ({"activations": ("swish",)}, r"activations \['swish'\] invalid"),
        ({"widths": (0, 8)}, r"widths \(0, 8\) invalid"),
        ({"widths": (9, 8)}, r"widths \(9, 8\) invalid"),
        ({"kernel_sizes": (0, 3)}, r"kernel_sizes \(0, 3\) invalid"),
        ({"strides": ()}, r"strides \(\) invalid"),
        ({"max_nodes": 0}, r"max_nodes 0 invalid"),
        ({"input_shape": (1, 2, 3, 4)}, r"input shape \(1, 2, 3, 4\) is not supported"),
    ],
)
def test_bad_space_rejected(options, match):
    arguments = {"input_shape": SHAPE, "num_classes": 10, **options}

    with pytest.raises(GenomeError, match=match):
        SearchSpace(**arguments)


def test_space_dict_round_trip():
    space = SearchSpace(SHAPE, 10, widths=(2, 9), max_flops=10_000, strides=(1, 3))

    assert SearchSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize("op", ["conv", "maxpool", "avgpool", "linear", "batchnorm", "identity"])
def test_sampled_params_inside_space(op):
    space = SearchSpace((2, 64), 10, widths=(3, 40), kernel_sizes=(1, 3, 5), strides=(1, 2))
    rng = np.random.default_rng(0)

    for _ in range(50):
        node = Node(1, op, space.sample_params(op, rng), inputs=(0,))
        resolved = node.resolved_params()
        if "width" in resolved:
            assert 3 <= resolved["width"] <= 40
        if op == "conv":
            assert resolved["kernel"] in (1, 3, 5)
        if op in ("maxpool", "avgpool"):
            assert resolved["kernel"] in space.pool_sizes
        if "stride" in resolved:
            assert resolved["stride"] in (1, 2)
        assert space.violation(Genome((node,), 1)) is None


@settings(max_examples=100, deadline=None)
@given(strategies.genomes_in_space(SearchSpace(SHAPE, 10, widths=(4, 16), max_nodes=6, max_flops=500_000)))
def test_strategy_stays_inside_space(genome):
    space = SearchSpace(SHAPE, 10, widths=(4, 16), max_nodes=6, max_flops=500_000)

    assert space.contains(genome)
    assert len(genome) <= 6


@pytest.mark.parametrize("node, message", [
    (Node(1, "maxpool", {"kernel": 5}), "pooling kernel 5"),
    (Node(1, "conv", {"width": 4, "kernel": 3, "stride": 3}), "stride 3"),
    (Node(1, "avgpool", {"kernel": 2, "stride": 3}), "stride 3"),
])
def test_pool_kernel_and_stride_limits(node, message):
    space = SearchSpace((2, 64), 10, strides=(1, 2), pool_sizes=(2, 3))
    assert message in space.violation(Genome((node,), 1))
