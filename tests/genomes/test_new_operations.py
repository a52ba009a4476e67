"""The operations and activations added for full depth: shapes per input kind, rejections, FLOPs."""

import math

import pytest
import strategies
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from genomes import ACTIVATIONS, Genome, InvalidGenomeError, Node, ShapeError, decode, infer_shapes
from genomes.ops import attention_product_flops
from decoded_networks import node_output_shapes


def single(op, params=None, activation="identity"):
    return Genome((Node(1, op, params or {}, activation, inputs=(0,)),), 1)


@pytest.mark.parametrize("input_shape, op, params, expected", [
    ((2, 20), "sepconv", {"width": 6}, (6, 20)),
    ((3, 9, 9), "sepconv", {"width": 4, "kernel": 5, "stride": 2}, (4, 5, 5)),
    ((4, 20), "conv", {"width": 6, "groups": 2}, (6, 20)),
    ((4, 20), "conv", {"width": 4, "groups": 4}, (4, 20)),
    ((2, 20), "conv", {"width": 3, "kernel": 3, "dilation": 2}, (3, 20)),
    ((2, 9, 9), "conv", {"width": 3, "kernel": 3, "dilation": 3, "padding": 0}, (3, 3, 3)),
    ((40,), "layernorm", {}, (40,)),
    ((6, 10), "layernorm", {}, (6, 10)),
    ((6, 4, 5), "layernorm", {}, (6, 4, 5)),
    ((8, 10), "attention", {"heads": 2}, (8, 10)),
    ((8, 3, 4), "attention", {"heads": 4}, (8, 3, 4)),
    ((40,), "dropout", {"percent": 50}, (40,)),
    ((2, 3, 4), "dropout", {}, (2, 3, 4)),
])
def test_new_operation_shape_matches_forward(input_shape, op, params, expected):
    genome = single(op, params, "relu")

    plan = infer_shapes(genome, input_shape, 4)
    forward = node_output_shapes(decode(genome, input_shape, 4).eval(), torch.randn(3, *input_shape))

    assert plan.nodes[1].output_shape == expected
    assert forward[1] == (3, *expected)


@pytest.mark.parametrize("op, params, input_shape, match", [
    ("attention", {}, (40,), r"node 1: operation 'attention' cannot take a flat \(40,\) input"),
    ("sepconv", {"width": 4}, (40,), r"node 1: operation 'sepconv' cannot take a flat"),
    ("attention", {"heads": 3}, (8, 10), r"node 1: 'attention' heads 3 does not divide the 8 channels"),
    ("conv", {"width": 6, "groups": 3}, (4, 10), r"node 1: 'conv' groups 3 does not divide the 4 input channels"),
    ("conv", {"width": 3, "kernel": 3, "dilation": 6, "padding": 0}, (2, 10), r"node 1: 'conv' .*dilation 6"),
])
def test_new_operation_rejects_input_naming_node(op, params, input_shape, match):
    with pytest.raises(ShapeError, match=match):
        infer_shapes(single(op, params), input_shape, 3)


@pytest.mark.parametrize("op, params, match", [
    ("conv", {"width": 6, "groups": 4}, r"node 1: 'conv' width 6 is not divisible by groups 4"),
    ("dropout", {"percent": 95}, r"node 1: parameter 'percent' of 'dropout' must be <= 90"),
    ("conv", {"width": 4, "bias": 2}, r"node 1: parameter 'bias' of 'conv' must be <= 1"),
])
def test_new_operation_rejects_parameters(op, params, match):
    with pytest.raises(InvalidGenomeError, match=match):
        single(op, params).validate()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_decodes(activation):
    network = decode(single("identity", activation=activation), (3, 5), 2)

    assert network(torch.randn(2, 3, 5)).shape == (2, 2)


def test_attention_product_flops_value():
    # q = k = v of shape (1, 12, 64, 64): batch 1, 12 heads, 64 positions, head size 64.
    assert attention_product_flops(1, 12, 64, 64, 64) == 12_582_912


