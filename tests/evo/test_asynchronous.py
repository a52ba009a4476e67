"""Asynchronous algorithms (steady_state, aging): executors and resume give the same result."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest

from evo.config import ConfigError, load_preset

from campaign_helpers import results, run_campaign


def async_config(db, algorithm, **run):
    config = load_preset("smoke")
    search = dataclasses.replace(config.search, algorithm=algorithm, generations=2, concurrency=3)
    return config.replace(search=search).with_overrides(db=str(db), **run)


def test_steady_state_process_pool_matches_serial(tmp_path):
    serial = async_config(tmp_path / "serial.sqlite", "steady_state")
    pooled = async_config(tmp_path / "pool.sqlite", "steady_state", executor="process", workers=2)
    run_campaign(serial)
    run_campaign(pooled)

    assert results(pooled.db_path) == results(serial.db_path)
    generations = results(serial.db_path)[3]
    assert [row[0] for row in generations] == [0, 1, 2]


def test_aging_replaces_oldest_member(tmp_path):
    config = async_config(tmp_path / "aging.sqlite", "aging")
    run_campaign(config)
    individuals, lineage, evaluations, generations = results(config.db_path)

    # Population 4 and 4 children per generation: after each generation the 4 youngest live.
    members = [sorted(json.loads(row[1])) for row in generations]
    newest = [sorted(row[0] for row in individuals if row[2] == number) for number in (1, 2)]
    assert members[1:] == newest
    assert {row[0] for row in lineage} == {row[0] for row in individuals if row[3] != "seed"}
    assert len(evaluations) == len(individuals)


def campaign_file(tmp_path, algorithm):
    path = tmp_path / "campaign.toml"
    preset = load_preset("smoke").to_dict()
    path.write_text(
        f'name = "async"\nseed = 0\n[task]\nname = "digits"\n'
        f'[budget]\nsteps = {preset["budget"]["steps"]}\nbatch_size = 32\n'
        f'[search]\npopulation = 4\ngenerations = 2\nalgorithm = "{algorithm}"\nconcurrency = 3\n'
        f'seeds = ["small_cnn", "small_mlp", "linear"]\n'
        f'[space]\nwidths = [4, 32]\nkernel_sizes = [1, 3]\nmax_nodes = 6\nmax_parameters = 50000\n'
    )
    return path


def run_until_paused(arguments, point):
    environment = {**os.environ, "EVONAS_PAUSE_AT": point}
    process = subprocess.Popen([sys.executable, "-c", "from evo.cli import main; main()", *arguments],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        paused = False
        for line in process.stderr:
            if f"paused at {point}" in line:
                paused = True
                break
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert paused, f"the campaign exited before pausing at {point}"


def test_aging_resume_after_kill(tmp_path):
    path = campaign_file(tmp_path, "aging")
    straight = tmp_path / "straight.sqlite"
    resumed = tmp_path / "resumed.sqlite"
    finished = subprocess.run([sys.executable, "-c", "from evo.cli import main; main()", "--quiet", "run",
                               str(path), "--db", str(straight)], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]

    # Inside generation 1 with children in flight, then inside generation 2's commit.
    run_until_paused(["run", str(path), "--db", str(resumed)], "evaluation_staged:6")
    run_until_paused(["resume", str(resumed)], "commit_written:2")
    finished = subprocess.run([sys.executable, "-c", "from evo.cli import main; main()", "--quiet", "resume",
                               str(resumed)], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]

    assert results(resumed) == results(straight)


def test_unknown_algorithm_suggests():
    config = load_preset("smoke")
    with pytest.raises(ConfigError, match='algorithm = "agin" is invalid. Did you mean \'aging\'?'):
        dataclasses.replace(config.search, algorithm="agin")
