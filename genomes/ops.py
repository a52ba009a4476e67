"""Operations and activations a node can carry.

Shapes exclude the batch dimension: ``(F,)`` is a flat feature vector, ``(C, L)`` a sequence and
``(C, H, W)`` an image. Every operation knows, from shapes alone, its output shape, its parameter
count and its FLOPs, so a genome can be costed before any module is allocated.

FLOP convention: one multiply-add counts as 2 FLOPs, and only convolutions and linear layers
(including the bias-free projections added at merges and the classifier head) are counted, which
is what ``torch.utils.flop_counter.FlopCounterMode`` reports for them. Bias additions, pooling,
normalisation and activations are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import nn

from genomes.errors import ShapeError

Shape = tuple[int, ...]

FLAT, SEQUENCE, IMAGE = 1, 2, 3
RANK_NAMES = {FLAT: "flat (F,)", SEQUENCE: "sequence (C, L)", IMAGE: "image (C, H, W)"}


def describe_shape(shape: Shape) -> str:
    kind = {FLAT: "flat", SEQUENCE: "sequence", IMAGE: "image"}.get(len(shape), "unsupported")
    return f"{kind} {tuple(shape)}"


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter of an operation: its default and the smallest allowed value."""

    default: int | None
    minimum: int = 0


class Operation:
    """An operation applied to the merged input of a node."""

    name: str = ""
    param_specs: Mapping[str, ParamSpec] = {}
    ranks: frozenset[int] = frozenset({FLAT, SEQUENCE, IMAGE})

    def resolve(self, params: Mapping[str, Any]) -> dict[str, int]:
        """Return the parameters with defaults filled in; raise ValueError on unknown or bad ones."""
        unknown = sorted(set(params) - set(self.param_specs))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for operation '{self.name}'; "
                f"allowed: {sorted(self.param_specs)}"
            )
        resolved = {}
        for key, spec in self.param_specs.items():
            value = params.get(key, spec.default)
            if value is None:
                value = self.derived_default(key, resolved)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"parameter '{key}' of '{self.name}' must be an integer, got {value!r}")
            if value < spec.minimum:
                raise ValueError(
                    f"parameter '{key}' of '{self.name}' must be >= {spec.minimum}, got {value}"
                )
            resolved[key] = value
        return resolved

    def derived_default(self, key: str, resolved: Mapping[str, int]) -> int:
        raise ValueError(f"parameter '{key}' of '{self.name}' is required")

    def check_rank(self, shape: Shape, node_id: int) -> None:
        if len(shape) not in self.ranks:
            allowed = ", ".join(RANK_NAMES[r] for r in sorted(self.ranks))
            raise ShapeError(
                f"node {node_id}: operation '{self.name}' cannot take a {describe_shape(shape)} "
                f"input; it accepts {allowed}"
            )

    def output_shape(self, params: Mapping[str, int], shape: Shape, node_id: int) -> Shape:
        raise NotImplementedError

    def parameter_count(self, params: Mapping[str, int], shape: Shape) -> int:
        return 0

    def flops(self, params: Mapping[str, int], shape: Shape, out_shape: Shape) -> int:
        return 0

    def build(self, params: Mapping[str, int], shape: Shape) -> nn.Module:
        raise NotImplementedError


