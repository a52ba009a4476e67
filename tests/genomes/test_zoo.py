"""Known architectures against the same networks written by hand in PyTorch.

Each hand-written network follows the architecture's description with plain ``torch.nn`` layers
(Conv1d on sequences, Conv2d on images). The genome's parameter count must equal the hand-written
network's, and its ``matmul`` FLOPs must equal what ``FlopCounterMode`` reports for it. Attention
products, which FlopCounterMode does not count on CPU, are checked against their formula.
"""

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from genomes import count_parameters, decode, infer_shapes, zoo

SEQUENCE, IMAGE = (1, 40), (3, 16, 16)
NUM_CLASSES = 10


def conv_class(shape):
    return nn.Conv1d if len(shape) == 2 else nn.Conv2d


def norm_class(shape):
    return nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d


def pool_class(shape, kind):
    if kind == "max":
        return nn.MaxPool1d if len(shape) == 2 else nn.MaxPool2d
    return nn.AvgPool1d if len(shape) == 2 else nn.AvgPool2d


def feature_count(layers: nn.Module, shape) -> int:
    with torch.no_grad():
        return layers.eval()(torch.zeros(1, *shape)).flatten(1).shape[1]


class GlobalAverage(nn.Module):
    def forward(self, x):
        return x.flatten(2).mean(-1)


class BasicBlock(nn.Module):
    def __init__(self, conv, norm, channels, width, stride):
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, width, 3, stride, 1, bias=False), norm(width), nn.ReLU(),
            conv(width, width, 3, 1, 1, bias=False), norm(width),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or width != channels:
            self.shortcut = nn.Sequential(conv(channels, width, 1, stride, 0, bias=False), norm(width))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def hand_resnet(shape):
    conv, norm = conv_class(shape), norm_class(shape)
    layers = [conv(shape[0], 16, 3, 1, 1, bias=False), norm(16), nn.ReLU()]
    channels = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        layers.append(BasicBlock(conv, norm, channels, width, stride))
        channels = width
    return nn.Sequential(*layers, GlobalAverage(), nn.Linear(channels, NUM_CLASSES))


