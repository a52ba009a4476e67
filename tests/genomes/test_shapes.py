"""Shape inference: infer_shapes predicts every node's shape before any module exists, the decoded
network produces exactly those shapes, and a node that cannot take its input is named.
"""

import math

import pytest
import torch

from genomes import Genome, Node, ShapeError, decode, infer_shapes
from decoded_networks import count_module_inits, node_output_shapes

IMAGE = (8, 15, 15)


def pooled_branches(merge: str) -> Genome:
    """Node 1 max-pools 15x15 to 8x8, node 2 average-pools it to 7x7, node 3 merges both."""
    return Genome(
        (
            Node(1, "maxpool", {"kernel": 3, "stride": 2, "padding": 1}, inputs=(0,)),
            Node(2, "avgpool", {"kernel": 2, "stride": 2}, inputs=(0,)),
            Node(3, "identity", {}, "identity", merge, inputs=(1, 2)),
        ),
        output=3,
    )


def pooling_chain(count: int, first_id: int = 1) -> Genome:
    ids = range(first_id, first_id + count)
    nodes = [Node(nid, "maxpool", {"kernel": 2}, inputs=(nid - 1 if nid > first_id else 0,)) for nid in ids]
    return Genome(tuple(nodes), output=ids[-1])


# -- merges of differently sized branches ------------------------------------------------------


@pytest.mark.parametrize("merge, merged", [("concat", (16, 7, 7)), ("add", (8, 7, 7))])
def test_merge_shape_predicted(merge, merged, monkeypatch):
    genome = pooled_branches(merge)

    with count_module_inits(monkeypatch) as created:
        plan = infer_shapes(genome, IMAGE, 10)

    assert created == []
    assert plan.nodes[1].output_shape == (8, 8, 8)
    assert plan.nodes[2].output_shape == (8, 7, 7)
    assert plan.nodes[3].merged_shape == merged
    assert plan.nodes[3].output_shape == merged
    assert plan.head_features == math.prod(merged)


@pytest.mark.parametrize("merge", ["concat", "add"])
def test_merge_resamples_larger_branch(merge):
    plan = infer_shapes(pooled_branches(merge), IMAGE, 10)
    first, second = plan.nodes[3].inputs

    assert first.source == 1
    assert first.resample_to == (7, 7)
    assert second.resample_to is None
    assert first.project_to is None
    assert second.project_to is None


@pytest.mark.parametrize("merge, merged", [("concat", (16, 7, 7)), ("add", (8, 7, 7))])
@pytest.mark.parametrize("batch_size", [1, 5])
def test_merge_shape_matches_forward(merge, merged, batch_size):
    network = decode(pooled_branches(merge), IMAGE, 10)
    batch = torch.randn(batch_size, *IMAGE)

    shapes = node_output_shapes(network, batch)

    assert shapes[1] == (batch_size, 8, 8, 8)
    assert shapes[2] == (batch_size, 8, 7, 7)
    assert shapes[3] == (batch_size, *merged)
    assert network(batch).shape == (batch_size, 10)


@pytest.mark.parametrize(
    "input_shape, shapes, merge, merged",
    [
        ((1, 40), [(4, 40), (6, 20)], "concat", (10, 20)),
        ((1, 40), [(4, 40), (6, 20)], "add", (6, 20)),
        ((2, 12, 12), [(4, 12, 12), (6, 6, 6)], "add", (6, 6, 6)),
        ((1, 40), [(4, 40), (7,)], "concat", (167,)),
        ((1, 40), [(4, 40), (7,)], "add", (160,)),
        ((30,), [(4,), (7,)], "add", (7,)),
        ((30,), [(4,), (7,)], "concat", (11,)),
    ],
    ids=["sequence concat", "sequence add", "image add", "mixed rank concat", "mixed rank add",
         "flat add", "flat concat"],
)
def test_merge_rule_matches_forward(input_shape, shapes, merge, merged):
    """Branch 1 keeps the input size, branch 2 halves it (or is a linear layer for flat shapes)."""
    if len(input_shape) == 1:
        first = Node(1, "linear", {"width": shapes[0][0]}, inputs=(0,))
    else:
        first = Node(1, "conv", {"width": shapes[0][0]}, inputs=(0,))
    if len(shapes[1]) == 1:
        second = Node(2, "linear", {"width": shapes[1][0]}, inputs=(0,))
    else:
        second = Node(2, "conv", {"width": shapes[1][0], "stride": 2}, inputs=(0,))
    genome = Genome((first, second, Node(3, "identity", merge=merge, inputs=(1, 2))), output=3)

    plan = infer_shapes(genome, input_shape, 3)
    forward = node_output_shapes(decode(genome, input_shape, 3), torch.randn(2, *input_shape))

    assert plan.nodes[1].output_shape == shapes[0]
    assert plan.nodes[2].output_shape == shapes[1]
    assert plan.nodes[3].merged_shape == merged
    assert forward[3] == (2, *merged)


# -- single operations against torch -----------------------------------------------------------


