"""The evaluation child of each Dask worker, on a LocalCluster bound to 127.0.0.1.

The child enforces the evaluation time limit, and it must not outlive an engine that was
killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from evo.campaign import Campaign
from evo.config import load_preset
from evo.executors import DaskExecutor, Job
from fitness import task_shapes
from genomes.zoo import build_seed
from populations import Store

pytest.importorskip("dask.distributed")


def digits_job(key, objectives, steps):
    shape, classes = task_shapes("digits")
    genome = build_seed("small_mlp", shape, classes).to_dict()
    return Job(key, genome, {"name": "digits"}, {"steps": steps, "batch_size": 32}, seed=key, objectives=objectives)


def test_slow_evaluation_times_out_on_dask():
    # Ten million training steps take hours, so only the time limit can end the first job.
    # The second job only counts FLOPs, so it needs no training.
    slow = digits_job(1, ("accuracy",), 10_000_000)
    fast = digits_job(2, ("flops",), 1)
    executor = DaskExecutor("dask-local:1", timeout=6.0)
    try:
        results = dict(executor.map([slow, fast]))
        workers = executor._client.scheduler_info()["workers"]
    finally:
        executor.close()

    assert results[1]["status"] == "timeout"
    assert "timed out after 6 s" in results[1]["error"]
    assert results[2]["status"] == "ok"
    assert results[2]["objectives"]["flops"] > 0
    assert len(workers) == 1, "the Dask worker itself must survive the timeout"


def test_campaign_goes_on_after_dask_timeouts(tmp_path):
    # A 1 s limit is shorter than starting a child process and importing torch, so every
    # evaluation times out. The campaign must still finish its generations.
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "smoke.sqlite"), generations=1,
                                                 executor="dask-local:1")
    config = config.replace(run=dataclasses.replace(config.run, evaluation_timeout=1.0))
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()

    connection = sqlite3.connect(config.db_path)
    try:
        statuses = [row[0] for row in connection.execute("SELECT status FROM evaluations")]
        generations = connection.execute("SELECT count(*) FROM generations").fetchone()[0]
        campaign_status = connection.execute("SELECT status FROM campaigns").fetchone()[0]
    finally:
        connection.close()
    assert len(statuses) == 2 * config.search.population
    assert set(statuses) == {"timeout"}
    assert generations == 2
    assert campaign_status == "finished"


def spawned_children(pid):
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def test_children_exit_when_engine_killed(tmp_path):
    # A million training steps keep both children busy when the engine dies, so only their
    # check of the parent process id can end them.
    config = tmp_path / "long.toml"
    config.write_text('name = "long"\n[task]\nname = "digits"\n[budget]\nsteps = 1000000\nbatch_size = 32\n'
                      '[search]\npopulation = 4\ngenerations = 1\nseeds = ["small_mlp", "linear"]\n')
    engine = subprocess.Popen(
        [sys.executable, "-m", "evo", "--quiet", "run", str(config), "--executor", "dask-local:2",
         "--db", str(tmp_path / "orphans.sqlite")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = []
    try:
        deadline = time.monotonic() + 120
        while len(children) < 2 and time.monotonic() < deadline:
            assert engine.poll() is None, "the campaign ended before its children started"
            children = spawned_children(engine.pid)
            time.sleep(0.2)
        assert len(children) == 2
        time.sleep(2)
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=30)

        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
        assert len(gone) == 2
    finally:
        engine.kill()
        for child in children:
            if child.is_running():
                child.kill()
