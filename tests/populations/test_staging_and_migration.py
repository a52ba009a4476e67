"""Staged evaluations of an uncommitted generation, and the upgrade from schema version 1."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
from population_builders import evaluation, individual

from populations import SCHEMA_VERSION, SchemaVersionError, Store, StoreError
from populations.records import encode_metrics


def downgrade_to_version_1(path):
    """Turn a new file into what schema version 1 wrote: no engine tables, version 1 in meta."""
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("DROP TABLE staged_evaluations")
        connection.execute("DROP TABLE generation_progress")
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.close()


def test_staged_records_round_trip(store, campaign_id):
    record = {"status": "diverged", "objectives": {"accuracy": math.nan, "flops": 10.0}, "seconds": 1.5}
    store.stage_evaluation(campaign_id, 0, 5, "hash-5", record)
    store.stage_evaluation(campaign_id, 0, 6, "hash-6", {"status": "ok", "objectives": {"flops": 2.0}})

    staged = store.staged_evaluations(campaign_id, 0)

    assert set(staged) == {(5, "hash-5"), (6, "hash-6")}
    assert math.isnan(staged[(5, "hash-5")]["objectives"]["accuracy"])
    assert staged[(5, "hash-5")]["seconds"] == 1.5
    assert store.staged_evaluations(campaign_id, 1) == {}


METRICS = {"params": 120, "loss_curve": [[1, 2.302585], [2, 1.75]], "device": "cpu"}


@pytest.mark.parametrize("before, after", [({"status": "ok"}, {"objectives": {"flops": 2.0}, "seconds": 0.5}),
                                           ({}, {}), ({"n": np.int64(3)}, {})])
def test_metrics_encoded_once_are_staged_and_committed_alike(store, campaign_id, db_path, before, after):
    text = encode_metrics(METRICS)
    store.stage_evaluations(campaign_id, 0, [(1, "hash-1", {**before, "metrics": text, **after}),
                                             (2, "hash-2", {**before, "metrics": dict(METRICS), **after})])

    staged = store.staged_evaluations(campaign_id, 0)
    assert staged[(1, "hash-1")] == staged[(2, "hash-2")]
    assert staged[(1, "hash-1")] == {**before, "metrics": METRICS, **after}
    with sqlite3.connect(db_path) as connection:
        texts = [row[0] for row in connection.execute("SELECT record FROM staged_evaluations ORDER BY individual_id")]
    assert texts[0] == texts[1]

    store.commit_generation(
        campaign_id, 0, individuals=[individual(1, 0), individual(2, 0)], lineage=[],
        evaluations=[{**evaluation(1, accuracy=0.5), "metrics": text},
                     {**evaluation(2, accuracy=0.5), "metrics": dict(METRICS)}],
        members=[1, 2], front=[1, 2], hypervolume=None, state={},
    )
    with sqlite3.connect(db_path) as connection:
        stored = [row[0] for row in connection.execute("SELECT metrics FROM evaluations ORDER BY individual_id")]
    assert stored[0] == stored[1] == text


def test_metrics_text_must_come_from_encode_metrics(store, campaign_id):
    assert encode_metrics({"loss": math.nan}) is None
    with pytest.raises(StoreError, match="metrics must be a dict"):
        store.commit_generation(
            campaign_id, 0, individuals=[individual(1, 0)], lineage=[],
            evaluations=[{**evaluation(1, accuracy=0.5), "metrics": '{"params": 1}'}],
            members=[1], front=[1], hypervolume=None, state={},
        )


def test_staged_rows_invisible_to_readers(store, campaign_id, db_path):
    store.stage_evaluation(campaign_id, 0, 1, "hash-1", {"status": "ok", "objectives": {"accuracy": 0.5}})
    with Store(db_path, readonly=True) as reader:
        assert reader.summary(campaign_id)["individuals"] == 0
        assert len(reader.evaluations(campaign_id, latest=True)) == 0


def test_commit_clears_staging_and_progress(store, campaign_id):
    store.start_generation(campaign_id, 0, planned=2, workers=2)
    store.stage_evaluation(campaign_id, 0, 1, "hash-1", {"status": "ok"})
    store.stage_evaluation(campaign_id, 0, 2, "hash-2", {"status": "failed"})
    progress = store.progress(campaign_id)
    assert (progress["number"], progress["planned"], progress["done"], progress["failed"]) == (0, 2, 2, 1)

    store.commit_generation(
        campaign_id, 0, individuals=[individual(1, 0), individual(2, 0)], lineage=[],
        evaluations=[evaluation(1, accuracy=0.5), evaluation(2, accuracy=0.6)],
        members=[1, 2], front=[1, 2], hypervolume=None, state={},
    )

    assert store.staged_evaluations(campaign_id, 0) == {}
    assert store.progress(campaign_id) is None


def test_failed_commit_keeps_staged_rows(store, campaign_id):
    store.stage_evaluation(campaign_id, 0, 1, "hash-1", {"status": "ok"})

    def crash():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.commit_generation(
            campaign_id, 0, individuals=[individual(1, 0)], lineage=[], evaluations=[evaluation(1, accuracy=0.5)],
            members=[1], front=[1], hypervolume=None, state={}, before_commit=crash,
        )

    assert set(store.staged_evaluations(campaign_id, 0)) == {(1, "hash-1")}
    assert store.last_generation(campaign_id) is None


def test_version_1_file_upgraded_by_writer(db_path, commit_seeds):
    commit_seeds(0)
    downgrade_to_version_1(db_path)

    with Store(db_path) as upgraded:
        version = upgraded.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        tables = set(upgraded.db.table_names())
        individuals = len(upgraded.individuals())

    assert version == str(SCHEMA_VERSION)
    assert {"staged_evaluations", "generation_progress"} <= tables
    assert individuals == 2


def test_version_1_file_readable_without_upgrade(db_path, commit_seeds):
    commit_seeds(0)
    downgrade_to_version_1(db_path)
    before = db_path.read_bytes()

    with Store(db_path, readonly=True) as reader:
        assert reader.summary(1)["individuals"] == 2
        assert reader.progress(1) is None
        assert reader.staged_evaluations(1, 0) == {}

    assert db_path.read_bytes() == before


def test_version_0_file_names_the_problem(db_path, commit_seeds):
    commit_seeds(0)
    connection = sqlite3.connect(db_path)
    with connection:
        connection.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    connection.close()
    before = db_path.read_bytes()

    with pytest.raises(SchemaVersionError, match="schema version 0, and no upgrade to version"):
        Store(db_path)
    assert db_path.read_bytes() == before
