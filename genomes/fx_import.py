"""Import an ``nn.Module`` as a genome, through ``torch.fx`` symbolic tracing.

Supported: Conv1d/Conv2d (square kernel, equal stride, padding and dilation on every axis, zero
padding), Linear, BatchNorm1d/2d, LayerNorm over the features of a flat tensor, Max/AvgPool1d/2d
(floor mode), Dropout, Identity, Flatten, the activations of ``genomes.ops.ACTIVATIONS`` as modules,
functions or tensor methods, ``+`` / ``torch.add`` of two tensors, ``torch.cat`` on the channel
axis, and global average pooling (``AdaptiveAvgPool(1)`` or ``x.mean`` over the spatial axes)
right before the classifier. The module must end with a ``Linear`` layer, the classifier, which
becomes the genome's head.

The first two axes of a traced tensor are batch and channels, as in the genome. An operation
outside this list, or ``forward`` code that torch.fx cannot trace (control flow that depends on
tensor values, such as ``if x.sum() > 0:``), raises ModuleImportError naming the module and the
operation.
"""

from __future__ import annotations

import importlib.util
import math
import operator
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

from genomes.errors import GenomeError
from genomes.genome import INPUT, Genome, Node
from genomes.shapes import check_input_shape


class ModuleImportError(GenomeError):
    """A module cannot be turned into a genome; the message names the module and the operation."""


ACTIVATION_MODULES: dict[type, str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu", nn.GELU: "gelu", nn.SiLU: "silu",
    nn.Hardswish: "hardswish", nn.Mish: "mish", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
}
ACTIVATION_FUNCTIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.leaky_relu: "leaky_relu", F.gelu: "gelu",
    F.silu: "silu", F.hardswish: "hardswish", F.mish: "mish", torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh",
}
ACTIVATION_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}


@dataclass
class ImportedGenome:
    """The genome of an imported module, with what is needed to copy its weights."""

    genome: Genome
    input_shape: tuple[int, ...]
    num_classes: int
    sources: dict[int, str] = field(default_factory=dict)  # node id -> qualified module name
    classifier: str = ""


@dataclass
class _Value:
    """The genome node (or INPUT) behind one fx value, with the reshapes still pending on it."""

    node_id: int
    flattened: bool = False
    pooled: bool = False


