"""Operations and activations a node can carry.

Shapes exclude the batch dimension: ``(F,)`` is a flat feature vector, ``(C, L)`` a sequence and
``(C, H, W)`` an image. Every operation computes, from shapes alone, its output shape, its parameter
count and its FLOPs, so a genome can be costed before any module is allocated.

FLOP convention, for one forward pass of one sample:

- ``matmul``: one multiply-add counts as 2 FLOPs. Convolutions (depthwise and grouped ones
  included), linear layers, the projections of attention, the bias-free projections added at
  merges and the classifier head. Bias additions are not counted. These are the numbers that
  ``torch.utils.flop_counter.FlopCounterMode`` (PyTorch 2.x) reports for the same modules.
- ``attention``: the two matrix products of scaled dot-product attention, ``Q @ K^T`` and
  ``scores @ V``, each ``2 * heads * T * T * head_dim`` for ``T`` positions. FlopCounterMode
  reports 0 for them on CPU, so they are kept apart and counted from this formula.
- ``elementwise``: 1 FLOP per output element for every activation other than ``identity`` and
  for the softmax over attention scores; ``k - 1`` per element for an ``add`` merge of ``k``
  inputs; 2 per element for batch and layer norm (scale and shift; the statistics are not
  counted); one per window element for pooling, global average pooling and resampling.
  Dropout, identity and ``concat`` cost 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from genomes.errors import ShapeError

Shape = tuple[int, ...]

FLAT, SEQUENCE, IMAGE = 1, 2, 3
RANK_NAMES = {FLAT: "flat (F,)", SEQUENCE: "sequence (C, L)", IMAGE: "image (C, H, W)"}
SPATIAL = frozenset({SEQUENCE, IMAGE})
ALL_RANKS = frozenset({FLAT, SEQUENCE, IMAGE})


def describe_shape(shape: Shape) -> str:
    kind = {FLAT: "flat", SEQUENCE: "sequence", IMAGE: "image"}.get(len(shape), "unsupported")
    return f"{kind} {tuple(shape)}"


# Version of the cost rules above (FLOPs and parameter counts). Raise it whenever a rule
# changes, because evaluation caches key on it: a stored FLOP count from older rules is then
# not reused. Version 2 added the elementwise FLOPs.
COST_MODEL_VERSION = 2


@dataclass(frozen=True)
class FlopCount:
    """FLOPs split by the kinds of the module docstring's convention."""

    matmul: int = 0
    attention: int = 0
    elementwise: int = 0

    @property
    def total(self) -> int:
        return self.matmul + self.attention + self.elementwise

    def __add__(self, other: FlopCount) -> FlopCount:
        return FlopCount(self.matmul + other.matmul, self.attention + other.attention,
                         self.elementwise + other.elementwise)


# The zero count, shared because FlopCount is immutable.
NO_FLOPS = FlopCount()


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter of an operation: its default and its allowed range (inclusive)."""

    default: int | None
    minimum: int = 0
    maximum: int | None = None


FLAG = ParamSpec(0, 0, 1)


class Operation:
    """An operation applied to the merged input of a node."""

    name: str = ""
    param_specs: Mapping[str, ParamSpec] = {}
    ranks: frozenset[int] = ALL_RANKS

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
            if spec.maximum is not None and value > spec.maximum:
                raise ValueError(
                    f"parameter '{key}' of '{self.name}' must be <= {spec.maximum}, got {value}"
                )
            resolved[key] = value
        self.check_params(resolved)
        return resolved

    def derived_default(self, key: str, resolved: Mapping[str, int]) -> int:
        raise ValueError(f"parameter '{key}' of '{self.name}' is required")

    def check_params(self, params: Mapping[str, int]) -> None:
        """Raise ValueError when parameters contradict each other (checked without any shape)."""

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

    def flops(self, params: Mapping[str, int], shape: Shape, out_shape: Shape) -> FlopCount:
        return NO_FLOPS

    def build(self, params: Mapping[str, int], shape: Shape) -> nn.Module:
        raise NotImplementedError


def sliding_length(length: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window, as PyTorch computes it (floor mode)."""
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def sliding_output(op: Operation, params: Mapping[str, int], shape: Shape, node_id: int,
                   channels: int) -> Shape:
    dilation = params.get("dilation", 1)
    spatial = []
    for size in shape[1:]:
        out = sliding_length(size, params["kernel"], params["stride"], params["padding"], dilation)
        if out < 1:
            raise ShapeError(
                f"node {node_id}: '{op.name}' with kernel {params['kernel']}, stride "
                f"{params['stride']}, dilation {dilation} and padding {params['padding']} reduces "
                f"size {size} to {out}; input is {describe_shape(shape)}. Use a smaller kernel, "
                f"stride or dilation, or remove a downsampling node before it"
            )
        spatial.append(out)
    return (channels, *spatial)


