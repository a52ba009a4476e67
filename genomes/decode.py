"""Decode a genome into a ``torch.nn.Module``.

The network is: stem, the live nodes in topological order, head. The stem reshapes the task's
tensor ``(N, *input_shape)`` or ``(N, prod(input_shape))`` to ``(N, *input_shape)`` and has no
parameters. The head flattens the output node (``flatten``) or averages it over the spatial axes
(``gap``), then applies a linear classifier with ``num_classes`` outputs. Mismatched merges are
resolved by the rule documented in ``genomes.shapes``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from genomes.genome import INPUT, Genome
from genomes.ops import ACTIVATIONS, FLAT, OPERATIONS, SEQUENCE
from genomes.shapes import InputPlan, NetworkPlan, infer_shapes


class InputAdapter(nn.Module):
    """Flatten, resample and project one input of a node as its ``InputPlan`` prescribes."""

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.flatten = plan.flatten
        self.resample_to = plan.resample_to
        self.projection: nn.Module | None = None
        if plan.project_to is not None:
            channels = math.prod(plan.shape) if plan.flatten else plan.shape[0]
            if plan.flatten or len(plan.shape) == FLAT:
                self.projection = nn.Linear(channels, plan.project_to, bias=False)
            elif len(plan.shape) == SEQUENCE:
                self.projection = nn.Conv1d(channels, plan.project_to, 1, bias=False)
            else:
                self.projection = nn.Conv2d(channels, plan.project_to, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flatten:
            x = x.flatten(1)
        if self.resample_to is not None:
            if len(self.resample_to) == 1:
                x = F.adaptive_avg_pool1d(x, self.resample_to)
            else:
                x = F.adaptive_avg_pool2d(x, self.resample_to)
        if self.projection is not None:
            x = self.projection(x)
        return x


class Cell(nn.Module):
    """One node: merge its inputs, apply the operation, then the activation."""

    def __init__(self, merge: str, adapters: Sequence[InputAdapter], operation: nn.Module,
                 activation: nn.Module):
        super().__init__()
        self.concat = merge == "concat"
        self.adapters = nn.ModuleList(adapters)
        self.operation = operation
        self.activation = activation

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        adapted = [adapter(x) for adapter, x in zip(self.adapters, inputs)]
        if len(adapted) == 1:
            merged = adapted[0]
        elif self.concat:
            merged = torch.cat(adapted, dim=1)
        else:
            merged = adapted[0]
            for x in adapted[1:]:
                merged = merged + x
        return self.activation(self.operation(merged))


class Head(nn.Module):
    def __init__(self, kind: str, features: int, num_classes: int):
        super().__init__()
        self.global_pool = kind == "gap"
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_pool and x.dim() > 2:
            x = x.mean(dim=tuple(range(2, x.dim())))
        return self.classifier(x.flatten(1))


class GenomeNetwork(nn.Module):
    """The decoded network; ``plan`` contains the shapes and costs it was built from."""

    def __init__(self, genome: Genome, plan: NetworkPlan):
        super().__init__()
        self.input_shape = tuple(plan.input_shape)
        self.order = list(plan.order)
        self.sources = {nid: list(genome.node(nid).inputs) for nid in self.order}
        self.output_id = genome.output
        cells = {}
        for nid in self.order:
            node, node_plan = genome.node(nid), plan.nodes[nid]
            adapters = [InputAdapter(p) for p in node_plan.inputs]
            operation = OPERATIONS[node.op].build(node.resolved_params(), node_plan.merged_shape)
            cells[str(nid)] = Cell(node.merge, adapters, operation, ACTIVATIONS[node.activation]())
        self.cells = nn.ModuleDict(cells)
        self.head = Head(genome.head, plan.head_features, plan.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x.reshape(x.shape[0], *self.input_shape)}
        for nid in self.order:
            values[nid] = self.cells[str(nid)]([values[src] for src in self.sources[nid]])
        return self.head(values[self.output_id])


def decode(genome: Genome, input_shape: Sequence[int], num_classes: int) -> GenomeNetwork:
    """Build the network; raises GenomeError (naming the node) before allocating anything."""
    plan = infer_shapes(genome, input_shape, num_classes)
    return GenomeNetwork(genome, plan)
