"""Objective columns, the latest_evaluation and current_front views, and read queries."""

from __future__ import annotations

import math

import pytest
from population_builders import evaluation, individual

from populations import SCHEMA_VERSION, Objective, RecordNotFoundError, Store, StoreError


def _commit(store, campaign_id, number, *, new=(), evaluations=(), members, front, lineage=()):
    store.commit_generation(
        campaign_id, number, individuals=[individual(i, number) for i in new], lineage=list(lineage),
        evaluations=list(evaluations), members=members, front=front, hypervolume=None, state={},
    )


def _latest(store, campaign_id):
    return store.evaluations(campaign_id, latest=True).set_index("individual_id")


def test_partial_evaluations_keep_values(store, campaign_id):
    _commit(
        store, campaign_id, 0, new=[1, 2],
        evaluations=[evaluation(1, accuracy=0.91, flops=1.2e6), evaluation(2, accuracy=0.88, flops=3.4e5)],
        members=[1, 2], front=[1, 2],
    )
    _commit(
        store, campaign_id, 1,
        evaluations=[evaluation(1, latency=3.1), evaluation(2, accuracy=0.89)],
        members=[1, 2], front=[1, 2],
    )

    rows = store.evaluations(campaign_id).set_index("id")
    latest = _latest(store, campaign_id)

    # The first two rows are exactly as written.
    assert rows.loc[1, ["accuracy", "flops"]].tolist() == [0.91, 1.2e6]
    assert math.isnan(rows.loc[1, "latency"])
    assert rows.loc[2, ["accuracy", "flops"]].tolist() == [0.88, 3.4e5]
    # Each objective shows its latest measured value.
    assert latest.loc[1, ["accuracy", "flops", "latency"]].tolist() == [0.91, 1.2e6, 3.1]
    assert latest.loc[2, ["accuracy", "flops"]].tolist() == [0.89, 3.4e5]
    assert math.isnan(latest.loc[2, "latency"])
    assert latest.loc[1, "evaluation_id"] == 3


def test_new_objective_adds_column(store, campaign_id, db_path):
    _commit(
        store, campaign_id, 0, new=[1, 2],
        evaluations=[evaluation(1, accuracy=0.91, flops=1.2e6), evaluation(2, accuracy=0.88, flops=3.4e5)],
        members=[1, 2], front=[1, 2],
    )
    _commit(
        store, campaign_id, 1,
        evaluations=[evaluation(1, robustness=0.7), evaluation(2, accuracy=0.89)],
        members=[1, 2], front=[1, 2],
    )

    first_rows = store.db.execute(
        "SELECT accuracy, flops, robustness FROM evaluations WHERE id IN (1, 2) ORDER BY id"
    ).fetchall()
    latest = _latest(store, campaign_id)

    assert store.objective_names()[-1] == "robustness"
    assert first_rows == [(0.91, 1.2e6, None), (0.88, 3.4e5, None)]
    assert latest.loc[1, ["accuracy", "flops", "robustness"]].tolist() == [0.91, 1.2e6, 0.7]
    assert latest.loc[2, ["accuracy", "flops"]].tolist() == [0.89, 3.4e5]
    assert store.objectives()["robustness"] == Objective("robustness", None, None)
    with Store(db_path, readonly=True) as reader:
        assert "robustness" in reader.front(campaign_id).columns


def test_failed_evaluation_hides_nothing(store, campaign_id):
    _commit(store, campaign_id, 0, new=[1], evaluations=[evaluation(1, accuracy=0.8)], members=[1], front=[1])
    _commit(store, campaign_id, 1, evaluations=[evaluation(1, status="timeout", accuracy=0.1)], members=[1], front=[1])

    latest = _latest(store, campaign_id)

    assert latest.loc[1, "status"] == "timeout"
    assert latest.loc[1, "accuracy"] == 0.8
    assert latest.loc[1, "error"] == "training failed"


def test_declare_objective(store):
    store.declare_objective("robustness", "maximize", "fraction")
    store.declare_objective("robustness", "maximize")
    store.declare_objective("accuracy", "maximize", "fraction")

    assert store.objectives()["robustness"] == Objective("robustness", "maximize", "fraction")
    with pytest.raises(StoreError, match="already declared with direction 'maximize'"):
        store.declare_objective("robustness", "minimize")
    with pytest.raises(StoreError, match="already declared with unit 'ms'"):
        store.declare_objective("latency", "minimize", "s")
    with pytest.raises(StoreError, match="invalid objective direction"):
        store.declare_objective("energy", "lower")


def _three_generations(store, campaign_id):
    # 1 and 2 are seeds; 3 mutates 1; 4 crosses 1 and 2; 5 crosses 3 and 4.
    _commit(
        store, campaign_id, 0, new=[1, 2],
        evaluations=[evaluation(1, accuracy=0.6, flops=100.0), evaluation(2, accuracy=0.7, flops=400.0)],
        members=[1, 2], front=[1, 2],
    )
    _commit(
        store, campaign_id, 1, new=[3, 4],
        lineage=[
            {"child_id": 3, "parent_id": 1, "operator": "mutate"},
            {"child_id": 4, "parent_id": 1, "operator": "cross"},
            {"child_id": 4, "parent_id": 2, "operator": "cross"},
        ],
        evaluations=[evaluation(3, accuracy=0.8, flops=300.0), evaluation(4, status="failed")],
        members=[1, 3, 4], front=[1, 3],
    )
    _commit(
        store, campaign_id, 2, new=[5],
        lineage=[
            {"child_id": 5, "parent_id": 3, "operator": "cross"},
            {"child_id": 5, "parent_id": 4, "operator": "cross"},
        ],
        evaluations=[evaluation(5, accuracy=0.9, flops=250.0)],
        members=[1, 3, 5], front=[5, 1],
    )


