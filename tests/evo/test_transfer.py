import dataclasses
import json
import logging
import sqlite3

import pytest

from evo.config import ConfigError, load_preset
from evo.transfer import TransferError, parse_transfer_spec
from populations import Store

from campaign_helpers import query, run_campaign


def smoke(path, name="smoke", **search):
    config = load_preset("smoke").with_overrides(db=str(path)).replace(name=name)
    return config.replace(search=dataclasses.replace(config.search, **search)) if search else config


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A finished adaptive smoke campaign to transfer from."""
    path = tmp_path_factory.mktemp("source") / "old.sqlite"
    run_campaign(smoke(path, name="old", adaptive_operators=True, generations=2))
    return path


def test_transfer_seeds_are_source_front(tmp_path, source):
    front = json.loads(query(source, "SELECT front FROM generations ORDER BY number DESC LIMIT 1")[0][0])
    front_hashes = {row[0] for row in query(source, f"SELECT genome_hash FROM individuals "
                                                    f"WHERE id IN ({', '.join(map(str, front))})")}
    config = smoke(tmp_path / "new.sqlite", name="new", seeds=(f"db:{source}#front",), generations=1)
    run_campaign(config)

    seeds = query(config.db_path, "SELECT genome_hash FROM individuals WHERE origin = 'seed'")
    assert {row[0] for row in seeds} == front_hashes
    labels = json.loads(query(config.db_path, "SELECT state FROM generations WHERE number = 0")[0][0])["seed_names"]
    assert all(label.startswith(f"db:{source}#old#front@") for label in labels)


def test_transfer_with_campaign_name_and_operator_priors(tmp_path, source):
    config = smoke(tmp_path / "new.sqlite", name="new", seeds=(f"db:{source}#old#front", "linear"),
                   adaptive_operators=True, transfer_operators=True, generations=1)
    run_campaign(config)
    source_state = json.loads(query(source, "SELECT state FROM generations ORDER BY number DESC LIMIT 1")[0][0])
    new_state = json.loads(query(config.db_path, "SELECT state FROM generations WHERE number = 0")[0][0])
    assert new_state["adaptive_operators"]["used"]["mutation"] == \
        source_state["adaptive_operators"]["next"]["mutation"]["probabilities"]


def test_missing_database_is_transfer_error(tmp_path):
    config = smoke(tmp_path / "new.sqlite", seeds=(f"db:{tmp_path}/absent.sqlite#front",))
    with pytest.raises(TransferError, match="absent.sqlite not found"):
        run_campaign(config)


def test_foreign_file_is_transfer_error(tmp_path):
    foreign = tmp_path / "notes.sqlite"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()
    config = smoke(tmp_path / "new.sqlite", seeds=(f"db:{foreign}#front",))
    with pytest.raises(TransferError, match="cannot be used as a population database"):
        run_campaign(config)


def test_database_without_campaign_is_transfer_error(tmp_path):
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    config = smoke(tmp_path / "new.sqlite", seeds=(f"db:{empty}#front",))
    with pytest.raises(TransferError, match="contains no campaign"):
        run_campaign(config)


def test_unknown_campaign_name_is_transfer_error(tmp_path, source):
    config = smoke(tmp_path / "new.sqlite", seeds=(f"db:{source}#nosuch#front",))
    with pytest.raises(TransferError, match="campaign 'nosuch' not found"):
        run_campaign(config)


def test_bad_source_leaves_no_campaign_behind(tmp_path, source):
    target = tmp_path / "new.sqlite"
    with pytest.raises(TransferError, match="campaign 'nosuch' not found"):
        run_campaign(smoke(target, name="new", seeds=(f"db:{source}#nosuch#front",), generations=0))

    assert query(target, "SELECT name FROM campaigns") == []
    run_campaign(smoke(target, name="new", seeds=(f"db:{source}#front",), generations=0))
    assert query(target, "SELECT name, status FROM campaigns") == [("new", "finished")]


def test_seeds_outside_space_are_skipped(tmp_path, source, caplog):
    config = smoke(tmp_path / "new.sqlite", name="new", seeds=(f"db:{source}#front", "linear"), generations=0)
    config = config.replace(space=dataclasses.replace(config.space, max_nodes=1))
    with caplog.at_level(logging.WARNING):
        run_campaign(config)
    assert "does not fit the search space" in caplog.text
    seeds = query(config.db_path, "SELECT count(*) FROM individuals WHERE origin = 'seed'")[0][0]
    assert seeds == 1


@pytest.mark.parametrize("spec", ["db:old.sqlite", "db:#front", "db:old.sqlite#x#y#front", "db:old.sqlite##front"])
def test_invalid_spec_is_config_error(spec):
    with pytest.raises(ConfigError, match="db:PATH#front"):
        parse_transfer_spec(spec)
