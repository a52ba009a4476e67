"""Export to PyTorch source, TorchScript and ONNX, and the SVG genome picture."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ElementTree

import pytest
import torch

from genomes import Genome, GenomeError, Node
from genomes.zoo import SEEDS
from reports.drawing import genome_svg
from reports.export import ExportError, build_network, export_network

SHAPES = [((1, 40), 10), ((1, 8, 8), 10), ((64,), 10)]


def _merging_genome():
    """Return a genome whose merges need projection, resampling and concatenation."""
    return Genome((
        Node(1, "conv", (("width", 6), ("kernel", 3)), "relu", "add", (0,)),
        Node(2, "conv", (("width", 4), ("kernel", 3), ("stride", 2)), "gelu", "add", (1,)),
        Node(3, "maxpool", (), "identity", "add", (1, 2)),
        Node(4, "batchnorm", (), "tanh", "concat", (3, 1)),
        Node(5, "linear", (("width", 12),), "silu", "add", (4,)),
    ), output=5)


def _attention_genome():
    """Return a genome with the decoder's own module classes: channel layer norm and attention."""
    return Genome((
        Node(1, "conv", (("width", 6), ("kernel", 3)), "relu", "add", (0,)),
        Node(2, "layernorm", (), "identity", "add", (1,)),
        Node(3, "attention", (("heads", 2),), "gelu", "add", (2, 1)),
    ), output=3)


def _cases():
    cases = [
        ("merging", _merging_genome(), (1, 40), 10),
        ("merging-image", _merging_genome(), (1, 8, 8), 10),
        ("attention", _attention_genome(), (1, 40), 10),
        ("attention-image", _attention_genome(), (1, 8, 8), 10),
    ]
    for name, seed in SEEDS.items():
        for shape, classes in SHAPES:
            try:
                genome = seed.build(shape, classes)
                build_network(genome, shape, classes)
            except (GenomeError, ValueError):
                continue
            cases.append((f"{name}-{'x'.join(map(str, shape))}", genome, shape, classes))
    return cases


CASES = _cases()


def _load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, genome, shape, classes", CASES, ids=[case[0] for case in CASES])
def test_python_source_matches_decoded(tmp_path, name, genome, shape, classes):
    network = build_network(genome, shape, classes, seed=3)
    path = export_network(network, "py", tmp_path / "exported.py")
    batch = torch.randn(7, *shape)

    module = _load_module(path)
    exported = module.load_network()

    assert "genomes" not in path.read_text(encoding="utf-8").split('"""', 2)[2]
    with torch.no_grad():
        assert torch.allclose(exported(batch), network(batch), atol=1e-6, rtol=0)
        flat = batch.reshape(7, -1)
        assert torch.allclose(exported(flat), network(flat), atol=1e-6, rtol=0)


def test_source_runs_without_the_project(tmp_path):
    network = build_network(_merging_genome(), (1, 40), 10)
    path = export_network(network, "py", tmp_path / "standalone.py")
    script = tmp_path / "check.py"
    script.write_text(
        "import sys\nsys.path.insert(0, '.')\n"
        "sys.modules['genomes'] = None\nsys.modules['reports'] = None\n"
        "import torch, standalone\n"
        "print(tuple(standalone.load_network()(torch.zeros(2, 40)).shape))\n",
        encoding="utf-8",
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 10)"


def test_trained_weights_are_exported(tmp_path):
    genome = _merging_genome()
    trained = build_network(genome, (1, 40), 10, seed=1)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.5)
    rebuilt = build_network(genome, (1, 40), 10, trained.state_dict(), seed=2)
    path = export_network(rebuilt, "py", tmp_path / "trained.py")

    exported = _load_module(path).load_network()
    batch = torch.randn(3, 40)

    with torch.no_grad():
        assert torch.allclose(exported(batch), trained.eval()(batch), atol=1e-6, rtol=0)


def test_torchscript_matches_decoded(tmp_path):
    network = build_network(_merging_genome(), (1, 40), 10)
    path = export_network(network, "torchscript", tmp_path / "net.pt")
    batch = torch.randn(5, 1, 40)

    loaded = torch.jit.load(str(path))

    with torch.no_grad():
        assert torch.allclose(loaded(batch), network(batch), atol=1e-6, rtol=0)


def test_onnx_matches_decoded(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra (onnx, onnxruntime) is not installed")
    network = build_network(_merging_genome(), (1, 40), 10)
    path = export_network(network, "onnx", tmp_path / "net.onnx")
    batch = torch.randn(5, 1, 40)

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": batch.numpy()})

    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(logits), network(batch), atol=1e-5, rtol=0)


def test_unknown_format_rejected(tmp_path):
    network = build_network(_merging_genome(), (1, 40), 10)

    with pytest.raises(ExportError, match="unknown export format 'keras'. Use one of: py, torchscript, onnx"):
        export_network(network, "keras", tmp_path / "net.h5")


def test_svg_is_well_formed_with_shapes():
    svg = genome_svg(_merging_genome(), (1, 40), 10, title="a <merging> genome & co")

    root = ElementTree.fromstring(svg)
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "a <merging> genome & co" in texts
    assert "1: conv k3 w6" in texts
    assert "identity · add · 6x10" in texts
    assert "tanh · concat · 12x10" in texts
    assert "head: flatten" in texts
    assert "linear to 10 classes" in texts
    assert len(root.findall("{http://www.w3.org/2000/svg}path")) == 8


def test_svg_without_shapes_leaves_dead_nodes_out():
    genome = Genome((
        Node(1, "conv", (("width", 4),), "relu", "add", (0,)),
        Node(2, "batchnorm", (), "relu", "add", (1,)),
        Node(3, "linear", (("width", 8),), "relu", "add", (1,)),
    ), output=3)

    svg = genome_svg(genome)

    assert "batchnorm" not in svg
    assert "after the stem" in svg


def test_svg_of_genome_that_does_not_fit():
    genome = Genome((Node(1, "conv", (("width", 4),), "relu", "add", (0,)),), output=1)

    with pytest.raises(GenomeError, match="node 1"):
        genome_svg(genome, (64,), 10)
