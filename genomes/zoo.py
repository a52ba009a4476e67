"""Known architectures as genomes, usable as seeds of a campaign.

Each builder takes the task's ``input_shape`` and ``num_classes`` so the same description adapts to
the task: convolutions decode as Conv1d on sequences and Conv2d on images, and the classifier is
sized from the task. The builders that need spatial axes only fit sequence and image tasks, and a
campaign drops seeds outside its search space with a log message. The known architectures are
scaled down to the small tasks this project trains on; the docstrings give the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from genomes.genome import INPUT, Genome, Node


def mnist1d_cnn(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """The MNIST-1D paper's CNN (Greydanus & Kobak, 2020): three Conv1d layers of 25 channels,
    kernels 5/3/3, stride 2, padding 1, ReLU, then flatten and a linear layer.

    5,210 parameters on the (1, 40) input of MNIST-1D.
    """
    return Genome(
        (
            Node(1, "conv", {"width": 25, "kernel": 5, "stride": 2, "padding": 1}, "relu", inputs=(INPUT,)),
            Node(2, "conv", {"width": 25, "kernel": 3, "stride": 2, "padding": 1}, "relu", inputs=(1,)),
            Node(3, "conv", {"width": 25, "kernel": 3, "stride": 2, "padding": 1}, "relu", inputs=(2,)),
        ),
        output=3,
        head="flatten",
    )


def mnist1d_mlp(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """The MNIST-1D paper's MLP: 40-100-100-10 with ReLU, the second hidden layer added to the
    first as a residual connection. 15,210 parameters on MNIST-1D."""
    return Genome(
        (
            Node(1, "linear", {"width": 100}, "relu", inputs=(INPUT,)),
            Node(2, "linear", {"width": 100}, "relu", inputs=(1,)),
            Node(3, "identity", {}, "identity", "add", inputs=(1, 2)),
        ),
        output=3,
        head="flatten",
    )


def small_cnn(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """Two 3-wide convolutions of 16 channels with batch norm, a max-pooling, global average pooling."""
    return Genome(
        (
            Node(1, "conv", {"width": 16, "kernel": 3}, "identity", inputs=(INPUT,)),
            Node(2, "batchnorm", {}, "relu", inputs=(1,)),
            Node(3, "maxpool", {"kernel": 2}, "identity", inputs=(2,)),
            Node(4, "conv", {"width": 16, "kernel": 3}, "relu", inputs=(3,)),
        ),
        output=4,
        head="gap",
    )


def small_mlp(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """One hidden layer of 32 units with ReLU."""
    return Genome((Node(1, "linear", {"width": 32}, "relu", inputs=(INPUT,)),), output=1, head="flatten")


def linear_classifier(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """Logistic regression: the input goes straight to the linear head."""
    return Genome((Node(1, "identity", {}, "identity", inputs=(INPUT,)),), output=1, head="flatten")


class _Chain:
    """A node list under construction: each added node reads the previous one unless ``inputs`` is given."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.last = INPUT

    def add(self, op: str, params: dict | None = None, activation: str = "identity",
            inputs: Sequence[int] | None = None, merge: str = "add") -> int:
        node_id = len(self.nodes) + 1
        read = tuple(inputs) if inputs is not None else (self.last,)
        self.nodes.append(Node(node_id, op, params or {}, activation, merge, read))
        self.last = node_id
        return node_id

    def conv_bn(self, width: int, kernel: int = 3, stride: int = 1, activation: str = "relu",
                groups: int = 1, inputs: Sequence[int] | None = None) -> int:
        """A bias-free convolution followed by batch norm and the activation (two nodes)."""
        self.add("conv", {"width": width, "kernel": kernel, "stride": stride, "padding": kernel // 2,
                          "groups": groups, "bias": 0}, inputs=inputs)
        return self.add("batchnorm", activation=activation)

    def genome(self, head: str) -> Genome:
        return Genome(tuple(self.nodes), self.last, head)


RESNET_STAGES = ((16, 1), (32, 2), (64, 2))


