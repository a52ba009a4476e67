"""Known architectures as genomes, usable as seeds of a campaign.

Each builder takes the task's ``input_shape`` and ``num_classes`` so the same description adapts to
the task; the builders that need spatial axes only fit sequence and image tasks, and a campaign
drops seeds outside its search space with a log message.
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
    )
}


def build_seed(name: str, input_shape: Sequence[int], num_classes: int) -> Genome:
    """Build a known architecture by name; raise LookupError listing the known names."""
    try:
        seed = SEEDS[name]
    except KeyError:
        raise LookupError(f"unknown seed {name!r}; known seeds: {sorted(SEEDS)}") from None
    return seed.build(input_shape, num_classes)
