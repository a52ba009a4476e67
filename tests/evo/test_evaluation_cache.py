import sqlite3

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