def resnet(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """A small ResNet of basic blocks (He et al., 2016): a 3x3 stem of 16 channels, then one basic
    block per stage of 16, 32 and 64 channels (strides 1, 2, 2), global average pooling.

    A basic block is conv-BN-ReLU-conv-BN plus a shortcut, then ReLU. The shortcut is the
    identity, or a strided 1x1 convolution with batch norm when the shape changes. Conv1d on
    sequences and Conv2d on images.
    """
    chain = _Chain()
    current = chain.conv_bn(16)
    channels = 16
    for width, stride in RESNET_STAGES:
        chain.conv_bn(width, stride=stride, inputs=(current,))
        body = chain.conv_bn(width, activation="identity")
        shortcut = current
        if stride != 1 or width != channels:
            shortcut = chain.conv_bn(width, kernel=1, stride=stride, activation="identity", inputs=(current,))
        current = chain.add("identity", activation="relu", inputs=(body, shortcut))
        channels = width
    return chain.genome("gap")


# (expansion factor, output channels, stride) of each inverted-residual block.
MOBILENET_BLOCKS = ((1, 16, 1), (4, 24, 2), (4, 24, 1))


def mobilenet_v2(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """A small MobileNetV2 (Sandler et al., 2018): a 3x3 stem of 16 channels, three inverted-residual
    blocks (expansion, channels, stride) = (1, 16, 1), (4, 24, 2), (4, 24, 1), a 1x1 convolution
    to 64 channels and global average pooling. ReLU6 throughout.

    A block is a 1x1 expansion (left out at expansion 1), a depthwise 3x3 convolution, and a
    linear 1x1 projection, each with batch norm. A block adds its input when its stride is 1 and
    the channels are unchanged.
    """
    chain = _Chain()
    current = chain.conv_bn(16, activation="relu6")
    channels = 16
    for expansion, width, stride in MOBILENET_BLOCKS:
        hidden = channels * expansion
        block_input = current
        if expansion != 1:
            chain.conv_bn(hidden, kernel=1, activation="relu6", inputs=(current,))
        chain.conv_bn(hidden, stride=stride, groups=hidden, activation="relu6",
                      inputs=None if expansion != 1 else (current,))
        current = chain.conv_bn(width, kernel=1, activation="identity")
        if stride == 1 and width == channels:
            current = chain.add("identity", inputs=(current, block_input))
        channels = width
    chain.conv_bn(64, kernel=1, activation="relu6", inputs=(current,))
    return chain.genome("gap")


VGG_STAGES = ((16, 2), (32, 2))


def vgg(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """A small VGG-style network (Simonyan & Zisserman, 2015): two stages of two 3x3 convolutions
    with ReLU (16, then 32 channels), each followed by 2x2 max pooling, then a hidden linear layer
    of 64 units with ReLU and dropout 50%, flattened into the classifier."""
    chain = _Chain()
    for width, convs in VGG_STAGES:
        for _ in range(convs):
            chain.add("conv", {"width": width, "kernel": 3, "padding": 1}, "relu")
        chain.add("maxpool", {"kernel": 2})
    chain.add("linear", {"width": 64}, "relu")
    chain.add("dropout", {"percent": 50})
    return chain.genome("flatten")


DENSENET_GROWTH = 8
DENSENET_LAYERS = 3


def densenet(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """A small DenseNet (Huang et al., 2017): a 3x3 stem of 16 channels, a dense block of three
    BN-ReLU-conv3x3 layers with growth rate 8, each reading the concatenation of all earlier
    outputs, a transition (BN-ReLU, 1x1 convolution halving the channels, 2x2 average pooling),
    then BN-ReLU and global average pooling. Convolutions have no bias."""
    chain = _Chain()
    features = [chain.add("conv", {"width": 16, "kernel": 3, "padding": 1, "bias": 0})]
    channels = 16
    for _ in range(DENSENET_LAYERS):
        chain.add("batchnorm", activation="relu", inputs=features, merge="concat")
        features.append(chain.add("conv", {"width": DENSENET_GROWTH, "kernel": 3, "padding": 1, "bias": 0}))
        channels += DENSENET_GROWTH
    chain.add("batchnorm", activation="relu", inputs=features, merge="concat")
    chain.add("conv", {"width": channels // 2, "kernel": 1, "padding": 0, "bias": 0})
    chain.add("avgpool", {"kernel": 2})
    chain.add("batchnorm", activation="relu")
    return chain.genome("gap")


TRANSFORMER_WIDTH = 32
TRANSFORMER_HEADS = 4
TRANSFORMER_FEEDFORWARD = 64


def transformer_encoder(input_shape: Sequence[int] = (1, 40), num_classes: int = 10) -> Genome:
    """One pre-norm Transformer encoder block (Vaswani et al., 2017; norm first as in
    ``nn.TransformerEncoderLayer(norm_first=True)``) over the positions of a sequence.

    A 1x1 convolution embeds each position in 32 channels. The block is x + attention(LN(x)) with
    4 heads, then x + FF(LN(x)) with a GELU feed-forward layer of 64 units applied per position
    (1x1 convolutions). A final layer norm and the mean over positions feed the classifier. No
    positional encoding is added. On images the positions are the pixels.
    """
    chain = _Chain()
    embedded = chain.add("conv", {"width": TRANSFORMER_WIDTH, "kernel": 1, "padding": 0})
    chain.add("layernorm")
    attended = chain.add("attention", {"heads": TRANSFORMER_HEADS})
    residual = chain.add("identity", inputs=(embedded, attended))
    chain.add("layernorm")
    chain.add("conv", {"width": TRANSFORMER_FEEDFORWARD, "kernel": 1, "padding": 0}, "gelu")
    fed = chain.add("conv", {"width": TRANSFORMER_WIDTH, "kernel": 1, "padding": 0})
    chain.add("identity", inputs=(residual, fed))
    chain.add("layernorm")
    return chain.genome("gap")


@dataclass(frozen=True)
class Seed:
    name: str
    build: Callable[[Sequence[int], int], Genome]
    summary: str


SEEDS: dict[str, Seed] = {
    seed.name: seed
    for seed in (
        Seed("mnist1d_cnn", mnist1d_cnn, "MNIST-1D paper CNN: 3 x Conv1d(25), kernels 5/3/3, stride 2"),
        Seed("mnist1d_mlp", mnist1d_mlp, "MNIST-1D paper MLP: 100-100 hidden, residual second layer"),
        Seed("small_cnn", small_cnn, "conv-bn-pool-conv, 16 channels, global average pooling"),
        Seed("small_mlp", small_mlp, "one hidden layer of 32 units"),
        Seed("linear", linear_classifier, "logistic regression on the raw input"),
        Seed("resnet", resnet, "ResNet basic blocks: 16-32-64 channels, strides 1-2-2"),
        Seed("mobilenet_v2", mobilenet_v2, "MobileNetV2 inverted residuals, depthwise 3x3, ReLU6"),
        Seed("vgg", vgg, "VGG-style: 2x conv3x3(16), pool, 2x conv3x3(32), pool, linear 64"),
        Seed("densenet", densenet, "DenseNet block: 3 layers, growth 8, transition to half"),
        Seed("transformer", transformer_encoder, "pre-norm Transformer encoder block, d 32, 4 heads"),
    )
}


def is_module_spec(name: str) -> bool:
    """Whether a seed name is ``FILE.py:CLASS``, a user's module to import, rather than a known name."""
    path, separator, attribute = name.rpartition(":")
    return bool(separator and attribute and path.endswith(".py"))


def build_seed(name: str, input_shape: Sequence[int], num_classes: int) -> Genome:
    """Build a known architecture by name, or import ``FILE.py:CLASS`` through torch.fx.

    Raises LookupError listing the known names, and ModuleImportError (a GenomeError) when a
    module cannot be imported or its classifier does not have ``num_classes`` outputs.
    """
    if is_module_spec(name):
        from genomes.fx_import import ModuleImportError, import_spec

        imported = import_spec(name, (1, *input_shape))
        if imported.num_classes != num_classes:
            raise ModuleImportError(
                f"{name}: the classifier has {imported.num_classes} outputs but the task has "
                f"{num_classes} classes; size the last Linear layer for the task"
            )
        return imported.genome
    try:
        seed = SEEDS[name]
    except KeyError:
        raise LookupError(f"unknown seed {name!r}; known seeds: {sorted(SEEDS)}") from None
    return seed.build(input_shape, num_classes)