class _Importer:
    def __init__(self, module: nn.Module, name: str):
        self.module = module
        self.name = name
        self.nodes: dict[int, Node] = {}
        self.sources: dict[int, str] = {}
        self.values: dict[fx.Node, _Value] = {}
        self.users: dict[int, int] = {}
        self.pooled_linear: int | None = None  # the Linear layer reading a globally pooled tensor

    def fail(self, fx_node: fx.Node, what: str, fix: str = "") -> ModuleImportError:
        target = fx_node.target if isinstance(fx_node.target, str) else getattr(fx_node.target, "__name__", fx_node.target)
        message = f"module {self.name}: operation {fx_node.name!r} ({target}): {what}"
        return ModuleImportError(message + (f"; {fix}" if fix else ""))

    def add_node(self, op: str, params: dict[str, int], inputs: Sequence[int], merge: str = "add",
                 source: str | None = None) -> _Value:
        node_id = len(self.nodes) + 1
        self.nodes[node_id] = Node(node_id, op, params, "identity", merge, tuple(inputs))
        for src in inputs:
            self.users[src] = self.users.get(src, 0) + 1
        if source is not None:
            self.sources[node_id] = source
        return _Value(node_id)

    def tensor_input(self, fx_node: fx.Node, argument: Any, allow_pooled: bool = False) -> _Value:
        if not isinstance(argument, fx.Node) or argument not in self.values:
            raise self.fail(fx_node, f"argument {argument!r} is not a tensor computed from the input")
        value = self.values[argument]
        if value.pooled and not allow_pooled:
            raise self.fail(fx_node, "global average pooling is supported only right before the classifier")
        return value

    def shape(self, fx_node: fx.Node) -> tuple[int, ...]:
        meta = fx_node.meta.get("tensor_meta")
        if meta is None:
            raise self.fail(fx_node, "the result is not a single tensor")
        return tuple(meta.shape)

    # -- the graph walk -------------------------------------------------------------------------

    def run(self, graph: fx.Graph) -> tuple[int, str, _Value]:
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ModuleImportError(
                f"module {self.name}: forward takes {len(placeholders)} tensors; a genome has one input"
            )
        for fx_node in graph.nodes:
            if fx_node.op == "placeholder":
                self.values[fx_node] = _Value(INPUT)
            elif fx_node.op == "call_module":
                self.values[fx_node] = self.call_module(fx_node)
            elif fx_node.op == "call_function":
                self.values[fx_node] = self.call_function(fx_node)
            elif fx_node.op == "call_method" and fx_node.target == "size":
                continue  # a shape query such as x.size(0), used only as an argument of view
            elif fx_node.op == "call_method":
                self.values[fx_node] = self.call_method(fx_node)
            elif fx_node.op == "output":
                return self.output(fx_node)
            else:
                raise self.fail(fx_node, f"fx operation kind '{fx_node.op}' is not supported",
                                "use parameters only through submodules")
        raise ModuleImportError(f"module {self.name}: the traced graph has no output")

    def call_module(self, fx_node: fx.Node) -> _Value:
        target = str(fx_node.target)
        layer = self.module.get_submodule(target)
        kind = type(layer)
        value = self.tensor_input(fx_node, fx_node.args[0], allow_pooled=kind in (nn.Flatten, nn.Linear))
        in_shape = self.shape(fx_node.args[0])
        if kind in ACTIVATION_MODULES:
            if isinstance(layer, nn.LeakyReLU) and layer.negative_slope != 0.01:
                raise self.fail(fx_node, f"LeakyReLU slope {layer.negative_slope} is not supported",
                                "use the default slope 0.01")
            if isinstance(layer, nn.GELU) and layer.approximate != "none":
                raise self.fail(fx_node, "GELU with the tanh approximation is not supported")
            return self.activation(fx_node, value, ACTIVATION_MODULES[kind])
        if kind in (nn.Identity,):
            return value
        if kind is nn.Flatten:
            return self.flatten(fx_node, value, layer.start_dim, layer.end_dim)
        if kind in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d):
            size = layer.output_size
            if any(s != 1 for s in (size if isinstance(size, tuple) else (size,))):
                raise self.fail(fx_node, f"adaptive pooling to {size} is not supported",
                                "pool to size 1 right before the classifier")
            return _Value(value.node_id, pooled=True)
        if value.flattened and kind is not nn.Linear:
            raise self.fail(fx_node, "a flattened spatial tensor can only feed a Linear layer")
        if kind in (nn.Conv1d, nn.Conv2d):
            return self.add_node("conv", self.conv_params(fx_node, layer), (value.node_id,), source=target)
        if kind is nn.Linear:
            if len(in_shape) > 2 and not value.flattened:
                raise self.fail(fx_node, f"Linear on a {len(in_shape)}-axis tensor is not supported",
                                "flatten the tensor before the Linear layer")
            params = {"width": layer.out_features, "bias": int(layer.bias is not None)}
            created = self.add_node("linear", params, (value.node_id,), source=target)
            if value.pooled:
                self.pooled_linear = created.node_id
            return created
        if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
            if not (layer.affine and layer.track_running_stats):
                raise self.fail(fx_node, "batch norm without affine parameters or running statistics "
                                         "is not supported")
            return self.add_node("batchnorm", {}, (value.node_id,), source=target)
        if kind is nn.LayerNorm:
            if len(in_shape) != 2 or tuple(layer.normalized_shape) != in_shape[1:] or not layer.elementwise_affine:
                raise self.fail(fx_node, "LayerNorm is supported only over the features of a flat tensor, "
                                         "with affine parameters")
            return self.add_node("layernorm", {}, (value.node_id,), source=target)
        if kind in (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d):
            return self.add_node("maxpool" if "Max" in kind.__name__ else "avgpool",
                                 self.pool_params(fx_node, layer), (value.node_id,))
        if kind is nn.Dropout:
            percent = layer.p * 100
            if abs(percent - round(percent)) > 1e-9 or not 0 <= round(percent) <= 90:
                raise self.fail(fx_node, f"dropout probability {layer.p} is not a whole percent from 0 to 90")
            return self.add_node("dropout", {"percent": int(round(percent))}, (value.node_id,))
        raise self.fail(fx_node, f"layer {kind.__name__} is not supported",
                        "see genomes.fx_import for the supported layers")

    def call_function(self, fx_node: fx.Node) -> _Value:
        function = fx_node.target
        if function in ACTIVATION_FUNCTIONS:
            neutral = {"inplace": (False, True), "approximate": ("none",), "negative_slope": (0.01,)}
            extra = {k: v for k, v in fx_node.kwargs.items() if v not in neutral.get(k, ())}
            if extra or len(fx_node.args) > 1:
                raise self.fail(fx_node, f"activation arguments {extra or fx_node.args[1:]} are not supported",
                                "use the activation's defaults")
            return self.activation(fx_node, self.tensor_input(fx_node, fx_node.args[0]),
                                   ACTIVATION_FUNCTIONS[function])
        if function in (operator.add, torch.add, operator.iadd):
            if fx_node.kwargs or len(fx_node.args) != 2:
                raise self.fail(fx_node, "only the sum of two tensors is supported")
            inputs = [self.tensor_input(fx_node, a) for a in fx_node.args]
            if self.shape(fx_node.args[0]) != self.shape(fx_node.args[1]):
                raise self.fail(fx_node, "adding tensors of different shapes is not supported")
            return self.merge(fx_node, inputs, "add")
        if function is torch.cat:
            tensors = fx_node.args[0]
            dim = fx_node.kwargs.get("dim", fx_node.args[1] if len(fx_node.args) > 1 else 0)
            if dim != 1:
                raise self.fail(fx_node, f"concatenation along axis {dim} is not supported",
                                "concatenate along the channel axis, dim=1")
            return self.merge(fx_node, [self.tensor_input(fx_node, t) for t in tensors], "concat")
        if function is torch.flatten:
            start = fx_node.kwargs.get("start_dim", fx_node.args[1] if len(fx_node.args) > 1 else 0)
            end = fx_node.kwargs.get("end_dim", fx_node.args[2] if len(fx_node.args) > 2 else -1)
            return self.flatten(fx_node, self.tensor_input(fx_node, fx_node.args[0], allow_pooled=True), start, end)
        name = getattr(function, "__name__", str(function))
        raise self.fail(fx_node, f"function {name} is not supported")

    def call_method(self, fx_node: fx.Node) -> _Value:
        method = fx_node.target
        value = self.tensor_input(fx_node, fx_node.args[0], allow_pooled=fx_node.target in ("flatten", "view", "reshape"))
        if method in ACTIVATION_METHODS and len(fx_node.args) == 1:
            return self.activation(fx_node, value, ACTIVATION_METHODS[method])
        if method == "flatten":
            start = fx_node.kwargs.get("start_dim", fx_node.args[1] if len(fx_node.args) > 1 else 0)
            return self.flatten(fx_node, value, start, -1)
        if method in ("view", "reshape"):
            sizes = fx_node.args[1:]
            out = self.shape(fx_node)
            if len(out) == 2 and out[0] == self.shape(fx_node.args[0])[0]:
                return self.flatten(fx_node, value, 1, -1)
            raise self.fail(fx_node, f"{method}{tuple(sizes)} is supported only as a flatten to (batch, features)")
        if method == "mean":
            in_shape = self.shape(fx_node.args[0])
            dims = fx_node.args[1] if len(fx_node.args) > 1 else fx_node.kwargs.get("dim")
            dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
            spatial = set(range(2, len(in_shape)))
            if {d % len(in_shape) for d in dims if d is not None} == spatial and spatial:
                return _Value(value.node_id, pooled=not fx_node.kwargs.get("keepdim", False))
            raise self.fail(fx_node, f"mean over axes {dims} is not supported",
                            "average over all spatial axes right before the classifier")
        raise self.fail(fx_node, f"tensor method {method} is not supported")

    def output(self, fx_node: fx.Node) -> tuple[int, str, _Value]:
        result = fx_node.args[0]
        if not isinstance(result, fx.Node) or result not in self.values:
            raise self.fail(fx_node, "forward must return one tensor")
        value = self.values[result]
        classifier = self.nodes.get(value.node_id)
        if classifier is None or classifier.op != "linear" or classifier.activation != "identity" \
                or self.users.get(value.node_id, 0) or value.flattened:
            raise ModuleImportError(
                f"module {self.name}: the output is not a Linear layer (the classifier); "
                f"end forward with a Linear layer whose output is returned unchanged"
            )
        if self.pooled_linear is not None and self.pooled_linear != value.node_id:
            raise ModuleImportError(
                f"module {self.name}: global average pooling feeds a Linear layer that is not the "
                f"classifier; pool right before the classifier"
            )
        return value.node_id, self.sources[value.node_id], value

    # -- helpers --------------------------------------------------------------------------------

    def activation(self, fx_node: fx.Node, value: _Value, name: str) -> _Value:
        node = self.nodes.get(value.node_id)
        single_user = len(fx_node.args[0].users) == 1 if isinstance(fx_node.args[0], fx.Node) else False
        if node is not None and node.activation == "identity" and single_user and not value.flattened:
            self.nodes[node.id] = node.replace(activation=name)
            return value
        if value.flattened:
            raise self.fail(fx_node, "an activation on a flattened spatial tensor is not supported",
                            "apply it before flattening")
        created = self.add_node("identity", {}, (value.node_id,))
        self.nodes[created.node_id] = self.nodes[created.node_id].replace(activation=name)
        return created

    def merge(self, fx_node: fx.Node, inputs: list[_Value], merge: str) -> _Value:
        if any(v.flattened for v in inputs):
            raise self.fail(fx_node, f"{merge} of flattened spatial tensors is not supported")
        return self.add_node("identity", {}, [v.node_id for v in inputs], merge=merge)

    def flatten(self, fx_node: fx.Node, value: _Value, start: int, end: int) -> _Value:
        rank = len(self.shape(fx_node.args[0]))
        if start != 1 or end not in (-1, rank - 1):
            raise self.fail(fx_node, f"flatten from axis {start} to {end} is not supported",
                            "flatten from axis 1 to the last")
        return _Value(value.node_id, flattened=rank > 2 and not value.pooled, pooled=value.pooled)

    def conv_params(self, fx_node: fx.Node, layer: nn.Module) -> dict[str, int]:
        params = {"width": layer.out_channels, "groups": layer.groups, "bias": int(layer.bias is not None)}
        for key in ("kernel_size", "stride", "padding", "dilation"):
            values = getattr(layer, key)
            if isinstance(values, str) or len(set(values)) != 1:
                raise self.fail(fx_node, f"{key} {values!r} differs between axes or is not a number",
                                "use the same integer on every axis")
            params[{"kernel_size": "kernel"}.get(key, key)] = int(values[0])
        if layer.padding_mode != "zeros":
            raise self.fail(fx_node, f"padding mode {layer.padding_mode!r} is not supported", "use 'zeros'")
        return params

    def pool_params(self, fx_node: fx.Node, layer: nn.Module) -> dict[str, int]:
        if layer.ceil_mode:
            raise self.fail(fx_node, "ceil_mode pooling is not supported", "use ceil_mode=False")
        if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)) and layer.dilation not in (1, (1, 1), (1,)):
            raise self.fail(fx_node, "dilated max pooling is not supported")
        if isinstance(layer, (nn.AvgPool1d, nn.AvgPool2d)) and not layer.count_include_pad:
            raise self.fail(fx_node, "average pooling with count_include_pad=False is not supported")
        params = {}
        for key in ("kernel_size", "stride", "padding"):
            values = getattr(layer, key)
            values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
            if len(set(values)) != 1:
                raise self.fail(fx_node, f"{key} {values!r} differs between axes", "use the same value on every axis")
            params[{"kernel_size": "kernel"}.get(key, key)] = int(values[0])
        return params


