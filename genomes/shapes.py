"""Shape inference, parameter count and FLOPs, from the genome alone.

The merge rule, applied whenever a node has several inputs whose shapes disagree:

1. Rank: if the inputs do not all have the same rank (for example a flat vector next to a
   sequence), every input is flattened to ``(F,)``.
2. Spatial size: sequence and image inputs are resampled to the smallest size among the inputs,
   axis by axis, with adaptive average pooling (no parameters).
3. Channels (features, for flat inputs): ``concat`` stacks them, so the merged tensor has the sum.
   ``add`` needs one count: every input with fewer channels than the largest is projected to it
   by a bias-free 1x1 convolution (a bias-free linear layer for flat inputs).

Parameters and FLOPs count the projections of step 3 and the classifier head. FLOPs follow the
convention in ``genomes.ops``: the projections are ``matmul`` FLOPs, and resampling (one per input
element), the ``add`` merge (``k - 1`` per element for ``k`` inputs), the activation and the global
average pooling of a ``gap`` head are ``elementwise`` FLOPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from genomes.errors import ShapeError
from genomes.genome import INPUT, Genome, Node
from genomes.ops import (FLAT, IMAGE, NO_FLOPS, OPERATIONS, SEQUENCE, FlopCount, Shape, activation_flops,
                         describe_shape)


@dataclass(frozen=True)
class InputPlan:
    """Adaptation of one node input before the merge: flatten, resample, project."""

    source: int
    shape: Shape
    flatten: bool
    resample_to: tuple[int, ...] | None
    project_to: int | None

    def adapted_shape(self) -> Shape:
        shape = (math.prod(self.shape),) if self.flatten else self.shape
        if self.resample_to is not None:
            shape = (shape[0], *self.resample_to)
        if self.project_to is not None:
            shape = (self.project_to, *shape[1:])
        return shape

    def projection_parameters(self) -> int:
        if self.project_to is None:
            return 0
        return self._channels_in() * self.project_to

    def adapter_flops(self) -> FlopCount:
        resample = math.prod(self.shape) if self.resample_to is not None else 0
        if self.project_to is None:
            return FlopCount(elementwise=resample)
        return FlopCount(matmul=2 * self._channels_in() * math.prod(self.adapted_shape()), elementwise=resample)

    def _channels_in(self) -> int:
        return math.prod(self.shape) if self.flatten else self.shape[0]


@dataclass(frozen=True)
class NodePlan:
    node_id: int
    inputs: tuple[InputPlan, ...]
    merged_shape: Shape
    output_shape: Shape
    op_parameters: int
    op_flops: FlopCount
    merge_flops: FlopCount = FlopCount()
    activation_flops: FlopCount = FlopCount()

    # Cached, since node plans are immutable and shared by a parent and its children.
    @cached_property
    def parameters(self) -> int:
        return self.op_parameters + sum(p.projection_parameters() for p in self.inputs)

    @cached_property
    def flop_count(self) -> FlopCount:
        count = self.op_flops + self.merge_flops + self.activation_flops
        for adapter in self.inputs:
            count = count + adapter.adapter_flops()
        return count

    @property
    def flops(self) -> int:
        return self.flop_count.total


@dataclass(frozen=True)
class NetworkPlan:
    """Everything the decoder needs, computed before any module exists."""

    input_shape: Shape
    num_classes: int
    order: tuple[int, ...]
    nodes: dict[int, NodePlan]
    head_features: int
    head_pooled: int = 0

    @property
    def head_parameters(self) -> int:
        return self.head_features * self.num_classes + self.num_classes

    @property
    def head_flop_count(self) -> FlopCount:
        """The classifier's products, and the global average pooling (elements summed) of a gap head."""
        return FlopCount(matmul=2 * self.head_features * self.num_classes, elementwise=self.head_pooled)

    @property
    def head_flops(self) -> int:
        return self.head_flop_count.total

    @property
    def parameters(self) -> int:
        return sum(p.parameters for p in self.nodes.values()) + self.head_parameters

    @property
    def flop_count(self) -> FlopCount:
        count = self.head_flop_count
        for node_plan in self.nodes.values():
            count = count + node_plan.flop_count
        return count

    @property
    def flops(self) -> int:
        return self.flop_count.total

    def shape_of(self, source: int) -> Shape:
        return self.input_shape if source == INPUT else self.nodes[source].output_shape


def check_input_shape(input_shape: Sequence[int]) -> Shape:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (FLAT, SEQUENCE, IMAGE) or any(s < 1 for s in shape):
        raise ShapeError(
            f"input shape {tuple(input_shape)} is not supported; use (F,), (C, L) or (C, H, W) "
            f"with positive sizes, without the batch dimension"
        )
    return shape


