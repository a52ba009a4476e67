"""The time estimate of `evo status`, on generations built with the Store API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from evo.cli import main
from evo.run_lock import RunLock
from evo.status_command import campaign_status, seconds_per_generation
from populations import Store

TARGET = 10


@pytest.mark.parametrize(("numbers", "finished_at", "expected"), [
    ([0], [0.0], None),
    ([0, 1], [0.0, 0.5], 0.5),
    # A 30-minute pause before generation 3 is one gap of four.
    ([0, 1, 2, 3, 4], [0.0, 0.3, 0.6, 1800.6, 1800.9], 0.3),
    # Two gaps, one with a pause: the lower median is the real one.
    ([0, 1, 2], [0.0, 1800.0, 1800.3], 0.3),
    # Numbers that are not consecutive give no gap.
    ([0, 2, 3], [0.0, 50.0, 50.2], 0.2),
    ([0, 2], [0.0, 50.0], None),
])
def test_seconds_per_generation(numbers, finished_at, expected):
    assert seconds_per_generation(numbers, finished_at) == pytest.approx(expected)


def test_seconds_per_generation_uses_recent_gaps():
    # Early generations took 10 s each, the last eight 1 s each.
    finished_at = [10.0 * number for number in range(11)]
    finished_at += [finished_at[-1] + 1.0 * step for step in range(1, 9)]
    numbers = list(range(len(finished_at)))
    assert seconds_per_generation(numbers, finished_at) == pytest.approx(1.0)


def build_campaign(path, gaps: list[float]) -> int:
    """Commit generations 0..len(gaps) whose commits lie `gaps` seconds apart, ending now."""
    with Store(path) as store:
        campaign_id = store.create_campaign("paused", {"search": {"generations": 4}}, seed=1)
        for number in range(len(gaps) + 1):
            individual_id = store.next_individual_id()
            store.commit_generation(
                campaign_id, number,
                individuals=[{"id": individual_id, "genome": {"nodes": []}, "genome_hash": f"hash-{number}",
                              "generation": number, "origin": "seed"}],
                lineage=[],
                evaluations=[{"individual_id": individual_id, "status": "ok", "objectives": {"accuracy": 0.5}}],
                members=[individual_id], front=[individual_id], hypervolume=0.1,
                state={"target_generations": TARGET},
            )
        # finished_at is set by the store to the commit time, so the test moves it into the past.
        now = datetime.now(timezone.utc)
        offsets = [sum(gaps[number:]) for number in range(len(gaps) + 1)]
        for number, offset in enumerate(offsets):
            finished_at = (now - timedelta(seconds=offset)).isoformat(timespec="milliseconds")
            store.db.execute("UPDATE generations SET finished_at = ? WHERE campaign_id = ? AND number = ?",
                             [finished_at, campaign_id, number])
        store.db.conn.commit()
        store.start_generation(campaign_id, len(gaps) + 1, planned=1, workers=1)
    return campaign_id


def test_estimate_ignores_long_pause(tmp_path):
    path = tmp_path / "paused.sqlite"
    # Generations 0 to 5, 0.3 s apart except a 30-minute pause before generation 4.
    build_campaign(path, [0.3, 0.3, 0.3, 1800.0, 0.3])
    with RunLock(path, "paused"), Store(path, readonly=True) as store:
        summary = campaign_status(store, store.campaign("paused"))
    assert summary["status"] == "running"
    assert summary["target_generations"] == TARGET
    # 5 generations left at about 0.3 s each, less the time generation 6 has run. The mean
    # over all gaps, 360 s, would give about 1,800 s.
    assert summary["eta_seconds"] <= 1.5
    assert summary["eta_seconds"] >= 0.0


def test_estimate_absent_without_engine(tmp_path):
    path = tmp_path / "paused.sqlite"
    build_campaign(path, [0.3, 0.3])
    result = CliRunner().invoke(main, ["status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] == "stopped"
    assert summary["eta_seconds"] is None


def test_status_text_while_running(tmp_path):
    path = tmp_path / "paused.sqlite"
    build_campaign(path, [0.3, 0.3])
    with RunLock(path, "paused"):
        result = CliRunner().invoke(main, ["status", str(path)])
    assert result.exit_code == 0, result.output
    assert "generation   2 of 10" in result.output
    assert "in progress  generation 3: 0 of 1 done, 1 running, 0 failed" in result.output
    assert "time left    about 0m0" in result.output


def test_status_ignores_lock_of_other_campaign(tmp_path):
    path = tmp_path / "paused.sqlite"
    build_campaign(path, [0.3])
    with RunLock(path, "another"):
        result = CliRunner().invoke(main, ["status", str(path), "--json"])
    summary = json.loads(result.output)
    assert summary["status"] == "stopped"
    assert summary["engine"]["campaign"] == "another"