@pytest.mark.parametrize(
    "input_shape, op, params, expected",
    [
        ((1, 40), "conv", {"width": 25, "kernel": 5, "stride": 2, "padding": 1}, (25, 19)),
        ((1, 40), "conv", {"width": 3, "kernel": 4}, (3, 41)),
        ((3, 16, 16), "conv", {"width": 5, "kernel": 3, "stride": 2}, (5, 8, 8)),
        ((3, 16, 16), "conv", {"width": 5, "kernel": 5, "padding": 0}, (5, 12, 12)),
        ((2, 9), "maxpool", {}, (2, 4)),
        ((2, 9), "avgpool", {"kernel": 3, "stride": 1, "padding": 1}, (2, 9)),
        ((2, 9, 7), "maxpool", {"kernel": 2, "stride": 1, "padding": 1}, (2, 10, 8)),
        ((2, 9, 7), "avgpool", {"kernel": 5, "stride": 3}, (2, 2, 1)),
        ((40,), "linear", {"width": 6}, (6,)),
        ((2, 20), "linear", {"width": 6}, (6,)),
        ((2, 4, 5), "linear", {"width": 6}, (6,)),
        ((40,), "batchnorm", {}, (40,)),
        ((2, 20), "batchnorm", {}, (2, 20)),
        ((2, 4, 5), "batchnorm", {}, (2, 4, 5)),
        ((2, 4, 5), "identity", {}, (2, 4, 5)),
    ],
)
def test_operation_shape_matches_forward(input_shape, op, params, expected):
    genome = Genome((Node(1, op, params, "relu", inputs=(0,)),), output=1)

    plan = infer_shapes(genome, input_shape, 4)
    forward = node_output_shapes(decode(genome, input_shape, 4).eval(), torch.randn(3, *input_shape))

    assert plan.nodes[1].output_shape == expected
    assert forward[1] == (3, *expected)


# -- shapes a node cannot take -----------------------------------------------------------------


def test_five_poolings_reach_one_pixel():
    plan = infer_shapes(pooling_chain(5), (3, 32, 32), 10)

    assert plan.nodes[5].output_shape == (3, 1, 1)


@pytest.mark.parametrize("first_id", [1, 20])
def test_sixth_pooling_names_node(first_id):
    genome = pooling_chain(6, first_id)
    last = first_id + 5

    with pytest.raises(ShapeError, match=rf"node {last}: 'maxpool' .* reduces size 1 to 0"):
        infer_shapes(genome, (3, 32, 32), 10)


def test_sixth_pooling_fails_before_building(monkeypatch):
    genome = pooling_chain(6)

    with count_module_inits(monkeypatch) as created:
        with pytest.raises(ShapeError, match=r"node 6: 'maxpool'"):
            decode(genome, (3, 32, 32), 10)

    assert created == []


@pytest.mark.parametrize(
    "genome, input_shape, match",
    [
        (Genome((Node(1, "conv", {"width": 4}, inputs=(0,)),), 1), (40,),
         r"node 1: operation 'conv' cannot take a flat \(40,\) input"),
        (Genome((Node(1, "linear", {"width": 8}, inputs=(0,)), Node(2, "conv", {"width": 4}, inputs=(1,))), 2),
         (1, 40), r"node 2: operation 'conv' cannot take a flat \(8,\) input"),
        (Genome((Node(1, "maxpool", {}, inputs=(0,)),), 1), (40,),
         r"node 1: operation 'maxpool' cannot take a flat"),
        (Genome((Node(1, "avgpool", {}, inputs=(0,)),), 1), (40,),
         r"node 1: operation 'avgpool' cannot take a flat"),
    ],
    ids=["conv on input", "conv after linear", "maxpool", "avgpool"],
)
def test_spatial_op_on_flat_rejected(genome, input_shape, match):
    with pytest.raises(ShapeError, match=match):
        infer_shapes(genome, input_shape, 10)


@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
@pytest.mark.parametrize("kernel, padding", [(2, 2), (3, 2), (1, 1), (4, 3)])
def test_pool_padding_over_half_kernel_rejected(op, kernel, padding):
    genome = Genome((Node(1, "identity", inputs=(0,)),
                     Node(2, op, {"kernel": kernel, "padding": padding}, inputs=(1,))), 2)

    with pytest.raises(ShapeError, match=rf"node 2: '{op}' padding {padding} is more than half of kernel"):
        infer_shapes(genome, (2, 16), 10)


@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
@pytest.mark.parametrize("kernel, padding", [(2, 1), (3, 1), (4, 2)])
def test_pool_padding_of_half_kernel_runs(op, kernel, padding):
    genome = Genome((Node(1, op, {"kernel": kernel, "padding": padding}, inputs=(0,)),), 1)

    plan = infer_shapes(genome, (2, 16, 16), 10)
    forward = node_output_shapes(decode(genome, (2, 16, 16), 10), torch.randn(1, 2, 16, 16))

    assert forward[1] == (1, *plan.nodes[1].output_shape)


def test_dead_node_shape_ignored():
    genome = Genome((Node(1, "identity", inputs=(0,)), Node(2, "conv", {"width": 4}, inputs=(0,))), 1)

    plan = infer_shapes(genome, (40,), 10)

    assert plan.order == (1,)
    assert 2 not in plan.nodes


@pytest.mark.parametrize("input_shape", [(), (1, 2, 3, 4), (0, 40), (3, -1)])
def test_unsupported_input_shape(input_shape):
    genome = Genome((Node(1, "identity", inputs=(0,)),), 1)

    with pytest.raises(ShapeError, match=r"input shape .* is not supported"):
        infer_shapes(genome, input_shape, 10)


@pytest.mark.parametrize("num_classes", [0, -2, True, 2.0])
def test_bad_num_classes(num_classes):
    genome = Genome((Node(1, "identity", inputs=(0,)),), 1)

    with pytest.raises(ShapeError, match=r"num_classes must be a positive integer"):
        infer_shapes(genome, (40,), num_classes)
