"""Infrastructure failures on a real `dask scheduler`: they stop the campaign, never become records.

Every server listens on 127.0.0.1 only, on free ports, and is stopped at the end.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import pytest

from evo.config import load_preset
from evo.executors import DaskExecutor, Job, _infrastructure_failure
from fitness import task_shapes
from genomes.zoo import build_seed

from campaign_helpers import BackgroundCommand, free_port, query, results, run_campaign

pytest.importorskip("dask.distributed")

EVO = [sys.executable, "-c", "from evo.cli import main; main()"]


def flops_job(key):
    # Counting FLOPs needs no training, so the job takes a fraction of a second.
    shape, classes = task_shapes("digits")
    genome = build_seed("small_mlp", shape, classes).to_dict()
    return Job(key, genome, {"name": "digits"}, {"steps": 1, "batch_size": 32}, seed=key, objectives=("flops",))


def start_scheduler(port):
    scheduler = BackgroundCommand(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    scheduler.wait_for("Scheduler at:")
    return scheduler


def worker_command(port, *options):
    return ["dask", "worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1", "--nthreads", "1",
            "--no-dashboard", *options]


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    config = load_preset("smoke").with_overrides(db=str(tmp_path_factory.mktemp("serial") / "smoke.sqlite"),
                                                 generations=1)
    run_campaign(config)
    return results(config.db_path)


def test_lost_scheduler_stops_run_then_resume(serial_results, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    db = tmp_path / "smoke.sqlite"
    servers = []
    try:
        scheduler = start_scheduler(port)
        servers.append(scheduler)
        # Generation 0 has four evaluations, so the worker stops inside the second one of generation 1.
        worker = BackgroundCommand(worker_command(port, "--no-nanny"), env={**os.environ, "EVONAS_PAUSE_AT": "evaluation:6"})
        servers.append(worker)
        worker.wait_for("Registered to:")
        campaign = BackgroundCommand(EVO + ["run", "--preset", "smoke", "--db", str(db), "--generations", "1",
                                    "--executor", f"dask://127.0.0.1:{port}"])
        servers.append(campaign)
        worker.wait_for("paused at evaluation:6")
        # Time for the engine to fetch the first result of generation 1, which it then stages.
        time.sleep(2.0)
        scheduler.process.send_signal(signal.SIGKILL)
        scheduler.process.wait(timeout=30)
        status = campaign.process.wait(timeout=120)
        campaign.stop()
        output = "".join(campaign.lines)
        worker.stop()
        servers.remove(worker)

        assert status == 1, output[-3000:]
        assert f"lost the Dask scheduler at {address}" in output
        assert f"then resume the campaign with: evo resume {db} --campaign smoke" in output
        assert "Traceback" not in output
        assert query(db, "SELECT number FROM generations ORDER BY number") == [(0,)]
        assert query(db, "SELECT COUNT(*) FROM evaluations WHERE error LIKE '%Dask%'") == [(0,)]
        staged = query(db, "SELECT individual_id, generation, record FROM staged_evaluations")
        # One finished evaluation of generation 1, unless the engine had not fetched it yet.
        assert len(staged) <= 1
        assert all(row[1] == 1 for row in staged)
        assert all("Dask" not in row[2] for row in staged)

        # A fresh scheduler on the same address, and a worker that does not stop.
        scheduler = start_scheduler(port)
        servers.append(scheduler)
        worker = BackgroundCommand(worker_command(port, "--no-nanny"))
        servers.append(worker)
        worker.wait_for("Registered to:")
        resume = BackgroundCommand(EVO + ["resume", str(db), "--executor", f"dask://127.0.0.1:{port}"])
        servers.append(resume)
        assert resume.process.wait(timeout=180) == 0, "".join(resume.lines[-30:])
    finally:
        for server in reversed(servers):
            server.stop()

    assert results(db) == serial_results


def wait_for_record(caplog, text, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in record.getMessage() for record in caplog.records):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} was not logged; log:\n{caplog.text[-3000:]}")


def test_scheduler_without_workers_warns(caplog):
    caplog.set_level(logging.WARNING, logger="evo.executors")
    port = free_port()
    servers = []
    executor = None
    try:
        servers.append(start_scheduler(port))
        executor = DaskExecutor(f"dask://127.0.0.1:{port}", no_workers_warning_interval=0.5,
                                poll_interval=0.2)
        executor.submit(flops_job(1))
        results_seen = []
        waiter = threading.Thread(target=lambda: results_seen.append(executor.next_result()), daemon=True)
        waiter.start()
        wait_for_record(caplog, f"the Dask scheduler at tcp://127.0.0.1:{port} has no workers")
        warnings = sum("has no workers" in record.getMessage() for record in caplog.records)
        time.sleep(1.5)
        later_warnings = sum("has no workers" in record.getMessage() for record in caplog.records)
        # The executor keeps waiting: a worker that joins now runs the job.
        worker = BackgroundCommand(worker_command(port, "--no-nanny"))
        servers.append(worker)
        waiter.join(timeout=120)
    finally:
        if executor is not None:
            executor.close()
        for server in reversed(servers):
            server.stop()

    assert later_warnings > warnings, "the warning repeats while no worker comes"
    assert f"start `dask worker tcp://127.0.0.1:{port}`" in caplog.text
    assert len(results_seen) == 1
    key, record = results_seen[0]
    assert key == 1
    assert record["status"] == "ok"


@pytest.mark.parametrize("worker_first", [True, False], ids=["worker-before-engine", "worker-joins-later"])
def test_nanny_worker_timeout_warning(caplog, worker_first):
    # A worker present at the start is found by asking every worker. One that joins later
    # is found by the mark on its first record.
    caplog.set_level(logging.WARNING, logger="evo.executors")
    port = free_port()
    servers = []
    executor = None
    try:
        servers.append(start_scheduler(port))
        if not worker_first:
            executor = DaskExecutor(f"dask://127.0.0.1:{port}", timeout=60.0)
        # With its nanny (the default), the worker is a daemonic process.
        worker = BackgroundCommand(worker_command(port, "--name", "nannied"))
        servers.append(worker)
        worker.wait_for("Registered to:")
        if worker_first:
            executor = DaskExecutor(f"dask://127.0.0.1:{port}", timeout=60.0)
        found = dict(executor.map([flops_job(1), flops_job(2)]))
    finally:
        if executor is not None:
            executor.close()
        for server in reversed(servers):
            server.stop()

    warnings = [record.getMessage() for record in caplog.records
                if "cannot enforce run.evaluation_timeout" in record.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "tcp://127.0.0.1:" in warnings[0]
    assert "--no-nanny" in warnings[0]
    assert found[1]["status"] == "ok"
    assert found[2]["status"] == "ok"
    assert "evaluated_without_time_limit" not in found[1]
    assert "evaluated_without_time_limit" not in found[2]


def cancelled_future_error():
    from distributed.client import FutureCancelledError

    return FutureCancelledError("evaluate-1-abc", reason="scheduler-connection-lost")


def closed_comm_error():
    from distributed.comm.core import CommClosedError

    return CommClosedError("in <TCP>: ConnectionRefusedError")


def closed_client_error():
    from distributed.client import ClosedClientError

    return ClosedClientError("the client is closed")


def killed_worker_error():
    from distributed.scheduler import KilledWorker

    return KilledWorker("evaluate-1-abc", "tcp://127.0.0.1:1", 3)


@pytest.mark.parametrize("make_error, cluster_failed", [
    (cancelled_future_error, True),
    (closed_comm_error, True),
    (closed_client_error, True),
    (killed_worker_error, False),
    (lambda: ValueError("the task raised"), False),
    (lambda: OSError("the task could not read its data"), False),
])
def test_infrastructure_failure_classified(make_error, cluster_failed):
    assert _infrastructure_failure(make_error()) is cluster_failed
