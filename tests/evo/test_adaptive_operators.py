import dataclasses
import json
import sqlite3

import numpy as np
import pytest

from evo.adaptive import AdaptivePursuit, OperatorSelection
from evo.config import CampaignConfig, ConfigError, load_preset
from populations import Store
from reports.adaptive import operator_probabilities
from reports.report import write_report

from campaign_helpers import run_campaign

FLOOR = 0.05


def adaptive_config(path, **search):
    config = load_preset("smoke").with_overrides(db=str(path))
    settings = {"adaptive_operators": True, "operator_floor": FLOOR, "generations": 3, **search}
    return config.replace(search=dataclasses.replace(config.search, **settings))


def stored_states(path):
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT number, state FROM generations ORDER BY number").fetchall()
    finally:
        connection.close()
    return {number: json.loads(state) for number, state in rows}


def outcome(path):
    connection = sqlite3.connect(path)
    try:
        lineage = connection.execute("SELECT child_id, parent_id, operator FROM lineage ORDER BY 1, 2").fetchall()
        individuals = connection.execute("SELECT id, genome_hash FROM individuals ORDER BY id").fetchall()
    finally:
        connection.close()
    states = stored_states(path)
    return lineage, individuals, {n: s["adaptive_operators"] for n, s in states.items()}


def test_pursuit_respects_floor_after_many_updates():
    pursuit = AdaptivePursuit(("a", "b", "c", "d"), floor=0.1)
    for _ in range(200):
        pursuit.update({"a": [1.0, 1.0], "b": [0.0], "c": [0.0]})
    probabilities = pursuit.probabilities
    assert min(probabilities.values()) >= 0.1 - 1e-12
    assert probabilities["a"] == pytest.approx(1 - 3 * 0.1)
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_pursuit_moves_towards_rewarded_operator():
    pursuit = AdaptivePursuit(("a", "b"), floor=0.05)
    pursuit.update({"b": [1.0]})
    assert pursuit.probabilities["b"] > 0.5
    assert pursuit.probabilities["a"] < 0.5


def test_pursuit_keeps_stored_probabilities_exactly():
    stored = {"a": 0.1234567890123, "b": 1 - 0.1234567890123}
    pursuit = AdaptivePursuit(("a", "b"), floor=0.05, probabilities=dict(stored))
    assert pursuit.probabilities == stored


def test_pursuit_rescales_foreign_priors():
    pursuit = AdaptivePursuit(("a", "b", "c"), floor=0.1, probabilities={"a": 0.9, "z": 0.1})
    assert min(pursuit.probabilities.values()) >= 0.1
    assert sum(pursuit.probabilities.values()) == pytest.approx(1.0)
    assert pursuit.probabilities["a"] > pursuit.probabilities["b"]


def test_pick_draws_with_probabilities():
    selection = OperatorSelection(["a", "b"], [], 0.05, {"mutation": {"probabilities": {"a": 0.9, "b": 0.1}}})
    rng = np.random.default_rng(0)
    draws = [selection.pick("mutation", rng) for _ in range(2000)]
    assert 0.85 < draws.count("a") / len(draws) < 0.95


@pytest.mark.parametrize("settings, message", [
    ({"operator_floor": 0.5}, "operator_floor"),
    ({"operator_floor": -0.1}, "operator_floor"),
    ({"adaptive_operators": "yes"}, "adaptive_operators"),
    ({"adaptive_operators": True, "algorithm": "aging"}, "generational"),
    ({"motif_count": 0}, "motif_count"),
    ({"operators": ["insert_motif", "insert_node"], "algorithm": "steady_state"}, "insert_motif"),
    ({"operators": ["no_such_operator"]}, "insert_motif"),
])
def test_config_rejects_invalid_feedback_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        CampaignConfig.from_dict({"name": "x", "search": settings})


def test_probabilities_stored_per_generation(tmp_path):
    config = adaptive_config(tmp_path / "a.sqlite")
    run_campaign(config)
    states = stored_states(config.db_path)

    assert sorted(states) == [0, 1, 2, 3]
    for number, state in states.items():
        used = state["adaptive_operators"]["used"]["mutation"]
        assert set(used) == set(config.search.operators) - {"one_point_crossover", "aligned_crossover",
                                                             "subgraph_crossover"}
        assert sum(used.values()) == pytest.approx(1.0)
        assert min(used.values()) >= FLOOR - 1e-12
    first = states[0]["adaptive_operators"]["used"]["mutation"]
    assert len(set(first.values())) == 1
    for number in (1, 2, 3):
        previous = states[number - 1]["adaptive_operators"]["next"]
        used = states[number]["adaptive_operators"]["used"]
        assert used["mutation"] == previous["mutation"]["probabilities"]
        assert used["crossover"] == previous["crossover"]["probabilities"]
    assert any(states[3]["adaptive_operators"]["used"]["mutation"][name] != first[name] for name in first)


def test_adaptive_resume_matches_straight_run(tmp_path):
    straight = adaptive_config(tmp_path / "straight.sqlite")
    run_campaign(straight)
    resumed = adaptive_config(tmp_path / "resumed.sqlite", generations=1)
    run_campaign(resumed)
    run_campaign(resumed.replace(search=dataclasses.replace(resumed.search, generations=3)))
    assert outcome(straight.db_path) == outcome(resumed.db_path)


def test_adaptive_two_processes_match_serial(tmp_path):
    serial = adaptive_config(tmp_path / "serial.sqlite", generations=2)
    run_campaign(serial)
    pooled = adaptive_config(tmp_path / "pool.sqlite", generations=2).with_overrides(workers=2, executor="process")
    run_campaign(pooled)
    assert outcome(serial.db_path) == outcome(pooled.db_path)


def test_adaptive_off_stores_no_probabilities(tmp_path):
    config = adaptive_config(tmp_path / "off.sqlite", adaptive_operators=False, generations=1)
    run_campaign(config)
    assert all("adaptive_operators" not in state for state in stored_states(config.db_path).values())


def test_report_shows_operator_probabilities(tmp_path):
    config = adaptive_config(tmp_path / "r.sqlite", generations=2)
    run_campaign(config)
    with Store(config.db_path, readonly=True) as store:
        table = operator_probabilities(store, 1)
    assert list(table["generation"].unique()) == [0, 1, 2]
    mutations = table[table["group"] == "mutation"]
    assert mutations.groupby("generation")["probability"].sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    out = write_report(config.db_path, tmp_path / "report.html")[0]
    text = out.read_text()
    assert "Operator probabilities" in text
    assert "insert_node" in text