def import_module(module: nn.Module, example_shape: Sequence[int]) -> ImportedGenome:
    """Trace ``module`` with an input of ``example_shape`` (batch first) and return its genome.

    Raises ModuleImportError naming the module and the operation it cannot express.
    """
    name = type(module).__name__
    shape = tuple(int(s) for s in example_shape)
    if len(shape) < 2:
        raise ModuleImportError(f"example shape {shape} has no batch axis; give (batch, *input_shape), e.g. 1,1,40")
    input_shape = check_input_shape(shape[1:])
    try:
        traced = fx.symbolic_trace(module)
    except Exception as error:  # torch.fx raises TraceError, TypeError and others from user code
        raise ModuleImportError(
            f"module {name}: torch.fx cannot trace forward ({type(error).__name__}: {error}). "
            f"Control flow that depends on tensor values, such as `if x.sum() > 0:`, cannot be "
            f"imported; remove it from forward"
        ) from None
    try:
        ShapeProp(traced).propagate(torch.zeros(shape))
    except Exception as error:  # a module that fails on the example input
        raise ModuleImportError(
            f"module {name}: forward failed on an input of shape {shape}: {error}; check --example-shape"
        ) from None
    importer = _Importer(module, name)
    classifier_id, classifier_name, value = importer.run(traced.graph)
    classifier = importer.nodes.pop(classifier_id)
    importer.sources.pop(classifier_id)
    (body_output,) = classifier.inputs
    num_classes = classifier.resolved_params()["width"]
    if not classifier.resolved_params()["bias"]:
        raise ModuleImportError(f"module {name}: the classifier has no bias; the genome's head always has one")
    head = "gap" if importer.pooled_linear == classifier_id else "flatten"
    nodes = list(importer.nodes.values())
    if body_output == INPUT:
        identity = Node(len(importer.nodes) + 2, "identity", {}, "identity", "add", (INPUT,))
        nodes.append(identity)
        body_output = identity.id
    genome = Genome(tuple(nodes), body_output, head)
    genome.validate()
    return ImportedGenome(genome, input_shape, num_classes, dict(importer.sources), classifier_name)


