"""The search space: which genomes a campaign may contain, for one task's input and class count."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from genomes.errors import GenomeError
from genomes.genome import Genome, Node
from genomes.ops import ACTIVATIONS, CONVOLUTIONS, OPERATIONS, POOLING_OPERATIONS, WIDTH_OPERATIONS
from genomes.shapes import NetworkPlan, check_input_shape, check_num_classes, shared_plan


@functools.lru_cache(maxsize=64)
def _log_bounds(low: int, high: int) -> tuple[np.float64, np.float64]:
    """Return ``np.log`` of both width bounds, computed once per pair."""
    return np.log(low), np.log(high)


@dataclass(frozen=True)
class SearchSpace:
    """Limits that every operator result must respect.

    ``widths`` is an inclusive (min, max) range for the ``width`` of convolutions and linear
    layers. ``kernel_sizes`` (convolutions, separable ones included), ``pool_sizes`` (pooling
    windows), ``strides`` (both), ``dilations`` and ``groups`` (convolutions),
    ``attention_heads`` and ``dropout_percents`` list the allowed values. Groups equal to the
    width are always allowed, so depthwise convolutions need no entry in ``groups``.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    operations: tuple[str, ...] = tuple(OPERATIONS)
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    widths: tuple[int, int] = (4, 128)
    kernel_sizes: tuple[int, ...] = (1, 3, 5)
    strides: tuple[int, ...] = (1, 2)
    pool_sizes: tuple[int, ...] = (2, 3)
    dilations: tuple[int, ...] = (1, 2)
    groups: tuple[int, ...] = (1, 2, 4)
    attention_heads: tuple[int, ...] = (1, 2, 4)
    dropout_percents: tuple[int, ...] = (10, 25, 50)
    max_nodes: int = 24
    max_parameters: int | None = 1_000_000
    max_flops: int | None = None
    heads: tuple[str, ...] = field(default=("flatten", "gap"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", check_input_shape(self.input_shape))
        for name in ("operations", "activations", "kernel_sizes", "strides", "pool_sizes", "heads",
                     "dilations", "groups", "attention_heads", "dropout_percents"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "widths", tuple(self.widths))
        unknown_ops = sorted(set(self.operations) - set(OPERATIONS))
        if unknown_ops or not self.operations:
            raise GenomeError(f"search space operations {unknown_ops or '[]'} invalid; known: {sorted(OPERATIONS)}")
        unknown_acts = sorted(set(self.activations) - set(ACTIVATIONS))
        if unknown_acts or not self.activations:
            raise GenomeError(f"search space activations {unknown_acts or '[]'} invalid; known: {sorted(ACTIVATIONS)}")
        low, high = self.widths
        if not 1 <= low <= high:
            raise GenomeError(f"search space widths {self.widths} invalid; use (min, max) with 1 <= min <= max")
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise GenomeError(f"search space kernel_sizes {self.kernel_sizes} invalid; use positive integers")
        if not self.pool_sizes or min(self.pool_sizes) < 1:
            raise GenomeError(f"search space pool_sizes {self.pool_sizes} invalid; use positive integers")
        for name in ("strides", "dilations", "groups", "attention_heads"):
            values = getattr(self, name)
            if not values or min(values) < 1:
                raise GenomeError(f"search space {name} {values} invalid; use positive integers")
        if not self.dropout_percents or not all(0 <= p <= 90 for p in self.dropout_percents):
            raise GenomeError(
                f"search space dropout_percents {self.dropout_percents} invalid; use integers from 0 to 90"
            )
        if self.max_nodes < 1:
            raise GenomeError(f"search space max_nodes {self.max_nodes} invalid; use at least 1")

    # -- membership -----------------------------------------------------------------------------

    def violation(self, genome: Genome) -> str | None:
        """Why the genome is outside the space, or None when it is inside.

        The genome stores the result for this space object, so a later call with the same genome
        and space returns it at once. An exception other than GenomeError propagates and nothing
        is stored.
        """
        # Keyed by identity. The entry contains the space, so no other object can get its id
        # while the entry exists.
        key = ("violation", id(self))
        stored = genome._memo.get(key)
        if stored is not None and stored[0] is self:
            return stored[1]
        problem = self._violation(genome)
        genome._memo[key] = (self, problem)
        return problem

    def network_plan(self, genome: Genome) -> NetworkPlan:
        """Return ``infer_shapes`` for this space's input and class count, without a copy.

        The genome keeps the plan, and every caller shares it, so none may change its ``nodes``.
        Raises what ``infer_shapes`` raises.
        """
        # The input shape passed check_input_shape in __post_init__.
        check_num_classes(self.num_classes)
        return shared_plan(genome, self.input_shape, self.num_classes)

    def _violation(self, genome: Genome) -> str | None:
        try:
            plan = self.network_plan(genome)
        except GenomeError as error:
            return str(error)
        return self._limit_violation(genome, plan)

    def _limit_violation(self, genome: Genome, plan: NetworkPlan) -> str | None:
        if len(genome) > self.max_nodes:
            return f"{len(genome)} nodes exceed max_nodes {self.max_nodes}"
        if genome.head not in self.heads:
            return f"head {genome.head!r} is not in the space's heads {list(self.heads)}"
        for node in genome.nodes:
            # A node that passed these checks for this space before passes them again: they
            # read nothing but the node.
            if node._inside(self):
                continue
            problem = self._node_violation(node)
            if problem is not None:
                return problem
            node._mark_inside(self)
        if self.max_parameters is not None and plan.parameters > self.max_parameters:
            return f"{plan.parameters} parameters exceed max_parameters {self.max_parameters}"
        if self.max_flops is not None and plan.flops > self.max_flops:
            return f"{plan.flops} FLOPs exceed max_flops {self.max_flops}"
        return None

    def _node_violation(self, node: Node) -> str | None:
        if node.op not in self.operations:
            return f"node {node.id}: operation {node.op!r} is not in the space"
        if node.activation not in self.activations:
            return f"node {node.id}: activation {node.activation!r} is not in the space"
        params = node._resolved()
        low, high = self.widths
        if "width" in params and not low <= params["width"] <= high:
            return f"node {node.id}: width {params['width']} is outside {self.widths}"
        problem = self._parameter_violation(node.op, params)
        if problem is not None:
            return f"node {node.id}: {problem}"
        return None

    def _parameter_violation(self, op: str, params: Mapping[str, int]) -> str | None:
        allowed = (
            ("kernel", CONVOLUTIONS, "kernel", self.kernel_sizes),
            ("kernel", POOLING_OPERATIONS, "pooling kernel", self.pool_sizes),
            ("stride", None, "stride", self.strides),
            ("dilation", None, "dilation", self.dilations),
            ("groups", None, "groups", self.groups),
            ("heads", None, "attention heads", self.attention_heads),
            ("percent", None, "dropout percent", self.dropout_percents),
        )
        for key, ops, label, values in allowed:
            if key == "groups" and params.get("groups") == params.get("width"):
                continue  # a depthwise convolution: one group per output channel
            if key in params and (ops is None or op in ops) and params[key] not in values:
                return f"{label} {params[key]} is not in {list(values)}"
        return None

    def contains(self, genome: Genome) -> bool:
        return self.violation(genome) is None

    # -- sampling -------------------------------------------------------------------------------

    def sample_params(self, op: str, rng: np.random.Generator, channels: int | None = None) -> dict[str, Any]:
        """Random hyperparameters for a new node carrying ``op``.

        ``channels`` is the node's merged input channel count when known. Attention heads are
        then drawn among the allowed counts that divide it, and with it unknown the draw may
        give a node that shape inference rejects. Convolutions start with groups 1 and
        dilation 1; the ``change_dilation_groups`` mutation varies both.
        """
        params: dict[str, Any] = {}
        if op in WIDTH_OPERATIONS:
            params["width"] = self.sample_width(rng)
        if op in CONVOLUTIONS:
            # An index draw gives the same number as rng.choice on the same generator, faster.
            params["kernel"] = int(self.kernel_sizes[int(rng.integers(len(self.kernel_sizes)))])
            params["stride"] = int(self.strides[int(rng.integers(len(self.strides)))])
            params["padding"] = params["kernel"] // 2
        elif op in POOLING_OPERATIONS:
            kernel = int(self.pool_sizes[int(rng.integers(len(self.pool_sizes)))])
            stride = int(self.strides[int(rng.integers(len(self.strides)))])
            params.update(kernel=kernel, stride=stride, padding=kernel // 2)
        elif op == "attention":
            heads = [h for h in self.attention_heads if channels is None or channels % h == 0]
            params["heads"] = int(heads[int(rng.integers(len(heads)))]) if heads else min(self.attention_heads)
        elif op == "dropout":
            params["percent"] = int(self.dropout_percents[int(rng.integers(len(self.dropout_percents)))])
        return params

    def sample_width(self, rng: np.random.Generator) -> int:
        # Log-uniform, so narrow and wide layers are drawn about equally often.
        log_low, log_high = _log_bounds(*self.widths)
        return int(round(np.exp(rng.uniform(log_low, log_high))))

    def to_dict(self) -> dict[str, Any]:
        return {name: (list(value) if isinstance(value, tuple) else value)
                for name, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})
