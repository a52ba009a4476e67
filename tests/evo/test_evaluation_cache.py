import sqlite3

import pytest

from evo.campaign import Campaign
from evo.config import load_preset
from populations import Store


def _run(config):
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()


def _evaluations(path, campaign_name):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT i.genome_hash, e.status, e.accuracy, e.flops, e.seconds"
            " FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id"
            " JOIN campaigns AS c ON c.id = i.campaign_id WHERE c.name = ?"
            " ORDER BY e.id",
            [campaign_name],
        ).fetchall()
    finally:
        connection.close()


def test_second_campaign_reuses_stored_evaluations(tmp_path):
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "cache.sqlite"), generations=0)
    _run(config)
    _run(config.replace(name="smoke-again"))

    first = {row[0]: row for row in _evaluations(config.db_path, "smoke")}
    second = _evaluations(config.db_path, "smoke-again")

    # Same seed, so generation 0 repeats every genome of the first campaign.
    assert len(second) == len(first)
    for genome_hash, status, accuracy, flops, seconds in second:
        assert status == "cached", genome_hash
        assert accuracy == first[genome_hash][2]
        assert flops == first[genome_hash][3]
        assert seconds == 0.0


def test_changed_budget_is_not_reused(tmp_path):
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "cache.sqlite"), generations=0)
    _run(config)
    longer = config.budget.replace(steps=config.budget.steps + 1)
    _run(config.replace(name="smoke-longer", budget=longer))

    statuses = {row[1] for row in _evaluations(config.db_path, "smoke-longer")}

    assert statuses == {"ok"}


def _interrupt_first_job(monkeypatch):
    import evo.executors

    def interrupt(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(evo.executors, "run_job", interrupt)


def _genomes(path, campaign_name):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT i.id, i.genome, i.genome_hash FROM individuals AS i"
            " JOIN campaigns AS c ON c.id = i.campaign_id WHERE c.name = ? ORDER BY i.id",
            [campaign_name],
        ).fetchall()
    finally:
        connection.close()


def test_resume_before_first_commit(tmp_path, monkeypatch):
    """A campaign killed before generation 0 was committed, in a file with another campaign.

    The resume must skip past the other campaign's node ids and know its stored hashes, as a
    straight run does, so both give the same genomes and cached evaluations.
    """
    import shutil

    first = load_preset("smoke").with_overrides(db=str(tmp_path / "shared.sqlite"), generations=1)
    _run(first)
    shutil.copy(first.db_path, tmp_path / "straight.sqlite")
    second = first.replace(name="second", seed=first.seed + 1)

    with monkeypatch.context() as patch:
        _interrupt_first_job(patch)
        with pytest.raises(KeyboardInterrupt):
            _run(second)
    _run(second)
    _run(second.with_overrides(db=str(tmp_path / "straight.sqlite")))

    resumed = _genomes(second.db_path, "second")
    straight = _genomes(tmp_path / "straight.sqlite", "second")
    assert resumed == straight
    # Everything but the measured seconds.
    resumed_scores = [row[:4] for row in _evaluations(second.db_path, "second")]
    straight_scores = [row[:4] for row in _evaluations(tmp_path / "straight.sqlite", "second")]
    assert resumed_scores == straight_scores
