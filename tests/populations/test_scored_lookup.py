"""Staging several evaluations at once, the indexed lookup of scored genome hashes, and metrics JSON."""

from __future__ import annotations

import json
import math

import pytest
from population_builders import evaluation, individual

from populations import StoreError


def commit(store, campaign_id, number, records):
    """Commit (id, genome_hash, status, accuracy) tuples as one generation."""
    store.commit_generation(
        campaign_id, number,
        individuals=[individual(i, number, genome_hash=h) for i, h, _, _ in records],
        lineage=[],
        evaluations=[evaluation(i, status=s, accuracy=a) for i, _, s, a in records],
        members=[i for i, _, _, _ in records], front=[], hypervolume=None, state={},
    )


def test_stage_evaluations_writes_batch(store, campaign_id):
    store.stage_evaluations(campaign_id, 3, [(1, "hash-1", {"status": "ok", "seconds": 0.5}),
                                            (2, "hash-2", {"status": "failed"})])
    store.stage_evaluations(campaign_id, 3, [(2, "hash-2", {"status": "ok"})])
    store.stage_evaluations(campaign_id, 3, [])

    staged = store.staged_evaluations(campaign_id, 3)

    assert set(staged) == {(1, "hash-1"), (2, "hash-2")}
    assert staged[(1, "hash-1")] == {"status": "ok", "seconds": 0.5}
    assert staged[(2, "hash-2")] == {"status": "ok"}


def test_stage_evaluations_invalid_record_writes_nothing(store, campaign_id):
    with pytest.raises(StoreError, match="staged evaluation must be a dict, got list"):
        store.stage_evaluations(campaign_id, 0, [(1, "hash-1", {"status": "ok"}), (2, "hash-2", ["ok"])])

    assert store.staged_evaluations(campaign_id, 0) == {}


def test_scored_evaluation_takes_first_scored_id(store, campaign_id):
    commit(store, campaign_id, 0, [(1, "same", "failed", None), (2, "same", "ok", 0.7), (3, "same", "ok", 0.9)])

    found = store.scored_evaluation(campaign_id, "same")

    assert found["individual_id"] == 2
    assert found["status"] == "ok"
    assert found["objectives"] == {"accuracy": 0.7, "params": None, "flops": None, "latency": None}
    assert found["metrics"] == {"train_loss": 0.5}


def test_scored_evaluation_ignores_other_campaigns(store, campaign_id):
    other = store.create_campaign("second", {}, seed=1)
    commit(store, other, 0, [(1, "shared", "ok", 0.8)])
    commit(store, campaign_id, 0, [(2, "own", "cached", 0.6)])

    assert store.scored_evaluation(campaign_id, "shared") is None
    assert store.scored_evaluation(other, "shared")["individual_id"] == 1
    assert store.scored_evaluation(campaign_id, "own")["status"] == "cached"
    assert store.scored_evaluation(campaign_id, "missing") is None


def test_scored_evaluation_reads_latest_status(store, campaign_id):
    commit(store, campaign_id, 0, [(1, "rerun", "ok", 0.8)])
    # A later evaluation of the same individual failed, so its latest status is not scored.
    store.db.execute(
        "INSERT INTO evaluations (individual_id, status, metrics, created_at) VALUES (1, 'failed', '{}', 'now')")

    assert store.scored_evaluation(campaign_id, "rerun") is None


@pytest.mark.parametrize(
    ("metrics", "stored"),
    [
        ({"loss": 0.25, "curve": [[1, 0.5]]}, {"loss": 0.25, "curve": [[1, 0.5]]}),
        ({"loss": math.nan, "curve": [[1, math.inf]]}, {"loss": None, "curve": [[1, None]]}),
        ({"norms": {"a": -math.inf, "b": 2.0}}, {"norms": {"a": None, "b": 2.0}}),
    ],
)
def test_metrics_json_non_finite_null(store, campaign_id, metrics, stored):
    record = {**evaluation(1, accuracy=0.5), "metrics": metrics}
    store.commit_generation(campaign_id, 0, individuals=[individual(1)], lineage=[], evaluations=[record],
                            members=[1], front=[1], hypervolume=None, state={})

    text = store.db.execute("SELECT metrics FROM evaluations WHERE individual_id = 1").fetchone()[0]

    assert json.loads(text) == stored
