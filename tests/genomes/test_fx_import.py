"""Import of nn.Modules through torch.fx: same parameters, FLOPs and outputs; clear errors."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from genomes import count_parameters, decode, infer_shapes
from genomes.fx_import import ModuleImportError, copy_weights, import_module, import_spec
from genomes.zoo import build_seed


class BranchyNet(nn.Module):
    """Conv, batch norm, a residual add, a concat, a strided bias-free conv, pooling, GAP head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(1, 8, 5, padding=2)
        self.norm = nn.BatchNorm1d(8)
        self.body = nn.Conv1d(8, 8, 3, padding=1)
        self.reduce = nn.Conv1d(16, 12, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool1d(2)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        a = F.relu(self.norm(self.stem(x)))
        b = torch.relu(self.body(a)) + a
        c = torch.cat([a, b], dim=1)
        d = self.pool(F.gelu(self.reduce(c)))
        return self.fc(torch.flatten(self.gap(d), 1))


class ImageNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, groups=3), nn.BatchNorm2d(6), nn.Hardswish(),
            nn.AvgPool2d(2), nn.Conv2d(6, 6, 3, padding=2, dilation=2), nn.Sigmoid(), nn.Flatten(),
        )
        self.hidden = nn.Linear(6 * 4 * 4, 16)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(self.drop(F.silu(self.hidden(self.features(x)))))


class FlatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(40, 16)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.norm(self.first(x.view(x.size(0), -1)))))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(40, 3)

    def forward(self, x):
        if x.sum() > 0:
            x = x * 2
        return self.fc(x)


class UsesSine(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(40, 3)

    def forward(self, x):
        return self.fc(torch.sin(x))


class EndsInSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(40, 3)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


CASES = [
    pytest.param(BranchyNet, (1, 1, 40), id="sequence-branches"),
    pytest.param(ImageNet, (1, 3, 8, 8), id="image-grouped-dilated"),
    pytest.param(FlatNet, (1, 40), id="flat-layernorm"),
]


def perturbed(module: nn.Module) -> nn.Module:
    """The module in eval mode with random batch-norm statistics, so copying them matters."""
    torch.manual_seed(0)
    for layer in module.modules():
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layer.running_mean.normal_()
            layer.running_var.uniform_(0.5, 2.0)
    return module.eval()


def counted(network, shape):
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network.eval()(torch.randn(*shape))
    return counter.get_total_flops()


@pytest.mark.parametrize("module_class, shape", CASES)
def test_import_keeps_parameters_and_flops(module_class, shape):
    module = perturbed(module_class())
    imported = import_module(module, shape)
    network = decode(imported.genome, imported.input_shape, imported.num_classes)

    assert count_parameters(imported.genome, imported.input_shape, imported.num_classes) == \
        sum(p.numel() for p in module.parameters())
    assert infer_shapes(imported.genome, imported.input_shape, imported.num_classes).flop_count.matmul == \
        counted(module, shape)
    assert counted(network, shape) == counted(module, shape)


@pytest.mark.parametrize("module_class, shape", CASES)
def test_import_with_weights_gives_same_outputs(module_class, shape):
    module = perturbed(module_class())
    imported = import_module(module, shape)
    network = decode(imported.genome, imported.input_shape, imported.num_classes)
    copy_weights(module, network, imported)
    batch = torch.randn(5, *shape[1:])

    with torch.no_grad():
        expected = module(batch)
        actual = network.eval()(batch)

    assert torch.allclose(actual, expected, atol=1e-6)


def test_import_reads_head_kind():
    assert import_module(BranchyNet(), (1, 1, 40)).genome.head == "gap"
    assert import_module(FlatNet(), (1, 40)).genome.head == "flatten"


@pytest.mark.parametrize("module_class, match", [
    (DataDependent, r"module DataDependent: torch.fx cannot trace forward .*control flow"),
    (UsesSine, r"module UsesSine: operation 'sin' \(sin\): function sin is not supported"),
    (EndsInSoftmax, r"module EndsInSoftmax: the output is not a Linear layer"),
])
def test_import_error_names_module_and_operation(module_class, match):
    with pytest.raises(ModuleImportError, match=match):
        import_module(module_class(), (1, 40))


def test_import_spec_from_file(tmp_path):
    source = tmp_path / "model.py"
    source.write_text(
        "from torch import nn\n"
        "class Tiny(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv1d(1, 4, 3, padding=1)\n"
        "        self.fc = nn.Linear(160, 10)\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.conv(x).relu().flatten(1))\n"
    )

    imported = import_spec(f"{source}:Tiny", (1, 1, 40))
    genome = build_seed(f"{source}:Tiny", (1, 40), 10)

    assert [node.op for node in imported.genome.nodes] == ["conv"]
    assert imported.genome.nodes[0].activation == "relu"
    assert genome.canonical_hash() == imported.genome.canonical_hash()


@pytest.mark.parametrize("spec, match", [
    ("missing.py:Net", r"module file missing.py not found"),
    ("no-colon", r"module spec 'no-colon' is invalid"),
])
def test_import_spec_errors(spec, match):
    with pytest.raises(ModuleImportError, match=match):
        import_spec(spec, (1, 1, 40))


def test_seed_with_wrong_class_count_rejected(tmp_path):
    source = tmp_path / "model.py"
    source.write_text("from torch import nn\nclass Three(nn.Sequential):\n    def __init__(self):\n"
                      "        super().__init__(nn.Flatten(), nn.Linear(40, 3))\n")

    with pytest.raises(ModuleImportError, match="3 outputs but the task has 10 classes"):
        build_seed(f"{source}:Three", (1, 40), 10)
