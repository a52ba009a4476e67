"""Committing generations: ids, atomicity, validation, and reading them back."""

from __future__ import annotations

import sqlite3

import pytest
from population_builders import evaluation, individual

from populations import RecordNotFoundError, Store, StoreError


def _counts(db_path):
    # A fresh connection, so that no open transaction of the store can hide a row.
    connection = sqlite3.connect(db_path)
    try:
        return {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("individuals", "lineage", "evaluations", "generations")
        }
    finally:
        connection.close()


def test_next_id_of_empty_file(store):
    assert store.next_individual_id() == 1


def test_ids_continue_across_reopen(db_path, store, commit_seeds):
    assert commit_seeds(0, count=3) == [1, 2, 3]
    store.close()

    with Store(db_path) as reopened:
        assert reopened.next_individual_id() == 4
    with Store(db_path, readonly=True) as reader:
        assert reader.next_individual_id() == 4


def test_deleted_id_never_reused(store, commit_seeds, db_path):
    commit_seeds(0, count=3)
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("DELETE FROM evaluations WHERE individual_id = 3")
        connection.execute("DELETE FROM individuals WHERE id = 3")
    connection.close()

    assert store.next_individual_id() == 4


def test_generation_read_back(store, campaign_id, commit_seeds):
    commit_seeds(0)
    commit_seeds(1)

    last = store.last_generation(campaign_id)
    frame = store.generations(campaign_id)

    assert last["number"] == 1
    assert last["members"] == [3, 4]
    assert last["front"] == [3, 4]
    assert last["state"] == {"rng": [1, 42]}
    assert last["hypervolume"] == pytest.approx(0.2)
    assert list(frame["number"]) == [0, 1]
    assert frame["members"].iloc[0] == [1, 2]
    assert store.genome(1) == individual(1)["genome"]


def test_no_generation_yet(store, campaign_id):
    assert store.last_generation(campaign_id) is None
    assert store.generations(campaign_id).empty
    assert store.front(campaign_id).empty


def _second_generation(store, campaign_id, number, **overrides):
    # Two children of 1 and 2, with evaluations that add a new objective column.
    arguments = {
        "individuals": [individual(3, 1, origin="mutation"), individual(4, 1, origin="crossover")],
        "lineage": [
            {"child_id": 3, "parent_id": 1, "operator": "mutate_width"},
            {"child_id": 4, "parent_id": 1, "operator": "one_point"},
            {"child_id": 4, "parent_id": 2, "operator": "one_point"},
        ],
        "evaluations": [evaluation(3, accuracy=0.7, robustness=0.4), evaluation(4, status="failed")],
        "members": [1, 3, 4],
        "front": [3],
        "hypervolume": 0.5,
        "state": {"rng": [1]},
    }
    arguments.update(overrides)
    store.commit_generation(campaign_id, number, **arguments)


def test_failed_last_insert_writes_nothing(store, campaign_id, commit_seeds, db_path):
    commit_seeds(0)
    before = _counts(db_path)

    # Generation 0 exists, so the generation row, the last insert, fails.
    with pytest.raises(StoreError, match="generation 0 of campaign 1 .* already committed"):
        _second_generation(store, campaign_id, 0)

    assert _counts(db_path) == before
    assert store.next_individual_id() == 3
    assert "robustness" not in store.objective_names()
    assert store.db.execute("SELECT COUNT(*) FROM objectives WHERE name = 'robustness'").fetchone()[0] == 0
    assert not store.db.conn.in_transaction


def test_unknown_member_writes_nothing(store, campaign_id, commit_seeds, db_path):
    commit_seeds(0)
    before = _counts(db_path)

    with pytest.raises(StoreError, match=r"do not exist: \[99\]"):
        _second_generation(store, campaign_id, 1, members=[1, 3, 4, 99])

    assert _counts(db_path) == before


def test_unknown_parent_writes_nothing(store, campaign_id, commit_seeds, db_path):
    commit_seeds(0)
    before = _counts(db_path)
    links = [{"child_id": 3, "parent_id": 77, "operator": "mutate_width"}]

    with pytest.raises(StoreError, match="FOREIGN KEY"):
        _second_generation(store, campaign_id, 1, lineage=links)

    assert _counts(db_path) == before


