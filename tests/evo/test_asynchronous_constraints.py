"""Constraints and weight inheritance in the asynchronous algorithms (steady_state, aging)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import fitness
from evo.campaign import Campaign, Individual, derived_seed
from evo.config import CampaignConfig, load_preset
from evo.steady_state import AsynchronousLoop
from populations import Store
from populations.weights import load_weights, weights_by_hash

from campaign_helpers import kill_when_paused, query, run_campaign

PARAMS_LIMIT = 2000


def async_config(db, algorithm, *, executor=None, workers=None, **search):
    config = load_preset("smoke").with_overrides(db=str(db))
    settings = {"algorithm": algorithm, "generations": 2, "concurrency": 3, **search}
    config = config.replace(search=dataclasses.replace(config.search, **settings))
    if executor is not None:
        config = config.replace(run=dataclasses.replace(config.run, executor=executor, workers=workers))
    return config


def inheriting_config(db, algorithm, **run):
    # Seeds with hidden nodes: the linear seed has only the classifier head, which is never inherited.
    return async_config(db, algorithm, inherit_weights=True, crossover_rate=0.0,
                        seeds=("small_cnn", "small_mlp"), **run)


def results(path):
    """Every row that a run decides, weights included, in a stable order."""
    tables = [
        query(path, "SELECT id, genome_hash, generation, origin FROM individuals ORDER BY id"),
        query(path, "SELECT child_id, parent_id, operator FROM lineage ORDER BY child_id, parent_id"),
        query(path, "SELECT individual_id, status, accuracy, flops, json_extract(metrics, '$.inherited_nodes'),"
                    " json_extract(metrics, '$.violation') FROM evaluations ORDER BY individual_id"),
        query(path, "SELECT number, members, front, hypervolume FROM generations ORDER BY number"),
    ]
    has_weights = query(path, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'weights'")
    if has_weights:
        tables.append(query(path, "SELECT individual_id, genome_hash, data FROM weights ORDER BY individual_id"))
    return tables


def evaluation_metrics(path):
    return {row[0]: json.loads(row[1]) for row in query(path, "SELECT individual_id, metrics FROM evaluations")}


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_config_accepts_both_features(algorithm):
    config = CampaignConfig.from_dict({"name": "x", "search": {
        "algorithm": algorithm, "constraints": {"params": 5000}, "inherit_weights": True}})

    assert config.search.constraints == {"params": 5000.0}
    assert config.search.inherit_weights is True


# -- constraints --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_constraint_metrics_stored(tmp_path, algorithm):
    config = async_config(tmp_path / "c.sqlite", algorithm, constraints={"params": PARAMS_LIMIT})
    run_campaign(config)
    metrics = evaluation_metrics(config.db_path)
    fronts = query(config.db_path, "SELECT number, front FROM generations ORDER BY number")
    feasible = {ind_id for ind_id, m in metrics.items() if m.get("feasible")}

    # The limit splits the smoke seeds: the linear model fits, the CNN does not.
    assert feasible
    assert set(metrics) - feasible
    for ind_id, m in metrics.items():
        assert (m["params"] <= PARAMS_LIMIT) == m["feasible"], ind_id
        if m["feasible"]:
            assert m["violation"] == 0.0, ind_id
        else:
            assert m["violation"] == pytest.approx(m["params"] / PARAMS_LIMIT - 1), ind_id
    assert [number for number, _ in fronts] == [0, 1, 2]
    for number, front in fronts:
        assert set(json.loads(front)) <= feasible, number


def test_steady_state_truncation_drops_infeasible(tmp_path):
    config = async_config(tmp_path / "truncation.sqlite", "steady_state", constraints={"params": PARAMS_LIMIT})
    run_campaign(config)
    metrics = evaluation_metrics(config.db_path)
    feasible = {ind_id for ind_id, m in metrics.items() if m["feasible"]}
    generations = query(config.db_path, "SELECT number, members FROM generations ORDER BY number")

    dropped_infeasible = False
    for number, members_json in generations:
        members = set(json.loads(members_json))
        pool = {row[0] for row in query(config.db_path, "SELECT id FROM individuals WHERE generation <= ?",
                                        [number])}
        if members - feasible:
            # An infeasible member survives only while fewer feasible individuals than places exist.
            assert feasible & pool <= members, number
        if number > 0 and (pool - feasible) - members:
            dropped_infeasible = True
        if len(feasible & pool) >= config.search.population:
            assert members <= feasible, number
    # The run must exercise the rule: generation 0 keeps infeasible seeds, later truncation drops them.
    assert dropped_infeasible


def constrained_loop(algorithm, store, population):
    """Build an asynchronous loop whose population is ``population``, a list of (id, accuracy, flops, params)."""
    config = load_preset("smoke")
    search = dataclasses.replace(config.search, algorithm=algorithm, tournament_size=len(population),
                                 constraints={"params": PARAMS_LIMIT})
    campaign = Campaign(config.replace(search=search), store, progress=False)
    genome = campaign._initial_population(np.random.default_rng(0), 1)[0].genome
    campaign.population = [
        Individual(ind_id, genome, f"hash-{ind_id}", 0, "seed",
                   record={"status": "ok", "objectives": {"accuracy": accuracy, "flops": flops},
                           "metrics": {"params": params, "flops": flops}})
        for ind_id, accuracy, flops, params in population
    ]
    return AsynchronousLoop(campaign, executor=None)


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_parent_tournament_prefers_feasible(tmp_path, algorithm):
    # Member 1 dominates member 2 on both objectives but is over the parameter limit.
    population = [(1, 0.99, 1e3, PARAMS_LIMIT * 3), (2, 0.5, 1e5, PARAMS_LIMIT / 2)]
    with Store(tmp_path / "tournament.sqlite") as store:
        loop = constrained_loop(algorithm, store, population)
        winners = {loop._pick_parent(np.random.default_rng(seed)).id for seed in range(20)}

    assert winners == {2}


def test_infeasible_parents_rank_by_violation(tmp_path):
    # No member is feasible: the smaller total violation wins, whatever the objectives.
    population = [(1, 0.99, 1e3, PARAMS_LIMIT * 4), (2, 0.5, 1e5, PARAMS_LIMIT * 1.5)]
    with Store(tmp_path / "violators.sqlite") as store:
        loop = constrained_loop("aging", store, population)
        winners = {loop._pick_parent(np.random.default_rng(seed)).id for seed in range(20)}

    assert winners == {2}


# -- weight inheritance ----------------------------------------------------------------------------


def inheriting_child(path):
    """Return (child id, child genome, parent id) of an ok child that inherited at least one node."""
    rows = query(path, "SELECT e.individual_id, i.genome, e.metrics, l.parent_id FROM evaluations AS e"
                       " JOIN individuals AS i ON i.id = e.individual_id"
                       " JOIN lineage AS l ON l.child_id = i.id"
                       " WHERE e.status = 'ok' AND i.generation > 0 ORDER BY e.individual_id")
    for child_id, genome, metrics, parent_id in rows:
        if json.loads(metrics).get("inherited_nodes"):
            return child_id, json.loads(genome), parent_id
    raise AssertionError("no ok asynchronous child inherited any node")


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_child_trained_from_parent_weights(tmp_path, algorithm):
    config = inheriting_config(tmp_path / "inherit.sqlite", algorithm)
    with Store(config.db_path) as store:
        campaign = Campaign(config, store, progress=False)
        # Weights held for non-members after each commit: only children in flight may have some.
        held_for_others = []
        campaign.observers.append(lambda summary: held_for_others.append(
            set(campaign.weights) - {ind.id for ind in campaign.population}))
        campaign.run()

    child_id, child_genome, parent_id = inheriting_child(config.db_path)
    ok = {row[0] for row in query(config.db_path, "SELECT individual_id FROM evaluations WHERE status = 'ok'")}
    stored = {row[0] for row in query(config.db_path, "SELECT individual_id FROM weights")}
    stored_accuracy = query(config.db_path, "SELECT accuracy FROM evaluations WHERE individual_id = ?",
                            [child_id])[0][0]
    with Store(config.db_path) as store:
        parent_weights = load_weights(store.db, parent_id)
        child_weights = load_weights(store.db, child_id)
        parent_genome = store.genome(parent_id)
    seed = derived_seed(config.seed, child_id)
    inherited = fitness.evaluate(child_genome, config.task, config.budget, seed, config.search.objectives,
                                 inherit={"genome": parent_genome, "weights": parent_weights}, keep_weights=True)
    scratch = fitness.evaluate(child_genome, config.task, config.budget, seed, config.search.objectives,
                               keep_weights=True)

    # Every ok evaluation, asynchronous children included, has its weights stored at a commit.
    assert stored == ok
    # The stored result is the training that started from the parent's stored weights.
    assert inherited.weights == child_weights
    assert inherited.objectives["accuracy"] == stored_accuracy
    assert scratch.weights != child_weights
    # After each commit only the members' weights and those of children in flight stay in memory.
    states = query(config.db_path, "SELECT number, state FROM generations ORDER BY number")
    assert len(held_for_others) == len(states)
    for (number, state), ids in zip(states, held_for_others):
        in_flight = {child["id"] for child in json.loads(state).get("in_flight", [])}
        assert ids <= in_flight, number
    assert set(campaign.weights) <= {ind.id for ind in campaign.population}


@pytest.mark.parametrize("algorithm", ["steady_state", "aging"])
def test_cached_children_reuse_weights(tmp_path, algorithm):
    config = inheriting_config(tmp_path / "cache.sqlite", algorithm)
    run_campaign(config)
    # The same search under another name finds every genome scored in the file already.
    repeat = config.replace(name="repeat")
    with Store(config.db_path) as store:
        campaign = Campaign(repeat, store, progress=False)
        members_without_weights = []
        campaign.observers.append(lambda summary: members_without_weights.extend(
            ind.id for ind in campaign.population if ind.id not in campaign.weights))
        campaign.run()
        reused_from_file = all(campaign.weights[ind.id] == weights_by_hash(store.db, ind.genome_hash)
                               for ind in campaign.population)
    statuses = query(config.db_path, "SELECT DISTINCT e.status FROM evaluations AS e JOIN individuals AS i"
                                     " ON i.id = e.individual_id JOIN campaigns AS c ON c.id = i.campaign_id"
                                     " WHERE c.name = 'repeat'")

    assert statuses == [("cached",)]
    assert members_without_weights == []
    assert reused_from_file


def test_inheritance_serial_equals_two_processes(tmp_path):
    serial = inheriting_config(tmp_path / "serial.sqlite", "steady_state", constraints={"params": 3000})
    pooled = inheriting_config(tmp_path / "pool.sqlite", "steady_state", constraints={"params": 3000},
                               executor="process", workers=2)
    run_campaign(serial)
    run_campaign(pooled)

    serial_results = results(serial.db_path)
    assert inheriting_child(serial.db_path)
    assert len(serial_results) == 5
    assert results(pooled.db_path) == serial_results


# -- kill and resume ----------------------------------------------------------------------------


def campaign_file(tmp_path, algorithm, seed, concurrency, params_limit):
    path = tmp_path / f"{algorithm}.toml"
    preset = load_preset("smoke").to_dict()
    limits = f"constraints = {{ params = {params_limit} }}\n" if params_limit else ""
    path.write_text(
        f'name = "async-inherit"\nseed = {seed}\n[task]\nname = "digits"\n'
        f'[budget]\nsteps = {preset["budget"]["steps"]}\nbatch_size = 32\n'
        f'[search]\npopulation = 4\ngenerations = 2\nalgorithm = "{algorithm}"\n'
        f'concurrency = {concurrency}\ntournament_size = 2\n'
        f'crossover_rate = 0.0\ninherit_weights = true\n{limits}'
        f'seeds = ["small_cnn", "small_mlp"]\n'
        f'[space]\nwidths = [4, 32]\nkernel_sizes = [1, 3]\nmax_nodes = 6\nmax_parameters = 50000\n'
    )
    return path


def cli(*arguments, pause_at=None):
    """Run the evo command to its end, or SIGKILL it once it pauses at ``pause_at``."""
    command = [sys.executable, "-c", "from evo.cli import main; main()", *arguments]
    if pause_at is not None:
        kill_when_paused(command, pause_at)
        return
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]


def parents_outside_population(path, number):
    """First parents of the children in flight at commit ``number`` that were no longer members."""
    members_json, state_json = query(path, "SELECT members, state FROM generations WHERE number = ?", [number])[0]
    members = set(json.loads(members_json))
    in_flight = json.loads(state_json)["in_flight"]
    return {child["id"]: child["parents"][0] for child in in_flight if child["parents"][0] not in members}


# Campaign seeds and concurrency picked so that each case occurs. The last asserts check that it does.
@pytest.mark.parametrize(("algorithm", "seed", "concurrency", "params_limit"),
                         [("aging", 5, 4, None), ("steady_state", 1, 4, 2500)])
def test_resume_after_kill_inherits_same_weights(tmp_path, algorithm, seed, concurrency, params_limit):
    path = campaign_file(tmp_path, algorithm, seed, concurrency, params_limit)
    straight = tmp_path / "straight.sqlite"
    resumed = tmp_path / "resumed.sqlite"
    cli("--quiet", "run", str(path), "--db", str(straight))

    # Inside generation 1 with children in flight, then inside generation 2's commit, so the
    # last resume submits the children in flight at generation 1's commit again.
    cli("run", str(path), "--db", str(resumed), pause_at="evaluation_staged:6")
    cli("resume", str(resumed), pause_at="commit_written:2")
    assert [row[0] for row in query(resumed, "SELECT number FROM generations ORDER BY number")] == [0, 1]
    in_flight = json.loads(query(resumed, "SELECT state FROM generations WHERE number = 1")[0][0])["in_flight"]
    cli("--quiet", "resume", str(resumed))

    assert in_flight
    assert results(resumed) == results(straight)
    metrics = evaluation_metrics(resumed)
    if algorithm == "aging":
        # A child in flight at generation 1's commit inherited from a parent that aging had
        # removed by then, whose weights the resume read from the file.
        outside = parents_outside_population(resumed, 1)
        assert any(metrics[child_id].get("inherited_nodes") for child_id in outside)
    else:
        feasible = {m["feasible"] for m in metrics.values()}
        assert feasible == {True, False}
