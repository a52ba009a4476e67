"""The engine keeps no record per scored genome in memory, and stages quick evaluations together."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

import evo.campaign
from evo.campaign import Campaign
from evo.config import load_preset
from evo.executors import SerialExecutor
from populations import Store


def untrained_config(tmp_path, **search):
    """The smoke preset scored on params and flops only, so no evaluation trains."""
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "smoke.sqlite"), executor="serial")
    return config.replace(search=dataclasses.replace(config.search, objectives=("params", "flops"), **search))


class CountingExecutor(SerialExecutor):
    """The serial executor, noting how many rows are staged in the file before each result."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.staged_counts = []

    def map(self, jobs):
        for key, record in super().map(jobs):
            connection = sqlite3.connect(self.path)
            try:
                self.staged_counts.append(connection.execute("SELECT COUNT(*) FROM staged_evaluations").fetchone()[0])
            finally:
                connection.close()
            yield key, record


@pytest.mark.parametrize(("interval", "staged_alone"), [(0.0, True), (3600.0, False)])
def test_stage_interval_groups_evaluations(tmp_path, monkeypatch, interval, staged_alone):
    config = untrained_config(tmp_path, generations=0)
    executors = []

    def counting_executor(*arguments, **options):
        executors.append(CountingExecutor(config.db_path))
        return executors[0]

    monkeypatch.setattr(evo.campaign, "make_executor", counting_executor)
    with Store(config.db_path) as store:
        campaign = Campaign(config, store, progress=False)
        campaign.stage_interval = interval
        campaign.run()

    counts = executors[0].staged_counts
    assert len(counts) == config.search.population
    if staged_alone:
        assert counts == list(range(len(counts)))
    else:
        assert counts == [0] * len(counts)
    assert campaign.unstaged == []


def test_known_reads_scored_genomes_from_file(tmp_path):
    config = untrained_config(tmp_path, generations=3)
    with Store(config.db_path) as store:
        campaign = Campaign(config, store, progress=False)
        campaign.run()
        latest = store.evaluations(campaign.campaign_id, latest=True)
        scored = latest[latest["status"].isin(["ok", "cached"])].sort_values("individual_id")
        first_of_hash = scored.drop_duplicates("genome_hash")

        assert campaign.known.pending == {}
        assert set(campaign.known) == set(scored["genome_hash"])
        for row in first_of_hash.itertuples():
            record = campaign.known.get(row.genome_hash)
            assert record["objectives"] == {"params": row.params, "flops": row.flops}
            assert row.genome_hash in campaign.known
        assert campaign.known.get("no-such-hash") is None
        assert "no-such-hash" not in campaign.known


def test_known_keeps_uncommitted_record(tmp_path):
    config = untrained_config(tmp_path, generations=0)
    with Store(config.db_path) as store:
        campaign = Campaign(config, store, progress=False)
        campaign.run()
        member = campaign.population[0]
        pending = {"status": "ok", "objectives": {"params": 1.0, "flops": 2.0}}

        stored_for_new_hash = campaign.known.setdefault("new-hash", pending)
        committed = campaign.known.setdefault(member.genome_hash, pending)
        failed = dataclasses.replace(member, genome_hash="new-hash", record={"status": "failed"})
        campaign.known.forget_committed([failed])
        still_pending = campaign.known.get("new-hash")
        campaign.known.forget_committed([dataclasses.replace(member, genome_hash="new-hash")])

        assert stored_for_new_hash is pending
        assert committed["objectives"] == member.objectives
        assert still_pending is pending
        assert campaign.known.get("new-hash") is None
