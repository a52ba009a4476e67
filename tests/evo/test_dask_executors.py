"""Dask executors: a LocalCluster, and a real `dask scheduler` with two `dask worker` processes.

Every server listens on 127.0.0.1 only, on free ports, and is stopped at the end.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from evo.config import load_preset
from evo.executors import DaskExecutor, ExecutorError, make_executor

from campaign_helpers import BackgroundCommand, free_port, results, run_campaign

pytest.importorskip("dask.distributed")


def smoke_config(db, **run):
    return load_preset("smoke").with_overrides(db=str(db), generations=1, **run)


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    config = smoke_config(tmp_path_factory.mktemp("serial") / "smoke.sqlite")
    run_campaign(config)
    return results(config.db_path)


def test_local_cluster_matches_serial(serial_results, tmp_path):
    config = smoke_config(tmp_path / "smoke.sqlite", executor="dask-local:2")
    run_campaign(config)
    assert results(config.db_path) == serial_results


def test_scheduler_survives_killed_worker(serial_results, tmp_path):
    port = free_port()
    address = f"127.0.0.1:{port}"
    servers = []
    try:
        scheduler = BackgroundCommand(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
        servers.append(scheduler)
        scheduler.wait_for("Scheduler at:")
        worker_command = ["dask", "worker", f"tcp://{address}", "--host", "127.0.0.1", "--nthreads", "1",
                          "--no-nanny", "--no-dashboard"]
        # The first worker stops inside its first evaluation, and the test kills it there.
        doomed = BackgroundCommand(worker_command + ["--name", "doomed"], env={**os.environ, "EVONAS_PAUSE_AT": "evaluation:1"})
        servers.append(doomed)
        survivor = BackgroundCommand(worker_command + ["--name", "survivor"])
        servers.append(survivor)
        doomed.wait_for("Registered to:")
        survivor.wait_for("Registered to:")

        db = tmp_path / "smoke.sqlite"
        campaign = BackgroundCommand([sys.executable, "-c", "from evo.cli import main; main()", "run", "--preset", "smoke", "--db", str(db),
                           "--generations", "1", "--executor", f"dask://{address}"])
        servers.append(campaign)
        doomed.wait_for("paused at evaluation:1")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=30)
        assert campaign.process.wait(timeout=300) == 0, "".join(campaign.lines[-30:])
    finally:
        for server in reversed(servers):
            server.stop()

    assert results(db) == serial_results
    statuses = [row[1] for row in results(db)[2]]
    assert "failed" not in statuses


def test_unreachable_scheduler_is_named():
    port = free_port()
    with pytest.raises(ExecutorError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        DaskExecutor(f"dask://127.0.0.1:{port}", connect_timeout=2)


@pytest.mark.parametrize("spec", ["dask-local:0", "dask://nohost", "threads", "process:2"])
def test_invalid_executor_rejected(spec):
    with pytest.raises(ExecutorError, match="use serial, process, dask-local:N or dask://HOST:PORT"):
        make_executor(spec)
