import sqlite3

import pytest
import torch
from torch import nn

from fitness.inheritance import bytes_to_state, state_to_bytes
from populations import Store
from populations.weights import (
    WeightsNotFoundError,
    ensure_weights_table,
    has_weights_table,
    load_weights,
    save_weights,
    weights_by_hash,
)


def _weight_bytes(seed: int) -> bytes:
    torch.manual_seed(seed)
    return state_to_bytes(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)))


def test_weights_round_trip_through_real_file(store, commit_seeds, db_path):
    first, second = commit_seeds(0, count=2)
    data = _weight_bytes(1)

    with store.db.conn:
        save_weights(store.db, first, "hash-1", data)
    store.close()
    with Store(db_path, readonly=True) as reader:
        loaded = load_weights(reader.db, first)
        by_hash = weights_by_hash(reader.db, "hash-1")
        with pytest.raises(WeightsNotFoundError, match=f"individual {second}"):
            load_weights(reader.db, second)

    assert loaded == data
    assert by_hash == data
    state = bytes_to_state(loaded)
    assert set(state) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                          "1.running_var", "1.num_batches_tracked"}


def test_weights_table_created_idempotently(store):
    assert not has_weights_table(store.db)

    ensure_weights_table(store.db)
    ensure_weights_table(store.db)

    assert has_weights_table(store.db)


def test_load_without_table_names_the_fix(store):
    with pytest.raises(WeightsNotFoundError, match="no weights table"):
        load_weights(store.db, 1)
    assert weights_by_hash(store.db, "hash-1") is None


def test_save_replaces_and_rejects_empty(store, commit_seeds):
    (first,) = commit_seeds(0, count=1)

    with store.db.conn:
        save_weights(store.db, first, "hash-1", _weight_bytes(1))
        save_weights(store.db, first, "hash-1", _weight_bytes(2))

    assert load_weights(store.db, first) == _weight_bytes(2)
    with pytest.raises(ValueError, match="non-empty .npz bytes"):
        save_weights(store.db, first, "hash-1", b"")


def test_weights_column_is_not_pickle(store, commit_seeds):
    (first,) = commit_seeds(0, count=1)
    with store.db.conn:
        save_weights(store.db, first, "hash-1", _weight_bytes(1))

    raw = sqlite3.connect(store.path).execute(
        "SELECT format, data FROM weights WHERE individual_id = ?", [first]
    ).fetchone()

    # An .npz archive is a zip file, which starts with the bytes "PK".
    assert raw[0] == "npz"
    assert raw[1][:2] == b"PK"
