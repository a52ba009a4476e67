import dataclasses
import json
import sqlite3

import importlib
import random

import numpy as np
import pytest
import torch

from evo.campaign import restore_global_rng_states
from evo.config import ConfigError, load_preset
from populations import Store

from campaign_helpers import rows, run_campaign

# The package re-exports the function under the same name, so fetch the module itself.
evaluate_module = importlib.import_module("fitness.evaluate")


def smoke_config(tmp_path, **search):
    config = load_preset("smoke")
    config = config.with_overrides(db=str(tmp_path / "smoke.sqlite"))
    if search:
        config = config.replace(search=dataclasses.replace(config.search, **search))
    return config


def snapshot(path):
    """Everything that must match between two runs of the same config and seed."""
    individuals = rows(path, "SELECT id, genome_hash, generation, origin FROM individuals ORDER BY id")
    lineage = rows(path, "SELECT child_id, parent_id, operator FROM lineage ORDER BY child_id, parent_id")
    evaluations = rows(path, "SELECT individual_id, status, accuracy, flops FROM evaluations ORDER BY individual_id")
    generations = rows(path, "SELECT number, members, front, hypervolume FROM generations ORDER BY number")
    return individuals, lineage, evaluations, generations


def test_smoke_campaign_database_is_complete(tmp_path):
    config = smoke_config(tmp_path)
    summary = run_campaign(config)
    path = config.db_path

    assert summary["generation"] == config.search.generations
    individuals = rows(path, "SELECT * FROM individuals")
    assert len(individuals) >= config.search.population
    seeds = {row["id"] for row in individuals if row["origin"] == "seed"}
    children = {row["id"] for row in individuals if row["origin"] != "seed"}
    linked = {row["child_id"] for row in rows(path, "SELECT child_id FROM lineage")}
    assert children
    assert linked == children
    assert not seeds & linked
    evaluated = {row["individual_id"] for row in rows(path, "SELECT individual_id FROM evaluations")}
    assert evaluated == seeds | children
    generations = rows(path, "SELECT * FROM generations ORDER BY number")
    assert [g["number"] for g in generations] == list(range(config.search.generations + 1))
    for generation in generations:
        members = json.loads(generation["members"])
        front = json.loads(generation["front"])
        assert len(members) == config.search.population
        assert front
        assert set(front) <= set(members)
        assert 0.0 < generation["hypervolume"] <= 1.0
    ok = rows(path, "SELECT metrics FROM evaluations WHERE status = 'ok'")
    assert all("test_accuracy" in json.loads(row["metrics"]) for row in ok)
    assert rows(path, "PRAGMA journal_mode")[0]["journal_mode"] == "wal"


def test_failing_generation_keeps_campaign_going(tmp_path, monkeypatch):
    config = smoke_config(tmp_path, population=4, generations=2)

    def broken_training(*args, **kwargs):
        raise RuntimeError("injected training failure")

    def break_after_generation_zero(summary):
        if summary["generation"] == 0:
            monkeypatch.setattr(evaluate_module, "train_classifier", broken_training)

    run_campaign(config, observers=[break_after_generation_zero])
    path = config.db_path
    failed = rows(path, "SELECT e.status, e.error, i.generation FROM evaluations e "
                        "JOIN individuals i ON i.id = e.individual_id WHERE i.generation = 1")
    assert len(failed) == 4
    assert {row["status"] for row in failed} == {"failed"}
    assert all("injected training failure" in row["error"] for row in failed)
    generations = rows(path, "SELECT number, members FROM generations ORDER BY number")
    assert [g["number"] for g in generations] == [0, 1, 2]
    assert all(len(json.loads(g["members"])) == 4 for g in generations)


def test_resume_continues_like_straight_run(tmp_path):
    straight = smoke_config(tmp_path / "a", generations=2)
    run_campaign(straight)

    resumed = smoke_config(tmp_path / "b", generations=1)
    run_campaign(resumed)
    run_campaign(resumed.with_overrides(generations=2))

    assert snapshot(straight.db_path) == snapshot(resumed.db_path)


def test_rerun_of_finished_campaign_adds_nothing(tmp_path):
    config = smoke_config(tmp_path, generations=1)
    run_campaign(config)
    before = snapshot(config.db_path)
    run_campaign(config)
    assert snapshot(config.db_path) == before


def test_process_pool_matches_serial(tmp_path):
    serial = smoke_config(tmp_path / "serial", generations=1)
    pooled = smoke_config(tmp_path / "pool", generations=1).with_overrides(workers=2, executor="process")
    run_campaign(serial)
    run_campaign(pooled)
    assert snapshot(serial.db_path) == snapshot(pooled.db_path)


def test_resume_with_changed_task_names_difference(tmp_path):
    config = smoke_config(tmp_path, generations=0)
    run_campaign(config)
    changed = config.replace(task=dataclasses.replace(config.task, name="mnist1d"))
    with pytest.raises(ConfigError, match="task.name: stored 'digits', now 'mnist1d'"):
        run_campaign(changed)


def test_seeds_outside_space_are_skipped(tmp_path, caplog):
    config = smoke_config(tmp_path, generations=0, seeds=("mnist1d_mlp", "small_mlp"))
    with caplog.at_level("WARNING"):
        run_campaign(config)
    assert "seed 'mnist1d_mlp' left out" in caplog.text
    origins = rows(config.db_path, "SELECT origin FROM individuals WHERE origin = 'seed'")
    assert len(origins) == 1


def test_no_seed_in_space_is_a_config_error(tmp_path):
    config = smoke_config(tmp_path, generations=0, seeds=("mnist1d_mlp",))
    with pytest.raises(ConfigError, match="none of the seeds"):
        run_campaign(config)


@pytest.mark.parametrize(("section", "changes", "message"), [
    ("search", {"objectives": ("accuracy", "params")},
     r"search.objectives: stored \['accuracy', 'flops'\], now \['accuracy', 'params'\]"),
    ("space", {"max_nodes": 5}, "space.max_nodes: stored 6, now 5"),
])
def test_resume_with_changed_search_names_difference(tmp_path, section, changes, message):
    config = smoke_config(tmp_path, generations=0)
    run_campaign(config)
    changed = config.replace(**{section: dataclasses.replace(getattr(config, section), **changes)})
    with pytest.raises(ConfigError, match=message):
        run_campaign(changed)


def test_stored_config_without_new_settings_resumes(tmp_path):
    config = smoke_config(tmp_path, generations=0)
    run_campaign(config)
    # A campaign written before [run] evaluation_timeout and retries existed.
    connection = sqlite3.connect(config.db_path)
    with connection:
        stored = json.loads(connection.execute("SELECT config FROM campaigns").fetchone()[0])
        del stored["run"]["evaluation_timeout"], stored["run"]["retries"]
        connection.execute("UPDATE campaigns SET config = ?", [json.dumps(stored)])
    connection.close()

    summary = run_campaign(config.with_overrides(generations=1))
    assert summary["generation"] == 1


def test_committed_state_restores_global_rngs(tmp_path):
    config = smoke_config(tmp_path, generations=0)
    run_campaign(config)
    with Store(config.db_path, readonly=True) as store:
        state = store.last_generation(1)["state"]
    assert state["next_individual_id"] == store_next_id(config.db_path)

    restore_global_rng_states(state["global_rng"])
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    restore_global_rng_states(state["global_rng"])
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected


def store_next_id(path):
    with Store(path, readonly=True) as store:
        return store.next_individual_id()