def test_summary_counts_each_individual_once(store, campaign_id):
    _three_generations(store, campaign_id)
    # Two rows for one individual, as successive halving stores one per rung.
    _commit(store, campaign_id, 3, new=[6],
            evaluations=[evaluation(6, accuracy=0.5, flops=90.0), evaluation(6, status="failed")],
            members=[1, 5, 6], front=[5, 1])

    summary = store.summary(campaign_id)

    assert summary["individuals"] == 6
    assert summary["evaluations"]["ok"] == 4
    assert summary["evaluations"]["failed"] == 2
    assert summary["evaluation_rows"] == 7


def test_current_front_view(store, campaign_id):
    _three_generations(store, campaign_id)

    rows = list(store.db.query("SELECT * FROM current_front"))

    assert [row["individual_id"] for row in rows] == [5, 1]
    assert rows[0]["generation"] == 2
    assert rows[0]["accuracy"] == 0.9
    assert rows[1]["flops"] == 100.0
    assert rows[0]["genome_hash"] == "hash-5"


def test_front_of_older_generation(store, campaign_id):
    _three_generations(store, campaign_id)

    front = store.front(campaign_id, generation=1)

    assert list(front["individual_id"]) == [1, 3]
    assert list(front["accuracy"]) == [0.6, 0.8]
    assert list(store.front(campaign_id)["individual_id"]) == [5, 1]


def test_latest_evaluation_view(store, campaign_id):
    _three_generations(store, campaign_id)

    rows = {row["individual_id"]: row for row in store.db.query("SELECT * FROM latest_evaluation")}

    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[4]["status"] == "failed"
    assert rows[4]["accuracy"] is None
    assert rows[3]["campaign_id"] == campaign_id
    assert rows[5]["generation"] == 2


def test_ancestors_and_descendants(store, campaign_id):
    _three_generations(store, campaign_id)

    ancestors = store.ancestors(5)
    links = list(zip(ancestors["depth"], ancestors["child_id"], ancestors["parent_id"]))
    descendants = store.descendants(1)
    down_links = list(zip(descendants["depth"], descendants["child_id"], descendants["parent_id"]))

    assert links == [(1, 5, 3), (1, 5, 4), (2, 3, 1), (2, 4, 1), (2, 4, 2)]
    assert list(store.ancestors(5, depth=1)["parent_id"]) == [3, 4]
    assert down_links == [(1, 3, 1), (1, 4, 1), (2, 5, 3), (2, 5, 4)]
    assert store.ancestors(1).empty


def test_summary_counts_and_best(store, campaign_id):
    _three_generations(store, campaign_id)

    summary = store.summary(campaign_id)

    assert summary["generation"] == 2
    assert summary["individuals"] == 5
    assert summary["evaluations"]["ok"] == 4
    assert summary["evaluations"]["failed"] == 1
    assert summary["evaluations"]["oom"] == 0
    assert summary["best"]["accuracy"] == {"value": 0.9, "individual_id": 5, "direction": "maximize"}
    assert summary["best"]["flops"] == {"value": 100.0, "individual_id": 1, "direction": "minimize"}
    assert "latency" not in summary["best"]


def test_summary_unknown_campaign(store):
    with pytest.raises(RecordNotFoundError, match="campaign id 3 not found"):
        store.summary(3)


def test_evaluation_for_hash(store, campaign_id):
    other = store.create_campaign("second", {}, seed=1)
    _commit(store, campaign_id, 0, new=[1], evaluations=[evaluation(1, accuracy=0.5)], members=[1], front=[1])
    store.commit_generation(
        other, 0, individuals=[individual(2, genome_hash="hash-1"), individual(3, genome_hash="hash-1")],
        lineage=[],
        evaluations=[
            evaluation(2, accuracy=0.6),
            evaluation(3, accuracy=0.7, task_key="task-b"),
            evaluation(3, status="diverged"),
        ],
        members=[2, 3], front=[2], hypervolume=None, state={},
    )

    found = store.evaluation_for_hash("hash-1", "task-a")

    assert found["individual_id"] == 2
    assert found["campaign_id"] == other
    assert found["objectives"]["accuracy"] == 0.6
    assert found["objectives"]["flops"] is None
    assert found["metrics"] == {"train_loss": 0.5}
    assert store.evaluation_for_hash("hash-1", "task-b")["objectives"]["accuracy"] == 0.7
    assert store.evaluation_for_hash("hash-1", "task-c") is None
    assert store.evaluation_for_hash("hash-9", "task-a") is None


def test_campaigns(store, campaign_id):
    second = store.create_campaign("second", {"nested": {"a": [1, 2]}}, seed=3)
    store.set_campaign_status(second, "finished")

    assert store.campaign("second")["config"] == {"nested": {"a": [1, 2]}}
    assert store.campaign(second)["status"] == "finished"
    assert store.campaign("third") is None
    assert [row["name"] for row in store.campaigns()] == ["first", "second"]
    assert store.campaign(campaign_id)["schema_version"] == SCHEMA_VERSION
    assert store.campaign(campaign_id)["created_at"].endswith("+00:00")


def test_campaign_errors(store, campaign_id):
    with pytest.raises(StoreError, match="campaign named 'first' already exists"):
        store.create_campaign("first", {}, seed=1)
    with pytest.raises(StoreError, match="invalid campaign status 'done'"):
        store.set_campaign_status(campaign_id, "done")
    with pytest.raises(RecordNotFoundError):
        store.set_campaign_status(99, "stopped")
