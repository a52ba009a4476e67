"""The evaluation time limit on a Dask LocalCluster bound to 127.0.0.1."""

from __future__ import annotations

import dataclasses
import sqlite3

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