def sliding_length(length: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window, as PyTorch computes it (floor mode)."""
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def sliding_output(op: Operation, params: Mapping[str, int], shape: Shape, node_id: int,
                   channels: int) -> Shape:
    spatial = []
    for size in shape[1:]:
        out = sliding_length(size, params["kernel"], params["stride"], params["padding"])
        if out < 1:
            raise ShapeError(
                f"node {node_id}: '{op.name}' with kernel {params['kernel']}, stride "
                f"{params['stride']} and padding {params['padding']} reduces size {size} to {out}; "
                f"input is {describe_shape(shape)}. Use a smaller kernel or stride, or remove "
                f"a downsampling node before it"
            )
        spatial.append(out)
    return (channels, *spatial)


class Convolution(Operation):
    """Convolution over the spatial axes: Conv1d for sequences, Conv2d for images."""

    name = "conv"
    param_specs = {
        "width": ParamSpec(None, 1),
        "kernel": ParamSpec(3, 1),
        "stride": ParamSpec(1, 1),
        "padding": ParamSpec(None, 0),
    }
    ranks = frozenset({SEQUENCE, IMAGE})

    def derived_default(self, key, resolved):
        if key == "padding":
            return resolved["kernel"] // 2
        return super().derived_default(key, resolved)

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return sliding_output(self, params, shape, node_id, params["width"])

    def parameter_count(self, params, shape):
        dims = len(shape) - 1
        return params["width"] * shape[0] * params["kernel"] ** dims + params["width"]

    def flops(self, params, shape, out_shape):
        dims = len(shape) - 1
        return 2 * math.prod(out_shape) * shape[0] * params["kernel"] ** dims

    def build(self, params, shape):
        conv = nn.Conv1d if len(shape) == SEQUENCE else nn.Conv2d
        return conv(shape[0], params["width"], params["kernel"], stride=params["stride"],
                    padding=params["padding"])


class Pooling(Operation):
    """Max or average pooling over the spatial axes; channels are unchanged."""

    param_specs = {
        "kernel": ParamSpec(2, 1),
        "stride": ParamSpec(None, 1),
        "padding": ParamSpec(0, 0),
    }
    ranks = frozenset({SEQUENCE, IMAGE})

    def __init__(self, name: str):
        self.name = name

    def derived_default(self, key, resolved):
        if key == "stride":
            return resolved["kernel"]
        return super().derived_default(key, resolved)

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        if 2 * params["padding"] > params["kernel"]:
            raise ShapeError(
                f"node {node_id}: '{self.name}' padding {params['padding']} is more than half of "
                f"kernel {params['kernel']}; PyTorch rejects this. Use padding <= kernel // 2"
            )
        return sliding_output(self, params, shape, node_id, shape[0])

    def build(self, params, shape):
        if self.name == "maxpool":
            pool = nn.MaxPool1d if len(shape) == SEQUENCE else nn.MaxPool2d
        else:
            pool = nn.AvgPool1d if len(shape) == SEQUENCE else nn.AvgPool2d
        return pool(params["kernel"], stride=params["stride"], padding=params["padding"])


class Linear(Operation):
    """Fully connected layer; a sequence or image input is flattened first, so the output is flat."""

    name = "linear"
    param_specs = {"width": ParamSpec(None, 1)}

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return (params["width"],)

    def parameter_count(self, params, shape):
        return math.prod(shape) * params["width"] + params["width"]

    def flops(self, params, shape, out_shape):
        return 2 * math.prod(shape) * params["width"]

    def build(self, params, shape):
        linear = nn.Linear(math.prod(shape), params["width"])
        return linear if len(shape) == FLAT else nn.Sequential(nn.Flatten(1), linear)


class BatchNorm(Operation):
    """Batch normalisation over channels (over features for flat input), with affine parameters."""

    name = "batchnorm"

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def parameter_count(self, params, shape):
        return 2 * shape[0]

    def build(self, params, shape):
        norm = nn.BatchNorm2d if len(shape) == IMAGE else nn.BatchNorm1d
        return norm(shape[0])


class Identity(Operation):
    name = "identity"

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def build(self, params, shape):
        return nn.Identity()


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (Convolution(), Pooling("maxpool"), Pooling("avgpool"), Linear(), BatchNorm(), Identity())
}

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

MERGES = ("add", "concat")

# Operations whose output width is a free choice, so "change width" applies to them.
WIDTH_OPERATIONS = frozenset(name for name, op in OPERATIONS.items() if "width" in op.param_specs)