class InvertedResidual(nn.Module):
    def __init__(self, conv, norm, channels, expansion, width, stride):
        super().__init__()
        hidden = channels * expansion
        layers = []
        if expansion != 1:
            layers += [conv(channels, hidden, 1, bias=False), norm(hidden), nn.ReLU6()]
        layers += [
            conv(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), norm(hidden), nn.ReLU6(),
            conv(hidden, width, 1, bias=False), norm(width),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and width == channels

    def forward(self, x):
        return self.body(x) + x if self.residual else self.body(x)


def hand_mobilenet_v2(shape):
    conv, norm = conv_class(shape), norm_class(shape)
    layers = [conv(shape[0], 16, 3, 1, 1, bias=False), norm(16), nn.ReLU6()]
    channels = 16
    for expansion, width, stride in ((1, 16, 1), (4, 24, 2), (4, 24, 1)):
        layers.append(InvertedResidual(conv, norm, channels, expansion, width, stride))
        channels = width
    layers += [conv(channels, 64, 1, bias=False), norm(64), nn.ReLU6()]
    return nn.Sequential(*layers, GlobalAverage(), nn.Linear(64, NUM_CLASSES))


def hand_vgg(shape):
    conv, pool = conv_class(shape), pool_class(shape, "max")
    features = nn.Sequential(
        conv(shape[0], 16, 3, padding=1), nn.ReLU(), conv(16, 16, 3, padding=1), nn.ReLU(), pool(2),
        conv(16, 32, 3, padding=1), nn.ReLU(), conv(32, 32, 3, padding=1), nn.ReLU(), pool(2),
        nn.Flatten(),
    )
    flat = feature_count(features, shape)
    return nn.Sequential(features, nn.Linear(flat, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, NUM_CLASSES))


class DenseBlock(nn.Module):
    def __init__(self, conv, norm, channels, growth, layers):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(norm(channels + i * growth), nn.ReLU(), conv(channels + i * growth, growth, 3, padding=1, bias=False))
            for i in range(layers)
        )

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def hand_densenet(shape):
    conv, norm, pool = conv_class(shape), norm_class(shape), pool_class(shape, "avg")
    channels = 16 + 3 * 8
    return nn.Sequential(
        conv(shape[0], 16, 3, padding=1, bias=False),
        DenseBlock(conv, norm, 16, 8, 3),
        norm(channels), nn.ReLU(), conv(channels, channels // 2, 1, bias=False), pool(2),
        norm(channels // 2), nn.ReLU(), GlobalAverage(), nn.Linear(channels // 2, NUM_CLASSES),
    )


class HandTransformer(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.embed = conv_class(shape)(shape[0], 32, 1)
        self.block = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True,
                                                norm_first=True)
        self.norm = nn.LayerNorm(32)
        self.classifier = nn.Linear(32, NUM_CLASSES)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.classifier(self.norm(self.block(tokens)).mean(1))


class HandMnist1dCnn(nn.Module):
    """The CNN of the MNIST-1D paper's code: three Conv1d(25) layers, kernels 5/3/3, stride 2, padding 1."""

    def __init__(self, shape):
        super().__init__()
        conv = conv_class(shape)
        self.features = nn.Sequential(
            conv(shape[0], 25, 5, 2, 1), nn.ReLU(), conv(25, 25, 3, 2, 1), nn.ReLU(), conv(25, 25, 3, 2, 1), nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(feature_count(self.features, shape), NUM_CLASSES)

    def forward(self, x):
        return self.classifier(self.features(x))


class HandMnist1dMlp(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.first = nn.Linear(math.prod(shape), 100)
        self.second = nn.Linear(100, 100)
        self.classifier = nn.Linear(100, NUM_CLASSES)

    def forward(self, x):
        hidden = torch.relu(self.first(x.flatten(1)))
        return self.classifier(hidden + torch.relu(self.second(hidden)))


HAND_WRITTEN = {
    "resnet": hand_resnet,
    "mobilenet_v2": hand_mobilenet_v2,
    "vgg": hand_vgg,
    "densenet": hand_densenet,
    "transformer": HandTransformer,
    "mnist1d_cnn": HandMnist1dCnn,
    "mnist1d_mlp": HandMnist1dMlp,
}

CASES = [pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
         for name in HAND_WRITTEN for shape in (SEQUENCE, IMAGE)]


def counted_flops(network: nn.Module, shape) -> int:
    # Training mode keeps nn.MultiheadAttention off its fused eval path, which FlopCounterMode
    # does not count; a batch of two lets batch norm run, so the total is halved.
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network.train()(torch.randn(2, *shape))
    return counter.get_total_flops() // 2


def test_every_known_architecture_has_a_hand_written_twin():
    expected = {"resnet", "mobilenet_v2", "vgg", "densenet", "transformer", "mnist1d_cnn", "mnist1d_mlp"}

    assert expected <= set(zoo.SEEDS)
    assert set(HAND_WRITTEN) == expected


@pytest.mark.parametrize("name, shape", CASES)
def test_known_architecture_parameters_match_hand_written(name, shape):
    genome = zoo.build_seed(name, shape, NUM_CLASSES)
    hand = HAND_WRITTEN[name](shape)

    assert count_parameters(genome, shape, NUM_CLASSES) == sum(p.numel() for p in hand.parameters())


@pytest.mark.parametrize("name, shape", CASES)
def test_known_architecture_flops_match_hand_written(name, shape):
    genome = zoo.build_seed(name, shape, NUM_CLASSES)
    plan = infer_shapes(genome, shape, NUM_CLASSES)
    hand = HAND_WRITTEN[name](shape)

    assert plan.flop_count.matmul == counted_flops(hand, shape)
    assert plan.flop_count.matmul == counted_flops(decode(genome, shape, NUM_CLASSES), shape)


@pytest.mark.parametrize("shape", [SEQUENCE, IMAGE])
def test_transformer_attention_products_counted(shape):
    plan = infer_shapes(zoo.build_seed("transformer", shape, NUM_CLASSES), shape, NUM_CLASSES)
    positions = math.prod(shape[1:])
    head_dim = 32 // 4

    assert plan.flop_count.attention == 2 * 2 * 4 * positions * positions * head_dim


@pytest.mark.parametrize("name, shape", CASES)
def test_known_architecture_output_shape(name, shape):
    network = decode(zoo.build_seed(name, shape, NUM_CLASSES), shape, NUM_CLASSES).eval()

    with torch.no_grad():
        output = network(torch.randn(3, *shape))

    assert output.shape == (3, NUM_CLASSES)


@pytest.mark.parametrize("name", ["resnet", "mobilenet_v2", "vgg", "densenet", "transformer"])
def test_spatial_architecture_rejects_flat_input(name):
    from genomes import ShapeError

    with pytest.raises(ShapeError, match=r"node \d+: operation '\w+' cannot take a flat \(40,\) input"):
        infer_shapes(zoo.build_seed(name, (40,), NUM_CLASSES), (40,), NUM_CLASSES)


def test_unknown_seed_lists_known():
    with pytest.raises(LookupError, match="known seeds: .*resnet"):
        zoo.build_seed("alexnet", SEQUENCE, NUM_CLASSES)
