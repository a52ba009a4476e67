"""SIGKILL a running campaign at chosen moments, resume it, and compare with a straight run.

The campaign runs the `evo` command line in a subprocess. EVONAS_PAUSE_AT makes it stop at
a named pause point (see evo.executors.pause_point), and the test then sends SIGKILL, so
every kill lands at a known moment.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from evo.cli import main
from populations import Store

from campaign_helpers import kill_when_paused, rows

STAGED_LINE = re.compile(r"evaluation of individual (\d+) finished and staged")

# (pause point, count, command): each run resumes the database that the previous one left.
# Counts are per process. With the smoke preset (population 4, generations 2), generation 0
# evaluates 4 individuals and generations 1 and 2 up to 4 each.
KILLS = [
    ("evaluation", 3, "run"),             # during generation 0's batch, inside an evaluation
    ("evaluations_done", 1, "resume"),    # after generation 0's batch, before selection
    ("commit_written", 1, "run"),         # inside generation 0's commit transaction
    ("generation_committed", 1, "resume"),  # just after generation 0's commit
    ("generation_started", 1, "run"),     # before generation 1's batch
    ("evaluation_staged", 2, "resume"),   # during generation 1's batch, 2 evaluations staged
    ("commit_written", 2, "run"),         # inside generation 2's commit transaction
]


def campaign_command(command, db):
    if command == "resume":
        return [sys.executable, "-c", "from evo.cli import main; main()", "-v", "resume", str(db)]
    return [sys.executable, "-c", "from evo.cli import main; main()", "-v", "run", "--preset", "smoke", "--db", str(db)]


def run_to_end(command, db):
    finished = subprocess.run(campaign_command(command, db), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stderr


def run_until_killed(command, db, point, count):
    """Start the campaign, wait until it pauses at the point, SIGKILL it; return its stderr."""
    output, returncode = kill_when_paused(campaign_command(command, db), f"{point}:{count}")
    assert returncode == -signal.SIGKILL
    return output


def staged_ids(output):
    return [int(match) for match in STAGED_LINE.findall(output)]


def database_contents(path):
    """Everything that must match: individuals, lineage, evaluations, generations, front."""
    return {
        "individuals": rows(path, "SELECT id, genome, genome_hash, generation, origin FROM individuals ORDER BY id"),
        "lineage": rows(path, "SELECT child_id, parent_id, operator FROM lineage ORDER BY child_id, parent_id"),
        "evaluations": rows(path, "SELECT individual_id, status, accuracy, flops, params, metrics"
                                  " FROM evaluations ORDER BY id"),
        "generations": rows(path, "SELECT number, members, front, hypervolume FROM generations ORDER BY number"),
        "front": rows(path, "SELECT individual_id, accuracy, flops FROM current_front"),
    }


def without_measured_time(contents):
    # Wall time and latency are measurements, not results of the seed, so they may differ.
    for row in contents["evaluations"]:
        metrics = json.loads(row["metrics"])
        for key in [k for k in metrics if "second" in k or "latency" in k or k.endswith("_ms")]:
            metrics.pop(key)
        row["metrics"] = metrics
    return contents


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("straight") / "smoke.sqlite"
    output = run_to_end("run", db)
    return db, output


def test_straight_run_stages_each_evaluation_once(straight_run):
    db, output = straight_run
    ids = staged_ids(output)
    evaluated = rows(db, "SELECT individual_id FROM evaluations WHERE status != 'cached'")

    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(row["individual_id"] for row in evaluated)
    assert rows(db, "SELECT COUNT(*) AS n FROM staged_evaluations")[0]["n"] == 0
    assert rows(db, "SELECT COUNT(*) AS n FROM generation_progress")[0]["n"] == 0


def test_killed_campaign_resumes_exactly(straight_run, tmp_path):
    straight_db, straight_output = straight_run
    db = tmp_path / "smoke.sqlite"
    outputs = []
    committed_before_kill = []

    for point, count, command in KILLS:
        if point == "commit_written":
            committed_before_kill.append(len(rows(db, "SELECT number FROM generations")) if db.exists() else 0)
        outputs.append(run_until_killed(command, db, point, count))
        if point == "commit_written":
            # The commits before the paused one went through, and the killed one left nothing.
            assert len(rows(db, "SELECT number FROM generations")) == committed_before_kill[-1] + count - 1
    outputs.append(run_to_end("resume", db))

    assert without_measured_time(database_contents(db)) == without_measured_time(database_contents(straight_db))
    resumed_ids = [individual for output in outputs for individual in staged_ids(output)]
    assert len(resumed_ids) == len(set(resumed_ids)), "an evaluation ran twice"
    assert sorted(resumed_ids) == sorted(staged_ids(straight_output)), "an evaluation was lost"
    assert rows(db, "SELECT COUNT(*) AS n FROM staged_evaluations")[0]["n"] == 0


def test_reader_during_paused_commit(tmp_path):
    db = tmp_path / "smoke.sqlite"
    environment = {**os.environ, "EVONAS_PAUSE_AT": "commit_written:2"}
    process = subprocess.Popen(campaign_command("run", db), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=environment)
    try:
        for line in process.stderr:
            if "paused at commit_written:2" in line:
                break
        # The writer keeps its write transaction open while paused, inside the commit
        # of generation 1.
        with Store(db, readonly=True, timeout=2) as reader:
            summary = reader.summary(1)
            front = reader.front(1)
            progress = reader.progress(1)
        status = CliRunner().invoke(main, ["status", str(db)])
    finally:
        process.kill()
        process.communicate(timeout=60)

    assert summary["generation"] == 0
    assert set(front["generation"]) == {0}
    assert progress["number"] == 1
    assert progress["done"] == progress["planned"]
    assert status.exit_code == 0, status.output
    assert "generation   0" in status.output
    assert f"in progress  generation 1: {progress['done']} of {progress['planned']} done, 0 running" in status.output
