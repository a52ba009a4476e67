import dataclasses
import json
import sqlite3

import torch

import fitness
from evo.campaign import Campaign, derived_seed
from evo.config import load_preset
from fitness.inheritance import bytes_to_state
from populations import Store
from populations.weights import load_weights


def _inheriting(tmp_path, name, generations=2, **run):
    config = load_preset("smoke").with_overrides(db=str(tmp_path / f"{name}.sqlite"), generations=generations)
    # Seeds with hidden nodes: the linear seed has only the classifier head, which is never inherited.
    search = dataclasses.replace(config.search, inherit_weights=True, crossover_rate=0.0,
                                 seeds=("small_cnn", "small_mlp"))
    config = config.replace(search=search)
    if run:
        config = config.replace(run=dataclasses.replace(config.run, **run))
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()
    return config


def _evaluations(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT e.individual_id, i.genome, e.status, e.accuracy, e.metrics, l.parent_id"
            " FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id"
            " LEFT JOIN lineage AS l ON l.child_id = i.id ORDER BY e.individual_id"
        ).fetchall()
    finally:
        connection.close()


def _inheriting_child(rows):
    for ind_id, genome, status, _, metrics, parent_id in rows:
        if status == "ok" and json.loads(metrics).get("inherited_nodes") and parent_id is not None:
            return ind_id, json.loads(genome), parent_id
    raise AssertionError("no ok child inherited any node")


def test_child_starts_from_parent_weights(tmp_path):
    config = _inheriting(tmp_path, "inherit")
    rows = _evaluations(config.db_path)
    child_id, child_genome, parent_id = _inheriting_child(rows)
    with Store(config.db_path) as store:
        parent_weights = load_weights(store.db, parent_id)
        child_weights = load_weights(store.db, child_id)
        parent_genome = store.genome(parent_id)
    inherited = json.loads(dict((r[0], r[4]) for r in rows)[child_id])["inherited_nodes"]
    seed = derived_seed(config.seed, child_id)
    # Latency needs the network but no training, so kept weights are the starting ones.
    untrained = ("flops", "latency")
    start = fitness.evaluate(child_genome, config.task, config.budget, seed, untrained,
                             inherit={"genome": parent_genome, "weights": parent_weights}, keep_weights=True)
    scratch = fitness.evaluate(child_genome, config.task, config.budget, seed, untrained, keep_weights=True)
    parent_state = bytes_to_state(parent_weights)
    start_state = bytes_to_state(start.weights)
    scratch_state = bytes_to_state(scratch.weights)
    shared = [name for name in start_state
              if any(name.startswith(f"cells.{node}.") for node in inherited)]
    rerun = fitness.evaluate(child_genome, config.task, config.budget, seed, config.search.objectives,
                             inherit={"genome": parent_genome, "weights": parent_weights}, keep_weights=True)
    stored_accuracy = dict((r[0], r[3]) for r in rows)[child_id]

    assert shared
    for name in shared:
        assert torch.equal(start_state[name], parent_state[name]), name
        assert not torch.equal(scratch_state[name], parent_state[name]), name
    # The stored result is the training that started from the parent's stored weights.
    assert rerun.objectives["accuracy"] == stored_accuracy
    assert rerun.weights == child_weights


def test_weights_stored_for_every_ok_evaluation(tmp_path):
    config = _inheriting(tmp_path, "stored")
    rows = _evaluations(config.db_path)
    connection = sqlite3.connect(config.db_path)
    try:
        stored = {row[0]: row[1] for row in connection.execute("SELECT individual_id, format FROM weights")}
    finally:
        connection.close()

    ok = {row[0] for row in rows if row[2] == "ok"}
    assert ok
    assert set(stored) == ok
    assert set(stored.values()) == {"npz"}


def test_inheritance_serial_equals_two_processes(tmp_path):
    serial = _inheriting(tmp_path, "serial")
    parallel = _inheriting(tmp_path, "parallel", workers=2, executor="process")

    serial_rows = [row[:5] for row in _evaluations(serial.db_path)]
    parallel_rows = [row[:5] for row in _evaluations(parallel.db_path)]
    assert _inheriting_child(_evaluations(serial.db_path))
    assert len(serial_rows) == len(parallel_rows)
    for a, b in zip(serial_rows, parallel_rows):
        assert a[:4] == b[:4], a[0]
        assert json.loads(a[4]).get("inherited_nodes") == json.loads(b[4]).get("inherited_nodes"), a[0]


def test_resume_reads_weights_back(tmp_path):
    straight = _inheriting(tmp_path, "straight")
    _inheriting(tmp_path, "resumed", generations=1)
    resumed = _inheriting(tmp_path, "resumed", generations=2)

    straight_rows = [row[:5] for row in _evaluations(straight.db_path)]
    resumed_rows = [row[:5] for row in _evaluations(resumed.db_path)]
    assert len(straight_rows) == len(resumed_rows)
    for a, b in zip(straight_rows, resumed_rows):
        assert a[:4] == b[:4], a[0]
        assert json.loads(a[4]).get("inherited_nodes") == json.loads(b[4]).get("inherited_nodes"), a[0]
