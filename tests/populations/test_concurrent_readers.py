"""Readers in other connections and processes while the engine writes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from populations import Store

GENERATIONS = 30
PER_GENERATION = 3

# Runs in a separate Python process and reads summaries until the last generation appears.
READER_SCRIPT = """
import json, sys, time
from populations import Store

path, last = sys.argv[1], int(sys.argv[2])
seen = []
with Store(path, readonly=True) as store:
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        summary = store.summary(1)
        front = store.front(1)
        seen.append([summary["generation"], summary["individuals"], summary["evaluations"]["ok"], len(front)])
        if summary["generation"] == last:
            break
print(json.dumps(seen), flush=True)
"""


def test_reader_process_during_commits(db_path, store, campaign_id, commit_seeds):
    commit_seeds(0, count=PER_GENERATION)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_SCRIPT, str(db_path), str(GENERATIONS - 1)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        for number in range(1, GENERATIONS):
            commit_seeds(number, count=PER_GENERATION)
            # Gives the reader time to query between commits on a 2-core machine.
            time.sleep(0.005)
        output, errors = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()

    assert reader.returncode == 0, errors
    assert "locked" not in errors
    seen = json.loads(output)
    generations = [generation for generation, _, _, _ in seen]
    assert generations[-1] == GENERATIONS - 1
    assert generations == sorted(generations)
    assert len(set(generations)) > 1
    for generation, individuals, ok, front_size in seen:
        # Each summary comes from one snapshot, so it never shows half a generation.
        assert individuals == (generation + 1) * PER_GENERATION
        assert ok == individuals
        assert front_size == PER_GENERATION


def test_writer_commits_during_open_snapshot(db_path, store, campaign_id, commit_seeds):
    commit_seeds(0)

    with Store(db_path, readonly=True, timeout=1) as reader:
        with reader.snapshot():
            before = len(reader.individuals(campaign_id))
            commit_seeds(1)
            during = len(reader.individuals(campaign_id))
        after = len(reader.individuals(campaign_id))

    assert (before, during, after) == (2, 2, 4)
