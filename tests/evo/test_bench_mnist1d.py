"""The MNIST-1D benchmark commands, run at tiny budgets on the smoke preset (8x8 digits)."""

import csv
import json
import sys

import pytest
from click.testing import CliRunner

from evo.bench_mnist1d import markdown_table, write_table
from evo.cli import main

TINY = ["--preset", "smoke", "--seeds", "0", "--population", "3", "--generations", "1", "--workers", "1"]


def invoke(*args):
    return CliRunner().invoke(main, ["bench", *args])


def test_strategies_table_in_csv(tmp_path):
    out = tmp_path / "strategies.csv"
    result = invoke("mnist1d-strategies", *TINY, "--strategies", "engine,random", "--out", str(out))
    assert result.exit_code == 0, result.output

    (row,) = list(csv.DictReader(out.open()))
    assert row["evaluations"] == "6"
    for name in ("engine", "random"):
        assert 0 < float(row[name]) <= 1
    assert float(row["engine/random"]) == pytest.approx(float(row["engine"]) / float(row["random"]))
    assert "optuna" not in row
    assert "| seed | evaluations | engine |" in result.output


def test_optuna_strategy_with_the_bench_extra():
    pytest.importorskip("optuna", reason="needs the bench extra: pip install -e '.[bench]'")
    result = invoke("mnist1d-strategies", *TINY, "--json")
    assert result.exit_code == 0, result.output

    (row,) = json.loads(result.stdout)
    assert 0 < row["optuna"] <= 1
    assert row["engine/optuna"] == pytest.approx(row["engine"] / row["optuna"])


def test_adaptive_engine_alone_has_no_ratios():
    result = invoke("mnist1d-strategies", *TINY, "--strategies", "engine", "--engine", "adaptive", "--json")
    assert result.exit_code == 0, result.output

    (row,) = json.loads(result.stdout)
    assert set(row) == {"seed", "evaluations", "engine"}
    assert 0 < row["engine"] <= 1


def test_strategies_without_optuna_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = invoke("mnist1d-strategies", *TINY)
    assert result.exit_code == 1
    assert "Optuna, which is not installed" in result.output
    assert "pip install 'evonas[bench]'" in result.output


def test_strategies_unknown_name():
    result = invoke("mnist1d-strategies", *TINY, "--strategies", "engine,grid")
    assert result.exit_code == 1
    assert "choose from engine, random, optuna" in result.output


def test_paper_row_respects_parameter_limit():
    result = invoke("mnist1d-paper", *TINY, "--max-params", "3000", "--json")
    assert result.exit_code == 0, result.output

    (row,) = json.loads(result.stdout)
    assert row["paper_params"] > 3000
    assert row["best_params"] <= 3000
    assert 0 <= row["best_test_accuracy"] <= 1
    assert 0 <= row["paper_test_accuracy"] <= 1


def test_feedback_ratio_is_warm_over_cold(tmp_path):
    out = tmp_path / "feedback.md"
    result = invoke("feedback", *TINY, "--steps", "20", "--json", "--out", str(out))
    assert result.exit_code == 0, result.output

    (row,) = json.loads(result.stdout)
    assert row["warm/cold"] == pytest.approx(row["warm"] / row["cold"])
    assert out.read_text().startswith("| seed | donor | cold | warm | warm/cold |")


@pytest.mark.parametrize("seeds, message", [
    ("", "not a comma-separated list"),
    ("0,x", "not a comma-separated list"),
    ("0,,1", "not a comma-separated list"),
    ("0,0", "seed 0 more than once"),
    ("-1", "negative seed"),
])
def test_invalid_seed_list(seeds, message):
    result = invoke("feedback", "--seeds", seeds)
    assert result.exit_code == 2
    assert "--seeds" in result.output
    assert message in result.output


@pytest.mark.parametrize("out, message", [
    ("{tmp}/missing/table.md", "does not exist; create it first"),
    ("", "is not a file name"),
])
def test_bad_out_is_rejected_before_running(tmp_path, out, message):
    result = invoke("mnist1d-strategies", *TINY, "--out", out.format(tmp=tmp_path))

    assert result.exit_code == 2
    assert message in result.output
    assert "engine/random" not in result.output, "rejected before any campaign ran"


def test_markdown_table_adds_mean_row(tmp_path):
    rows = [{"seed": 0, "engine": 0.5}, {"seed": 1, "engine": 0.7}]
    lines = markdown_table(rows).splitlines()
    assert lines[0] == "| seed | engine |"
    assert lines[-1] == "| mean | 0.6000 |"

    write_table(rows, tmp_path / "rows.csv")
    assert (tmp_path / "rows.csv").read_text() == "seed,engine\n0,0.5\n1,0.7\n"
