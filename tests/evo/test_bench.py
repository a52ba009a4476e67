from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evo.bench import STRATEGIES, Budget, canonical_key, compare, run_strategy
from evo.cli import main
from fitness.tabular import (NB201_EDGES, TabularError, load_macro, load_nb201, nb201_genome,
                             nb201_string, parse_nb201_string)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NB201 = DATA / "nas-bench-201" / "nb201_accuracies.csv"
MACRO = DATA / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
needs_tables = pytest.mark.skipif(not NB201.exists() or not MACRO.exists(),
                                  reason=f"benchmark tables not found under {DATA}")


@pytest.fixture(scope="module")
def nb201():
    return load_nb201(NB201)


def test_cell_string_round_trip():
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    cell = parse_nb201_string(text)
    assert cell == (3, 3, 4, 1, 3, 1)
    assert nb201_string(cell) == text


def test_cell_string_errors():
    with pytest.raises(TabularError, match="unknown NAS-Bench-201 operation 'conv_7x7'"):
        parse_nb201_string("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(TabularError, match="6 edges"):
        parse_nb201_string("|none~0|")


def test_missing_table_names_path(tmp_path):
    with pytest.raises(TabularError, match="not found"):
        load_nb201(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(TabularError, match="lacks column"):
        load_nb201(wrong)


def test_dead_edges_share_canonical_key():
    # Node 3 reads only the input, so the operations on edges into nodes 1 and 2 are dead.
    first = (3, 2, 4, 3, 0, 0)
    second = (1, 4, 2, 3, 0, 0)
    assert canonical_key_nb201(first) == canonical_key_nb201(second)
    assert canonical_key_nb201(first) != canonical_key_nb201((3, 2, 4, 2, 0, 0))


def test_zero_output_cell_has_no_genome():
    assert nb201_genome((3, 3, 3, 0, 0, 0)) is None
    assert len(NB201_EDGES) == 6


def canonical_key_nb201(cell):
    class Space:
        name = "nb201-cifar10"
    return canonical_key(Space(), cell)


@needs_tables
def test_nb201_table_loads(nb201):
    assert nb201.size() == 15625
    assert nb201.best_report() == pytest.approx(94.3733)
    assert not np.isnan(nb201.search).any()


@needs_tables
def test_macro_table_loads():
    macro = load_macro(MACRO)
    assert macro.size() == 6561
    assert macro.best_report() == pytest.approx(93.1267, abs=1e-3)
    assert macro.report[macro.index((2, 2, 2, 1, 2, 2, 2, 0))] == pytest.approx(macro.best_report())


@needs_tables
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_reproducible_and_within_budget(nb201, name):
    first = run_strategy(name, nb201, 50, seed=3)
    second = run_strategy(name, nb201, 50, seed=3)
    assert first == second
    budget = Budget(nb201, 50)
    STRATEGIES[name](nb201, budget, np.random.default_rng(0))
    assert budget.left == 0
    assert len(budget.seen) <= 50


@needs_tables
def test_engine_never_queries_same_network_twice(nb201):
    budget = Budget(nb201, 200)
    STRATEGIES["engine"](nb201, budget, np.random.default_rng(1))
    keys = [canonical_key(nb201, arch) for arch in budget.seen]
    assert len(keys) == len(set(keys)) == 200


@needs_tables
def test_random_search_matches_reference(nb201):
    # The benchmark's reference simulation gives 93.75 at 100 evaluations.
    row = compare(nb201, ["random"], [100], runs=60, seed=0)[0]
    assert abs(row["mean"] - 93.75) < 0.15


@needs_tables
def test_bench_command_prints_table():
    result = CliRunner().invoke(main, ["bench", "nb201", "--data", str(NB201), "--runs", "3",
                                       "--evaluations", "20"])
    assert result.exit_code == 0, result.output
    assert "regularized_evolution" in result.output
    assert "engine" in result.output


def test_bench_command_errors(tmp_path):
    result = CliRunner().invoke(main, ["bench", "nb201", "--data", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert "not found" in result.output
    result = CliRunner().invoke(main, ["bench", "nb201", "--data", str(NB201), "--strategies", "magic"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["bench", "nb201", "--data", str(NB201), "--evaluations", "a,b"])
    assert result.exit_code == 2
