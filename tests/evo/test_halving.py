"""Successive halving on real smoke campaigns: rung budgets, promotion, storage, determinism."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fitness
from evo.campaign import Campaign, derived_seed
from evo.config import PRESETS_DIR, CampaignConfig, ConfigError, load_config, load_preset
from evo.halving import rung_steps, rung_task_key
from evo.selection import Member, fitness_order
from populations import Store

from campaign_helpers import kill_when_paused, rows, run_campaign

HALVING = {"rungs": 3, "eta": 2}
# The smoke preset trains for 60 steps, so the rungs train for 15, 30 and 60.
RUNG_STEPS = [15, 30, 60]
STAGED_LINE = re.compile(r"rung (\d) evaluation of individual (\d+) finished and staged")


def halving_config(tmp_path: Path, name: str, **run) -> CampaignConfig:
    config = load_preset("smoke").with_overrides(db=str(tmp_path / f"{name}.sqlite"))
    config = config.replace(search=dataclasses.replace(config.search, successive_halving=HALVING))
    if run:
        config = config.replace(run=dataclasses.replace(config.run, **run))
    return config


def rung_rows(path):
    return rows(path, "SELECT e.individual_id, i.generation, e.status, e.accuracy, e.flops, e.task_key,"
                      " json_extract(e.metrics, '$.rung') AS rung,"
                      " json_extract(e.metrics, '$.rung_steps') AS rung_steps,"
                      " json_extract(e.metrics, '$.steps') AS trained_steps"
                      " FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id ORDER BY e.id")


def comparable_contents(path):
    """Everything a seed decides: individuals, evaluations with their rungs, generations."""
    evaluations = rows(path, "SELECT individual_id, status, accuracy, flops, task_key, metrics"
                             " FROM evaluations ORDER BY id")
    for row in evaluations:
        metrics = json.loads(row["metrics"])
        # Wall time and latency are measurements, not results of the seed.
        row["metrics"] = {k: v for k, v in metrics.items()
                          if "second" not in k and "latency" not in k and not k.endswith("_ms")}
    return {
        "individuals": rows(path, "SELECT id, genome_hash, generation, origin FROM individuals ORDER BY id"),
        "evaluations": evaluations,
        "generations": rows(path, "SELECT number, members, front, hypervolume FROM generations ORDER BY number"),
    }


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    config = halving_config(tmp_path_factory.mktemp("serial"), "serial")
    run_campaign(config)
    return config


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, message", [
    ({"rungs": 1, "eta": 3}, r"successive_halving\.rungs = 1 is invalid"),
    ({"rungs": 11, "eta": 3}, r"successive_halving\.rungs = 11 is invalid"),
    ({"rungs": 3, "eta": 1}, r"successive_halving\.eta = 1 is invalid"),
    ({"rungs": 3, "eta": 2.5}, r"successive_halving\.eta = 2\.5 is invalid"),
    ({"rungs": True, "eta": 3}, r"successive_halving\.rungs = true is invalid"),
    ({"rungs": 3}, r"successive_halving is missing eta"),
    ({"rungs": 3, "eta": 3, "min_steps": 5}, r"unknown key 'min_steps'"),
    (3, r"successive_halving = 3 is invalid"),
])
def test_invalid_settings_rejected(value, message):
    with pytest.raises(ConfigError, match=message):
        CampaignConfig.from_dict({"name": "x", "search": {"successive_halving": value}})


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_asynchronous_algorithms_rejected(algorithm):
    search = {"algorithm": algorithm, "successive_halving": {"rungs": 2, "eta": 2}}
    with pytest.raises(ConfigError, match=r"successive_halving needs algorithm = \"generational\""):
        CampaignConfig.from_dict({"name": "x", "search": search})


def test_lowest_rung_below_one_step_rejected():
    data = {"name": "x", "budget": {"steps": 8}, "search": {"successive_halving": {"rungs": 3, "eta": 3}}}
    with pytest.raises(ConfigError, match=r"raise \[budget\] steps to at least 9"):
        CampaignConfig.from_dict(data)


def test_halving_off_by_default():
    config = load_preset("smoke")

    assert config.search.successive_halving == {}
    assert config.to_dict()["search"]["successive_halving"] == {}


def test_settings_read_from_toml(tmp_path):
    path = tmp_path / "campaign.toml"
    path.write_text((PRESETS_DIR / "smoke.toml").read_text().replace(
        "[search]", "[search]\nsuccessive_halving = { rungs = 3, eta = 2 }"))

    assert load_config(path).search.successive_halving == HALVING


@pytest.mark.parametrize("steps, settings, expected", [
    (60, {"rungs": 3, "eta": 2}, [15, 30, 60]),
    (100, {"rungs": 3, "eta": 3}, [11, 33, 100]),
    (9, {"rungs": 3, "eta": 3}, [1, 3, 9]),
    (1000, {"rungs": 2, "eta": 4}, [250, 1000]),
])
def test_rung_steps(steps, settings, expected):
    assert rung_steps(steps, settings) == expected


# -- a real campaign -----------------------------------------------------------------------------


def test_each_rung_trains_its_budget(serial_run):
    evaluations = rung_rows(serial_run.db_path)

    assert evaluations
    for row in evaluations:
        assert row["rung_steps"] == RUNG_STEPS[row["rung"]]
        if row["status"] == "ok":
            assert row["trained_steps"] == row["rung_steps"]


def test_rows_of_a_child_rise_by_rung(serial_run):
    by_child = {}
    for row in rung_rows(serial_run.db_path):
        by_child.setdefault(row["individual_id"], []).append(row["rung"])

    for rungs in by_child.values():
        assert rungs == list(range(len(rungs)))


def test_promotion_count_per_rung(serial_run):
    counts = {}
    for row in rung_rows(serial_run.db_path):
        key = (row["generation"], row["rung"])
        counts[key] = counts.get(key, 0) + 1

    for generation in range(serial_run.search.generations + 1):
        assert counts[(generation, 0)] >= 2
        for rung in (1, 2):
            assert counts[(generation, rung)] == max(1, counts[(generation, rung - 1)] // HALVING["eta"])


def test_promoted_children_rank_best(serial_run):
    names = tuple(serial_run.search.objectives)
    evaluations = rung_rows(serial_run.db_path)

    for generation in range(serial_run.search.generations + 1):
        for rung in (0, 1):
            at_rung = [r for r in evaluations if r["generation"] == generation and r["rung"] == rung]
            promoted = {r["individual_id"] for r in evaluations
                        if r["generation"] == generation and r["rung"] == rung + 1}
            members = [Member(r["individual_id"], {n: r[n] for n in names if r[n] is not None}, names)
                       for r in at_rung]
            order = fitness_order(members)
            ranked = sorted(at_rung, key=lambda r: (order[r["individual_id"]], r["individual_id"]))
            assert promoted == {r["individual_id"] for r in ranked[:len(promoted)]}


def test_unpromoted_children_keep_lower_rung(serial_run):
    latest = rows(serial_run.db_path, "SELECT individual_id, accuracy, json_extract(metrics, '$.rung') AS rung"
                                      " FROM latest_evaluation")
    evaluations = rung_rows(serial_run.db_path)
    highest = {}
    for row in evaluations:
        highest[row["individual_id"]] = row

    assert any(row["rung"] == 0 for row in latest)
    assert any(row["rung"] == 2 for row in latest)
    for row in latest:
        assert row["rung"] == highest[row["individual_id"]]["rung"]
        assert row["accuracy"] == highest[row["individual_id"]]["accuracy"]


def test_cache_key_per_rung(serial_run):
    with Store(serial_run.db_path) as store:
        campaign = Campaign(serial_run, store, progress=False)
    keys = {}
    for row in rung_rows(serial_run.db_path):
        keys.setdefault(row["rung"], set()).add(row["task_key"])

    assert keys[2] == {campaign.task_key}
    assert keys[0] == {rung_task_key(campaign.task_key, 0, RUNG_STEPS)}
    assert keys[1] == {rung_task_key(campaign.task_key, 1, RUNG_STEPS)}
    assert len(keys[0] | keys[1] | keys[2]) == 3


def test_top_rung_equals_full_training(serial_run):
    top = [r for r in rung_rows(serial_run.db_path) if r["rung"] == 2 and r["status"] == "ok"][0]
    with Store(serial_run.db_path) as store:
        genome = store.genome(top["individual_id"])
    record = fitness.evaluate(genome, serial_run.task, serial_run.budget,
                              derived_seed(serial_run.seed, top["individual_id"]), serial_run.search.objectives)

    assert record.objectives["accuracy"] == top["accuracy"]


def test_process_executor_matches_serial(serial_run, tmp_path):
    config = halving_config(tmp_path, "serial", executor="process", workers=2)
    run_campaign(config)

    assert comparable_contents(config.db_path) == comparable_contents(serial_run.db_path)


# -- kill and resume -----------------------------------------------------------------------------


def campaign_command(command, config_path, db):
    prefix = [sys.executable, "-c", "from evo.cli import main; main()", "-v"]
    if command == "resume":
        return prefix + ["resume", str(db)]
    return prefix + ["run", str(config_path), "--db", str(db)]


def run_until_killed(command, config_path, db, count):
    """Run until the count-th staged evaluation, SIGKILL there, and return the output."""
    output, _ = kill_when_paused(campaign_command(command, config_path, db), f"evaluation_staged:{count}")
    return output


def test_killed_campaign_resumes_exactly(serial_run, tmp_path):
    config_path = tmp_path / "smoke-halving.toml"
    config_path.write_text((PRESETS_DIR / "smoke.toml").read_text().replace(
        "[search]", "[search]\nsuccessive_halving = { rungs = 3, eta = 2 }"))
    db = tmp_path / "serial.sqlite"
    outputs = [
        # Generation 0 stages 4 evaluations at rung 0, then 2 at rung 1: stop after the 6th.
        run_until_killed("run", config_path, db, 6),
        # The resumed run reuses those 6, stages the rung-2 one, then stops in generation 1.
        run_until_killed("resume", config_path, db, 3),
    ]
    finished = subprocess.run(campaign_command("resume", config_path, db), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    outputs.append(finished.stderr)
    staged = [match for output in outputs for match in STAGED_LINE.findall(output)]
    trained = rows(db, "SELECT json_extract(metrics, '$.rung') AS rung, individual_id FROM evaluations"
                       " WHERE status != 'cached'")

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert comparable_contents(db) == comparable_contents(serial_run.db_path)
    assert len(staged) == len(set(staged)), "a rung evaluation ran twice"
    assert sorted((int(r), int(i)) for r, i in staged) == sorted((r["rung"], r["individual_id"]) for r in trained)


def test_inheriting_children_inherit_at_every_rung(tmp_path):
    config = halving_config(tmp_path, "inherit")
    search = dataclasses.replace(config.search, inherit_weights=True, crossover_rate=0.0,
                                 seeds=("small_cnn", "small_mlp"), generations=1)
    config = config.replace(search=search)
    run_campaign(config)
    evaluations = rows(config.db_path, "SELECT e.individual_id, e.status, i.generation,"
                                       " json_extract(e.metrics, '$.inherited_nodes') AS inherited"
                                       " FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id")
    stored = {row["individual_id"] for row in rows(config.db_path, "SELECT individual_id FROM weights")}
    children = [row for row in evaluations if row["generation"] == 1 and row["status"] == "ok"]
    inherited = {}
    for row in children:
        inherited.setdefault(row["individual_id"], []).append(json.loads(row["inherited"] or "[]"))

    assert any(len(runs) > 1 for runs in inherited.values())
    for runs in inherited.values():
        # Every rung of one child starts from the same parent weights.
        assert all(nodes == runs[0] for nodes in runs)
    assert any(runs[0] for runs in inherited.values())
    assert {row["individual_id"] for row in evaluations if row["status"] == "ok"} <= stored
