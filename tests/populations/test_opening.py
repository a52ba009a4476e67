"""Opening files: schema creation, WAL, identity checks, and files that are not ours."""

from __future__ import annotations

import os
import sqlite3

import pytest

from populations import (
    SCHEMA_VERSION,
    DamagedStoreError,
    ForeignDatabaseError,
    SchemaVersionError,
    Store,
    StoreError,
    StoreNotFoundError,
)


def _names(db_path, kind):
    with sqlite3.connect(db_path) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = ?", [kind])}


def test_new_file_has_schema(db_path):
    Store(db_path).close()

    assert {"meta", "campaigns", "individuals", "lineage", "evaluations", "generations", "objectives"} <= _names(
        db_path, "table"
    )
    assert {"latest_evaluation", "current_front"} <= _names(db_path, "view")
    assert {
        "individuals_genome_hash",
        "individuals_campaign_id",
        "lineage_parent_id",
        "evaluations_individual_id",
    } <= _names(db_path, "index")


def test_new_file_columns(store):
    assert list(store.db["campaigns"].columns_dict) == [
        "id", "name", "config", "seed", "created_at", "status", "schema_version",
    ]
    assert list(store.db["individuals"].columns_dict) == [
        "id", "campaign_id", "genome", "genome_hash", "generation", "origin", "created_at",
    ]
    assert list(store.db["lineage"].columns_dict) == ["child_id", "parent_id", "operator"]
    assert list(store.db["generations"].columns_dict) == [
        "campaign_id", "number", "members", "front", "hypervolume", "finished_at", "state",
    ]
    assert store.objective_names() == ["accuracy", "params", "flops", "latency"]
    assert store.db["evaluations"].columns_dict["accuracy"] is float


def test_meta_marks_application(store, db_path):
    meta = {row["key"]: row["value"] for row in store.db.query("SELECT key, value FROM meta")}

    assert meta["application"] == "evonas-population"
    assert meta["schema_version"] == str(SCHEMA_VERSION)


def test_wal_and_busy_timeout(db_path):
    with Store(db_path, timeout=12.5) as writer:
        assert writer.db.execute("PRAGMA busy_timeout").fetchone()[0] == 12500
        assert writer.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with Store(db_path, readonly=True, timeout=2) as reader:
        assert reader.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.db.execute("PRAGMA busy_timeout").fetchone()[0] == 2000
    with sqlite3.connect(db_path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_folder_created(tmp_path):
    path = tmp_path / "runs" / "nested" / "population.db"

    Store(path).close()

    assert path.is_file()


def test_empty_file_becomes_store(db_path):
    db_path.touch()

    with Store(db_path) as store:
        assert store.campaigns() == []


def test_readonly_missing_path(tmp_path):
    path = tmp_path / "absent.db"

    with pytest.raises(StoreNotFoundError, match="absent.db not found"):
        Store(path, readonly=True)
    assert not path.exists()


def test_readonly_rejects_writes(store, db_path):
    with Store(db_path, readonly=True) as reader:
        with pytest.raises(StoreError, match="read-only"):
            reader.create_campaign("x", {}, 1)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")


def _foreign_database(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE songs (title TEXT, seconds INTEGER)")
    connection.execute("INSERT INTO songs VALUES ('intro', 61)")
    connection.commit()
    connection.close()


def _foreign_with_meta(path):
    # Another program with its own key/value meta table.
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute("INSERT INTO meta VALUES ('application', 'photo-catalog')")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("make_file", [_foreign_database, _foreign_with_meta])
def test_foreign_file_left_unchanged(tmp_path, make_file, readonly):
    path = tmp_path / "other.db"
    make_file(path)
    before = path.read_bytes()

    with pytest.raises(ForeignDatabaseError, match="another program") as raised:
        Store(path, readonly=readonly)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == before


def _random_bytes(path):
    path.write_bytes(os.urandom(8192))


def _header_then_garbage(path):
    # A valid SQLite header followed by bytes that are no valid page.
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 32)


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("make_file", [_random_bytes, _header_then_garbage])
def test_damaged_file_left_unchanged(tmp_path, make_file, readonly):
    path = tmp_path / "damaged.db"
    make_file(path)
    before = path.read_bytes()

    with pytest.raises(DamagedStoreError) as raised:
        Store(path, readonly=readonly)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == before
    assert sorted(child.name for child in tmp_path.iterdir()) == ["damaged.db"]


@pytest.mark.parametrize("readonly", [False, True])
def test_random_bytes_named_not_sqlite(tmp_path, readonly):
    path = tmp_path / "random.db"
    _random_bytes(path)

    with pytest.raises(DamagedStoreError, match="is not a SQLite database"):
        Store(path, readonly=readonly)


def test_newer_schema_rejected(db_path):
    Store(db_path).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    connection.close()

    with pytest.raises(SchemaVersionError, match="Upgrade evonas"):
        Store(db_path)


def test_folder_path_rejected(tmp_path):
    with pytest.raises(StoreError, match="folder"):
        Store(tmp_path)