def test_commit_after_failure_succeeds(store, campaign_id, commit_seeds):
    commit_seeds(0)
    with pytest.raises(StoreError):
        _second_generation(store, campaign_id, 0)

    _second_generation(store, campaign_id, 1)

    assert store.last_generation(campaign_id)["members"] == [1, 3, 4]
    assert "robustness" in store.objective_names()
    assert list(store.lineage(campaign_id)["operator"]) == ["mutate_width", "one_point", "one_point"]


def test_used_id_rejected(store, campaign_id, commit_seeds):
    commit_seeds(0)

    with pytest.raises(StoreError, match=r"ids \[2\] are already used .* \(now 3\)"):
        store.commit_generation(
            campaign_id, 1, individuals=[individual(2, 1)], lineage=[], evaluations=[],
            members=[2], front=[2], hypervolume=None, state={},
        )


def test_unknown_campaign_rejected(store, campaign_id):
    with pytest.raises(RecordNotFoundError, match="campaign id 5 not found"):
        store.commit_generation(
            5, 0, individuals=[individual(1)], lineage=[], evaluations=[],
            members=[1], front=[1], hypervolume=None, state={},
        )


@pytest.mark.parametrize(
    ("bad_evaluation", "message"),
    [
        ({"individual_id": 1, "status": "great"}, "invalid status 'great'"),
        ({"individual_id": 1, "status": "ok", "objectives": {"Accuracy": 1.0}}, "invalid objective name 'Accuracy'"),
        ({"individual_id": 1, "status": "ok", "objectives": {"status": 1.0}}, "already a column"),
        ({"individual_id": 1, "status": "ok", "objectives": {"accuracy": "high"}}, "must be a number"),
        ({"status": "ok"}, "missing individual_id"),
    ],
)
def test_invalid_evaluation_rejected(store, campaign_id, bad_evaluation, message):
    with pytest.raises(StoreError, match=message):
        store.commit_generation(
            campaign_id, 0, individuals=[individual(1)], lineage=[], evaluations=[bad_evaluation],
            members=[1], front=[1], hypervolume=None, state={},
        )
    assert store.next_individual_id() == 1


def test_state_must_be_json(store, campaign_id):
    with pytest.raises(StoreError, match="generation state cannot be stored as JSON"):
        store.commit_generation(
            campaign_id, 0, individuals=[individual(1)], lineage=[], evaluations=[],
            members=[1], front=[1], hypervolume=None, state={"rng": object()},
        )


def test_repeated_link_collapses(store, campaign_id, commit_seeds):
    commit_seeds(0)
    self_cross = {"child_id": 3, "parent_id": 1, "operator": "one_point"}

    store.commit_generation(
        campaign_id, 1, individuals=[individual(3, 1, origin="crossover")], lineage=[self_cross, dict(self_cross)],
        evaluations=[], members=[3], front=[3], hypervolume=None, state={},
    )

    assert len(store.lineage(campaign_id)) == 1


def test_non_finite_values_stored_as_null(store, campaign_id):
    record = evaluation(1, accuracy=float("nan"), flops=float("inf"))
    record["metrics"] = {"train_loss": float("nan"), "curve": [1.0, float("inf")]}

    store.commit_generation(
        campaign_id, 0, individuals=[individual(1)], lineage=[], evaluations=[record],
        members=[1], front=[1], hypervolume=None, state={},
    )

    row = store.evaluations(campaign_id).iloc[0]
    assert row["metrics"] == {"train_loss": None, "curve": [1.0, None]}
    assert row[["accuracy", "flops"]].isna().all()


def test_genome_text_kept_verbatim(store, campaign_id):
    text = '{"nodes": [],  "output": "n0"}'
    record = individual(1)
    record["genome"] = text

    store.commit_generation(
        campaign_id, 0, individuals=[record], lineage=[], evaluations=[],
        members=[1], front=[1], hypervolume=None, state={},
    )

    assert store.db.execute("SELECT genome FROM individuals").fetchone()[0] == text
    assert store.genome(1) == {"nodes": [], "output": "n0"}


def test_unknown_genome_id(store):
    with pytest.raises(RecordNotFoundError, match="individual id 9 not found"):
        store.genome(9)