def copy_weights(module: nn.Module, network: nn.Module, imported: ImportedGenome) -> None:
    """Copy the imported module's weights and buffers into the decoded ``network``."""
    for node_id, source in imported.sources.items():
        target = network.cells[str(node_id)].operation
        if isinstance(target, nn.Sequential):  # linear on a spatial input: Flatten, then Linear
            target = target[-1]
        target.load_state_dict(module.get_submodule(source).state_dict())
    network.head.classifier.load_state_dict(module.get_submodule(imported.classifier).state_dict())


def load_spec(spec: str) -> Callable[[], nn.Module] | nn.Module:
    """Load ``FILE.py:NAME`` and return the named class, function or module object.

    Raises ModuleImportError when the file or the name is missing.
    """
    path_text, _, attribute = spec.rpartition(":")
    if not path_text or not attribute:
        raise ModuleImportError(f"module spec {spec!r} is invalid; use FILE.py:CLASS")
    path = Path(path_text)
    if not path.is_file():
        raise ModuleImportError(f"module file {path} not found; give an existing FILE.py:CLASS")
    module_name = f"_evo_import_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    python_module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = python_module
    try:
        loader_spec.loader.exec_module(python_module)
    except Exception as error:  # any error raised while running the user's file
        raise ModuleImportError(f"module file {path} failed to load: {type(error).__name__}: {error}") from None
    if not hasattr(python_module, attribute):
        raise ModuleImportError(f"{path} has no attribute {attribute!r}; use FILE.py:CLASS with a class defined there")
    return getattr(python_module, attribute)


def import_spec(spec: str, example_shape: Sequence[int]) -> ImportedGenome:
    """Load ``FILE.py:CLASS``, build the class with no arguments, and import it."""
    target = load_spec(spec)
    try:
        module = target() if isinstance(target, type) else target
    except Exception as error:  # the user's constructor
        raise ModuleImportError(f"{spec}: constructing the module without arguments failed: {error}") from None
    if not isinstance(module, nn.Module):
        raise ModuleImportError(f"{spec} is a {type(module).__name__}, not a torch.nn.Module")
    return import_module(module, example_shape)