def test_depthwise_conv_flops_value():
    genome = single("conv", {"width": 24, "kernel": 3, "padding": 1, "groups": 24})
    plan = infer_shapes(genome, (24, 32, 32), 2)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        nn.Conv2d(24, 24, 3, padding=1, groups=24)(torch.randn(1, 24, 32, 32))

    assert plan.nodes[1].op_flops.matmul == 442_368
    assert plan.nodes[1].op_flops.matmul == 2 * 221_184
    assert counter.get_total_flops() == 442_368


def test_elementwise_flops_follow_convention():
    genome = Genome((
        Node(1, "conv", {"width": 4}, "relu", inputs=(0,)),
        Node(2, "batchnorm", {}, "identity", inputs=(1,)),
        Node(3, "identity", {}, "sigmoid", "add", inputs=(1, 2, 0)),
        Node(4, "maxpool", {"kernel": 2}, "identity", inputs=(3,)),
    ), 4, "gap")
    plan = infer_shapes(genome, (4, 10), 3)

    assert plan.nodes[1].activation_flops.elementwise == 40
    assert plan.nodes[2].op_flops.elementwise == 2 * 40
    assert plan.nodes[3].merge_flops.elementwise == 2 * 40
    assert plan.nodes[3].activation_flops.elementwise == 40
    assert plan.nodes[4].op_flops.elementwise == 2 * 20
    assert plan.head_flop_count.elementwise == 4 * 5


def test_attention_flops_split_by_kind():
    plan = infer_shapes(single("attention", {"heads": 2}), (8, 10), 3)
    count = plan.nodes[1].op_flops

    assert count.matmul == 2 * 10 * 8 * 24 + 2 * 10 * 8 * 8
    assert count.attention == 2 * 2 * 2 * 10 * 10 * 4
    assert count.elementwise == 2 * 10 * 10


@pytest.mark.parametrize("op, params, input_shape", [
    ("conv", {"width": 3, "kernel": 3, "identity_init": 1}, (3, 12)),
    ("conv", {"width": 3, "kernel": 5, "identity_init": 1}, (3, 6, 6)),
    ("linear", {"width": 7, "identity_init": 1}, (7,)),
    ("sepconv", {"width": 4, "kernel": 3, "identity_init": 1}, (4, 9)),
])
def test_identity_init_passes_input_through(op, params, input_shape):
    network = decode(single(op, params), input_shape, 2)
    batch = torch.randn(3, *input_shape)
    cell = network.cells["1"]

    with torch.no_grad():
        assert torch.allclose(cell([batch]), batch, atol=1e-6)


def test_dead_nodes_pruned_hidden_chain_runs():
    # Node 3 reads only hidden node 2, which reads hidden node 1: all run. Nodes 4 and 5 are dead.
    genome = Genome((
        Node(1, "conv", {"width": 4}, "relu", inputs=(0,)),
        Node(2, "conv", {"width": 4}, "relu", inputs=(1,)),
        Node(3, "conv", {"width": 4}, "relu", inputs=(2,)),
        Node(4, "linear", {"width": 99}, "relu", inputs=(1,)),
        Node(5, "conv", {"width": 50}, "relu", inputs=(4, 2)),
    ), 3)
    plan = infer_shapes(genome, (2, 10), 3)
    network = decode(genome, (2, 10), 3)
    shapes = node_output_shapes(network, torch.randn(2, 2, 10))

    assert plan.order == (1, 2, 3)
    assert set(shapes) == {1, 2, 3}
    assert plan.parameters == sum(p.numel() for p in network.parameters())


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_genome_with_new_operations_decodes(data):
    input_shape = data.draw(st.sampled_from([(12,), (4, 10), (4, 6, 6)]), label="input_shape")
    genome = data.draw(strategies.genomes(input_shape, 3, max_nodes=6,
                                          operations=("sepconv", "conv", "layernorm", "attention", "dropout")),
                       label="genome")
    network = decode(genome, input_shape, 3).eval()

    with torch.no_grad():
        output = network(torch.randn(2, *input_shape))

    assert output.shape == (2, 3)
    assert math.isfinite(output.sum().item())