def _same_padding(resolved: Mapping[str, int]) -> int:
    # Keeps the size at stride 1 for odd kernels; an even kernel grows the size by one.
    return resolved.get("dilation", 1) * (resolved["kernel"] // 2)


def _conv_class(shape: Shape) -> type[nn.Module]:
    return nn.Conv1d if len(shape) == SEQUENCE else nn.Conv2d


class Convolution(Operation):
    """Convolution over the spatial axes: Conv1d for sequences, Conv2d for images.

    ``groups`` must divide the input channels and ``width``; ``groups`` equal to both is a
    depthwise convolution. ``identity_init = 1`` initialises the kernel as the identity (a Dirac
    delta per group) and the bias as zero, which is exact when ``width`` equals the input
    channels, ``stride`` is 1 and the kernel is odd.
    """

    name = "conv"
    param_specs = {
        "width": ParamSpec(None, 1),
        "kernel": ParamSpec(3, 1),
        "stride": ParamSpec(1, 1),
        "dilation": ParamSpec(1, 1),
        "padding": ParamSpec(None, 0),
        "groups": ParamSpec(1, 1),
        "bias": ParamSpec(1, 0, 1),
        "identity_init": FLAG,
    }
    ranks = SPATIAL

    def derived_default(self, key, resolved):
        if key == "padding":
            return _same_padding(resolved)
        return super().derived_default(key, resolved)

    def check_params(self, params):
        if params["width"] % params["groups"]:
            raise ValueError(
                f"'{self.name}' width {params['width']} is not divisible by groups {params['groups']}; "
                f"use a width that is a multiple of groups"
            )

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        if shape[0] % params["groups"]:
            raise ShapeError(
                f"node {node_id}: '{self.name}' groups {params['groups']} does not divide the "
                f"{shape[0]} input channels of {describe_shape(shape)}; use groups that divide both "
                f"the input channels and the width"
            )
        return sliding_output(self, params, shape, node_id, params["width"])

    def parameter_count(self, params, shape):
        dims = len(shape) - 1
        weights = params["width"] * (shape[0] // params["groups"]) * params["kernel"] ** dims
        return weights + params["width"] * params["bias"]

    def flops(self, params, shape, out_shape):
        dims = len(shape) - 1
        per_output = (shape[0] // params["groups"]) * params["kernel"] ** dims
        return FlopCount(matmul=2 * math.prod(out_shape) * per_output)

    def build(self, params, shape):
        conv = _conv_class(shape)(shape[0], params["width"], params["kernel"], stride=params["stride"],
                                  padding=params["padding"], dilation=params["dilation"],
                                  groups=params["groups"], bias=bool(params["bias"]))
        if params["identity_init"]:
            initialise_identity(conv, params["groups"])
        return conv


class SeparableConvolution(Operation):
    """Depthwise convolution (one filter per channel, no bias) followed by a 1x1 pointwise one."""

    name = "sepconv"
    param_specs = {
        "width": ParamSpec(None, 1),
        "kernel": ParamSpec(3, 1),
        "stride": ParamSpec(1, 1),
        "dilation": ParamSpec(1, 1),
        "padding": ParamSpec(None, 0),
        "bias": ParamSpec(1, 0, 1),
        "identity_init": FLAG,
    }
    ranks = SPATIAL

    def derived_default(self, key, resolved):
        if key == "padding":
            return _same_padding(resolved)
        return super().derived_default(key, resolved)

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return sliding_output(self, params, shape, node_id, params["width"])

    def parameter_count(self, params, shape):
        dims = len(shape) - 1
        depthwise = shape[0] * params["kernel"] ** dims
        pointwise = shape[0] * params["width"] + params["width"] * params["bias"]
        return depthwise + pointwise

    def flops(self, params, shape, out_shape):
        dims = len(shape) - 1
        positions = math.prod(out_shape[1:])
        depthwise = 2 * positions * shape[0] * params["kernel"] ** dims
        pointwise = 2 * positions * shape[0] * params["width"]
        return FlopCount(matmul=depthwise + pointwise)

    def build(self, params, shape):
        conv = _conv_class(shape)
        depthwise = conv(shape[0], shape[0], params["kernel"], stride=params["stride"],
                         padding=params["padding"], dilation=params["dilation"], groups=shape[0],
                         bias=False)
        pointwise = conv(shape[0], params["width"], 1, bias=bool(params["bias"]))
        if params["identity_init"]:
            initialise_identity(depthwise, shape[0])
            initialise_identity(pointwise, 1)
        return nn.Sequential(depthwise, pointwise)


def initialise_identity(layer: nn.Module, groups: int = 1) -> None:
    """Set a convolution or linear layer to pass its input through, as far as the shapes allow.

    When the output and input channels differ, the first ``min(out, in)`` channels are passed
    through and the others are zero (a partial identity).
    """
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            nn.init.eye_(layer.weight)
        else:
            nn.init.dirac_(layer.weight, groups)
        if layer.bias is not None:
            layer.bias.zero_()


class Pooling(Operation):
    """Max or average pooling over the spatial axes; channels are unchanged."""

    param_specs = {
        "kernel": ParamSpec(2, 1),
        "stride": ParamSpec(None, 1),
        "padding": ParamSpec(0, 0),
    }
    ranks = SPATIAL

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

    def flops(self, params, shape, out_shape):
        window = params["kernel"] ** (len(shape) - 1)
        return FlopCount(elementwise=math.prod(out_shape) * window)

    def build(self, params, shape):
        if self.name == "maxpool":
            pool = nn.MaxPool1d if len(shape) == SEQUENCE else nn.MaxPool2d
        else:
            pool = nn.AvgPool1d if len(shape) == SEQUENCE else nn.AvgPool2d
        return pool(params["kernel"], stride=params["stride"], padding=params["padding"])


class Linear(Operation):
    """Fully connected layer; a sequence or image input is flattened first, so the output is flat.

    ``identity_init = 1`` initialises the weight as the identity matrix (rectangular when the
    sizes differ) and the bias as zero.
    """

    name = "linear"
    param_specs = {"width": ParamSpec(None, 1), "bias": ParamSpec(1, 0, 1), "identity_init": FLAG}

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return (params["width"],)

    def parameter_count(self, params, shape):
        return math.prod(shape) * params["width"] + params["width"] * params["bias"]

    def flops(self, params, shape, out_shape):
        return FlopCount(matmul=2 * math.prod(shape) * params["width"])

    def build(self, params, shape):
        linear = nn.Linear(math.prod(shape), params["width"], bias=bool(params["bias"]))
        if params["identity_init"]:
            initialise_identity(linear)
        return linear if len(shape) == FLAT else nn.Sequential(nn.Flatten(1), linear)


class BatchNorm(Operation):
    """Batch normalisation over channels (over features for flat input), with affine parameters."""

    name = "batchnorm"

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def parameter_count(self, params, shape):
        return 2 * shape[0]

    def flops(self, params, shape, out_shape):
        return FlopCount(elementwise=2 * math.prod(shape))

    def build(self, params, shape):
        norm = nn.BatchNorm2d if len(shape) == IMAGE else nn.BatchNorm1d
        return norm(shape[0])


class ChannelLayerNorm(nn.Module):
    """``nn.LayerNorm`` over the channel axis at every position of a (N, C, *spatial) tensor."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class LayerNorm(Operation):
    """Layer normalisation over the features of a flat input, or over the channels at each
    position of a sequence or image (as in Transformers), with affine parameters."""

    name = "layernorm"

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def parameter_count(self, params, shape):
        return 2 * shape[0]

    def flops(self, params, shape, out_shape):
        return FlopCount(elementwise=2 * math.prod(shape))

    def build(self, params, shape):
        return nn.LayerNorm(shape[0]) if len(shape) == FLAT else ChannelLayerNorm(shape[0])


class PositionAttention(nn.Module):
    """Multi-head self-attention over the positions of a (N, C, *spatial) tensor, C = embedding."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)
        mixed, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return mixed.transpose(1, 2).reshape(x.shape)


def attention_product_flops(batch: int, heads: int, queries: int, keys: int, head_dim: int) -> int:
    """FLOPs of ``Q @ K^T`` and ``scores @ V`` in scaled dot-product attention (2 per multiply-add)."""
    return 2 * (2 * batch * heads * queries * keys * head_dim)


class Attention(Operation):
    """Multi-head self-attention over positions: sequence steps, or image pixels flattened.

    The channels are the embedding, so ``heads`` must divide them. Projections have biases, as
    in ``nn.MultiheadAttention``. No positional encoding is added.
    """

    name = "attention"
    param_specs = {"heads": ParamSpec(1, 1)}
    ranks = SPATIAL

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        if shape[0] % params["heads"]:
            raise ShapeError(
                f"node {node_id}: 'attention' heads {params['heads']} does not divide the {shape[0]} "
                f"channels of {describe_shape(shape)}; use a head count that divides the channels"
            )
        return shape

    def parameter_count(self, params, shape):
        channels = shape[0]
        return 4 * channels * channels + 4 * channels

    def flops(self, params, shape, out_shape):
        channels, positions = shape[0], math.prod(shape[1:])
        projections = 2 * positions * channels * 3 * channels + 2 * positions * channels * channels
        heads = params["heads"]
        products = attention_product_flops(1, heads, positions, positions, channels // heads)
        softmax = heads * positions * positions
        return FlopCount(matmul=projections, attention=products, elementwise=softmax)

    def build(self, params, shape):
        return PositionAttention(shape[0], params["heads"])


class Dropout(Operation):
    """Dropout with probability ``percent`` / 100 during training; the identity in eval mode."""

    name = "dropout"
    param_specs = {"percent": ParamSpec(10, 0, 90)}

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def build(self, params, shape):
        return nn.Dropout(params["percent"] / 100)


class Identity(Operation):
    name = "identity"

    def output_shape(self, params, shape, node_id):
        self.check_rank(shape, node_id)
        return shape

    def build(self, params, shape):
        return nn.Identity()


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (Convolution(), SeparableConvolution(), Pooling("maxpool"), Pooling("avgpool"), Linear(),
               BatchNorm(), LayerNorm(), Attention(), Dropout(), Identity())
}

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "mish": nn.Mish,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


def activation_flops(activation: str, shape: Shape) -> FlopCount:
    return NO_FLOPS if activation == "identity" else FlopCount(elementwise=math.prod(shape))


MERGES = ("add", "concat")

# Operations whose output width is a free choice, so "change width" applies to them.
WIDTH_OPERATIONS = frozenset(name for name, op in OPERATIONS.items() if "width" in op.param_specs)
# Operations with a sliding window, so "change kernel" and "change stride" apply to them.
WINDOW_OPERATIONS = frozenset(name for name, op in OPERATIONS.items() if "kernel" in op.param_specs)
POOLING_OPERATIONS = frozenset({"maxpool", "avgpool"})
CONVOLUTIONS = frozenset({"conv", "sepconv"})
