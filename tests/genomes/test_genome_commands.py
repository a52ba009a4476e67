"""`evo genome show` and `evo seeds list|import`, run through click's test runner."""

import json

import pytest
from click.testing import CliRunner

from evo.cli import main
from genomes import Genome, count_parameters, zoo

MODEL = """
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.fc = nn.Linear(160, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(40, 10)

    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return self.fc(x.flatten(1))
"""


def invoke(*args):
    return CliRunner().invoke(main, ["-q", *args])


def test_seeds_list_shows_known_architectures():
    result = invoke("seeds", "list", "--task", "digits")

    assert result.exit_code == 0
    for name in ("resnet", "mobilenet_v2", "vgg", "densenet", "transformer", "mnist1d_cnn", "mnist1d_mlp"):
        assert name in result.output


def test_genome_show_json_totals(tmp_path):
    path = tmp_path / "cnn.json"
    genome = zoo.build_seed("mnist1d_cnn", (1, 40), 10)
    path.write_text(genome.to_json())

    result = invoke("genome", "show", str(path), "--task", "mnist1d", "--json")
    summary = json.loads(result.output)

    assert result.exit_code == 0
    assert summary["parameters"] == 5_210
    assert [row["id"] for row in summary["nodes"]] == [1, 2, 3]
    assert summary["nodes"][0]["out_shape"] == "sequence (25, 19)"
    assert summary["flops"] == sum(summary["flops_by_kind"].values())


def test_genome_show_table_lists_dead_nodes(tmp_path):
    path = tmp_path / "dead.json"
    genome = Genome.from_dict({"nodes": [
        {"id": 1, "op": "linear", "params": {"width": 8}, "inputs": [0]},
        {"id": 2, "op": "linear", "params": {"width": 3}, "inputs": [1]},
    ], "output": 1})
    path.write_text(genome.to_json())

    result = invoke("genome", "show", str(path), "--task", "mnist1d")

    assert result.exit_code == 0
    assert "dead nodes" in result.output
    assert "[2]" in result.output
    assert "total 418 parameters" in result.output


@pytest.mark.parametrize("source, message", [
    ("missing.json", "cannot read genome file missing.json"),
    ("not-a-genome", "is neither a genome .json file nor DB:ID"),
])
def test_genome_show_bad_source(source, message):
    result = invoke("genome", "show", source)

    assert result.exit_code == 1
    assert message in result.output


def test_seeds_import_writes_genome(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    out = tmp_path / "tiny.json"

    result = invoke("seeds", "import", f"{tmp_path / 'model.py'}:Tiny", "--example-shape", "1,1,40", "--out", str(out))
    genome = Genome.from_json(out.read_text())

    assert result.exit_code == 0
    assert "1 nodes" in result.output
    assert count_parameters(genome, (1, 40), 10) == 4 * 3 + 4 + 160 * 10 + 10


def test_seeds_import_control_flow_fails_with_one_line(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)

    result = invoke("seeds", "import", f"{tmp_path / 'model.py'}:Branchy", "--example-shape", "1,1,40",
                    "--out", str(tmp_path / "x.json"))

    assert result.exit_code == 1
    assert "module Branchy" in result.output
    assert "control flow" in result.output
    assert not (tmp_path / "x.json").exists()


def test_seeds_import_bad_shape(tmp_path):
    result = invoke("seeds", "import", "model.py:Tiny", "--example-shape", "1,x", "--out", str(tmp_path / "x.json"))

    assert result.exit_code == 1
    assert "--example-shape '1,x' is invalid" in result.output
