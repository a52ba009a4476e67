import json

import pytest
from click.testing import CliRunner

from evo.cli import main
from genomes.zoo import small_cnn


@pytest.fixture
def genome_file(tmp_path):
    path = tmp_path / "genome.json"
    path.write_text(small_cnn((1, 8, 8), 10).to_json())
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["--quiet", "evaluate", *map(str, args)])


def test_evaluate_prints_objectives(genome_file):
    result = invoke(genome_file, "--task", "digits", "--set", "steps=40",
                    "--objectives", "accuracy,params,robust_noise")

    assert result.exit_code == 0, result.output
    assert "status     ok" in result.output
    assert "robust_noise" in result.output
    assert "test_accuracy" in result.output


def test_evaluate_json_is_record(genome_file, tmp_path):
    budget = tmp_path / "budget.json"
    budget.write_text(json.dumps({"steps": 40, "batch_size": 16}))

    result = invoke(genome_file, "--task", "digits", "--budget", budget, "--seed", 3, "--json")
    again = invoke(genome_file, "--task", "digits", "--budget", budget, "--seed", 3, "--json")
    record = json.loads(result.output)

    assert result.exit_code == 0, result.output
    assert record["status"] == "ok"
    assert set(record["objectives"]) == {"accuracy", "flops", "params"}
    assert record["metrics"]["steps"] == 40
    assert json.loads(again.output)["objectives"] == record["objectives"]


def test_evaluate_rejected_genome_exits_1(genome_file):
    result = invoke(genome_file, "--task", "digits", "--set", "max_parameters=10")

    assert result.exit_code == 1
    assert "status     rejected" in result.output
    assert "over the cap of 10" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "digitz"], "unknown task 'digitz'"),
        (["--task", "digits", "--set", "stepz=3"], "Did you mean 'steps'?"),
        (["--task", "digits", "--set", "steps"], "Use KEY=VALUE"),
        (["--task", "digits", "--objectives", "accuracy,speed"], "unknown objective 'speed'"),
    ],
)
def test_evaluate_invalid_arguments(genome_file, args, message):
    result = invoke(genome_file, *args)

    assert result.exit_code == 1
    assert message in result.output


def test_evaluate_invalid_genome_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"nodes": []}')

    result = invoke(path, "--task", "digits")

    assert result.exit_code == 1
    assert "is not a valid genome" in result.output