def plan_merge(node_id: int, merge: str, sources: Sequence[int], shapes: Sequence[Shape]) -> tuple[tuple[InputPlan, ...], Shape]:
    """Apply the merge rule of this module's docstring; return per-input plans and the merged shape."""
    if len(shapes) == 1:
        # A single input is never adapted, whatever the merge.
        shape = tuple(shapes[0])
        return (InputPlan(sources[0], shape, False, None, None),), shape
    flatten = len({len(s) for s in shapes}) > 1
    adapted = [(math.prod(s),) if flatten else s for s in shapes]
    resample: list[tuple[int, ...] | None] = [None] * len(shapes)
    if len(adapted[0]) > FLAT:
        target = tuple(min(s[axis] for s in adapted) for axis in range(1, len(adapted[0])))
        resample = [None if s[1:] == target else target for s in adapted]
        adapted = [(s[0], *target) for s in adapted]
    project: list[int | None] = [None] * len(shapes)
    if merge == "add" and len(shapes) > 1:
        width = max(s[0] for s in adapted)
        project = [None if s[0] == width else width for s in adapted]
    plans = tuple(InputPlan(src, tuple(shape), flatten, r, p)
                  for src, shape, r, p in zip(sources, shapes, resample, project))
    merged = [p.adapted_shape() for p in plans]
    if merge == "concat":
        channels = sum(s[0] for s in merged)
        return plans, (channels, *merged[0][1:])
    return plans, merged[0]


def infer_shapes(genome: Genome, input_shape: Sequence[int], num_classes: int) -> NetworkPlan:
    """Validate the genome, drop dead nodes, and compute every node's shapes and costs.

    Raises InvalidGenomeError for a broken graph and ShapeError naming the node that cannot take
    its input. ``input_shape`` excludes the batch dimension. The genome keeps the plan for each
    input shape and class count, so later calls return a copy of it without recomputing.
    """
    shape_in = check_input_shape(input_shape)
    check_num_classes(num_classes)
    plan = shared_plan(genome, shape_in, num_classes)
    # The kept plan is shared, so the caller gets its own dict of node plans (which are immutable).
    return NetworkPlan(plan.input_shape, plan.num_classes, plan.order, dict(plan.nodes), plan.head_features,
                       plan.head_pooled)


def check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ShapeError(f"num_classes must be a positive integer, got {num_classes!r}")


def shared_plan(genome: Genome, shape_in: Shape, num_classes: int) -> NetworkPlan:
    """Return the plan that the genome keeps, computing it on the first call.

    The arguments must have passed ``check_input_shape`` and ``check_num_classes``. The plan is
    shared by every caller, so nothing may change its ``nodes`` dict.
    """
    key = ("plan", shape_in, num_classes)
    plan = genome._memo.get(key)
    if plan is None:
        plan = genome._memoized(key, lambda: _plan_network(genome, shape_in, num_classes))
    return plan


def _plan_network(genome: Genome, shape_in: Shape, num_classes: int) -> NetworkPlan:
    genome.validate()
    live = genome.pruned()
    order = live._memoized("order", live._topological_order)
    plans: dict[int, NodePlan] = {}

    index = live._index
    for nid in order:
        node = index[nid]
        if len(node.inputs) == 1:
            source = node.inputs[0]
            shapes = (shape_in if source == INPUT else plans[source].output_shape,)
        else:
            shapes = tuple(shape_in if s == INPUT else plans[s].output_shape for s in node.inputs)
        # A node plan depends only on the node and its input shapes, so a node shared by a
        # parent and its child is planned once.
        node_plan = node._cached_plan(shapes)
        if node_plan is None:
            node_plan = _plan_node(node, shapes)
            node._cache_plan(shapes, node_plan)
        plans[nid] = node_plan

    final = plans[live.output].output_shape
    pooled = 0
    if genome.head == "gap" and len(final) > FLAT:
        features, pooled = final[0], math.prod(final)
    else:
        features = math.prod(final)
    return NetworkPlan(shape_in, num_classes, order, plans, features, pooled)


def _plan_node(node: Node, shapes: tuple[Shape, ...]) -> NodePlan:
    nid = node.id
    inputs, merged = plan_merge(nid, node.merge, node.inputs, shapes)
    operation = OPERATIONS[node.op]
    params = node._resolved()
    out = operation.output_shape(params, merged, nid)
    merge_flops = NO_FLOPS
    if node.merge == "add" and len(inputs) > 1:
        merge_flops = FlopCount(elementwise=(len(inputs) - 1) * math.prod(merged))
    return NodePlan(nid, inputs, merged, out, operation.parameter_count(params, merged),
                    operation.flops(params, merged, out), merge_flops, activation_flops(node.activation, out))


def count_parameters(genome: Genome, input_shape: Sequence[int], num_classes: int) -> int:
    """Trainable parameters of the decoded network, without building it."""
    return infer_shapes(genome, input_shape, num_classes).parameters


def count_flops(genome: Genome, input_shape: Sequence[int], num_classes: int) -> int:
    """FLOPs of one forward pass of one sample, all kinds of the convention in ``genomes.ops``."""
    return infer_shapes(genome, input_shape, num_classes).flops


def describe(genome: Genome, input_shape: Sequence[int], num_classes: int) -> list[dict]:
    """One row per live node: id, operation and its parameters, merged input shape, output shape,
    parameter count, FLOPs."""
    plan = infer_shapes(genome, input_shape, num_classes)
    rows = []
    for nid in plan.order:
        node, node_plan = genome.node(nid), plan.nodes[nid]
        rows.append({"id": nid, "op": node.op, "params": node.resolved_params(),
                     "activation": node.activation, "merge": node.merge,
                     "inputs": list(node.inputs), "in_shape": describe_shape(node_plan.merged_shape),
                     "out_shape": describe_shape(node_plan.output_shape),
                     "parameters": node_plan.parameters, "flops": node_plan.flops})
    return rows
