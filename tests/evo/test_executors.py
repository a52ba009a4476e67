"""The process executor against real spawned workers: a killed worker, a hung evaluation."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from evo.executors import PAUSE_VARIABLE, Job, ProcessExecutor, SerialExecutor, make_executor
from fitness import task_shapes
from genomes.zoo import build_seed


def flops_job(key, seed_name="small_mlp"):
    # Only "flops" is requested, so the evaluation builds nothing and trains nothing.
    shape, classes = task_shapes("digits")
    genome = build_seed(seed_name, shape, classes).to_dict()
    return Job(key, genome, {"name": "digits"}, {"steps": 1}, seed=key, objectives=("flops",))


def workers_alive():
    return [child for child in multiprocessing.active_children() if child.name == "evonas-worker"]


def run_in_thread(executor, jobs):
    results = {}

    def consume():
        for key, record in executor.map(jobs):
            results[key] = record

    thread = threading.Thread(target=consume)
    thread.start()
    return thread, results


def wait_for_worker(timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = workers_alive()
        if alive:
            return alive[0]
        time.sleep(0.05)
    raise AssertionError("no worker process started")


def test_killed_worker_costs_a_retry(monkeypatch):
    # The first worker stops in its first evaluation; workers started later do not.
    monkeypatch.setenv(PAUSE_VARIABLE, "evaluation:1")
    executor = ProcessExecutor(1, retries=1)
    thread, results = run_in_thread(executor, [flops_job(1)])
    try:
        worker = wait_for_worker()
        monkeypatch.delenv(PAUSE_VARIABLE)
        worker.kill()
        thread.join(timeout=120)
    finally:
        executor.close()

    assert not thread.is_alive()
    assert results[1]["status"] == "ok"
    assert results[1]["objectives"]["flops"] > 0
    assert workers_alive() == []


def wait_for_busy_worker(executor, timeout=60.0):
    """Return the process of a worker that has been sent its job.

    A worker killed before the job reaches it costs no retry, so the retry count is only
    predictable once the job was sent.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = list(executor._busy)
        if busy and busy[0].process.is_alive():
            return busy[0].process
        time.sleep(0.05)
    raise AssertionError("no worker received its job")


def test_worker_dying_every_time_gives_failed(monkeypatch):
    monkeypatch.setenv(PAUSE_VARIABLE, "evaluation:1")
    executor = ProcessExecutor(1, retries=1)
    thread, results = run_in_thread(executor, [flops_job(1)])
    try:
        for _ in range(2):
            worker = wait_for_busy_worker(executor)
            worker.kill()
            worker.join(timeout=30)
        thread.join(timeout=120)
    finally:
        executor.close()

    assert results[1]["status"] == "failed"
    assert "worker process died 2 times" in results[1]["error"]


def test_hung_evaluation_times_out(monkeypatch):
    monkeypatch.setenv(PAUSE_VARIABLE, "evaluation:1")
    executor = ProcessExecutor(1, timeout=8.0)
    thread, results = run_in_thread(executor, [flops_job(1), flops_job(2, "linear")])
    try:
        wait_for_worker()
        monkeypatch.delenv(PAUSE_VARIABLE)
        thread.join(timeout=180)
    finally:
        executor.close()

    assert results[1]["status"] == "timeout"
    assert "timed out after 8 s" in results[1]["error"]
    assert results[2]["status"] == "ok"


def test_process_results_match_serial():
    jobs = [flops_job(1), flops_job(2, "linear"), flops_job(3, "small_cnn")]
    serial = dict(SerialExecutor().map(jobs))
    executor = ProcessExecutor(2)
    try:
        pooled = dict(executor.map(jobs))
    finally:
        executor.close()

    assert {key: record["objectives"] for key, record in pooled.items()} == {
        key: record["objectives"] for key, record in serial.items()
    }


@pytest.mark.parametrize(("spec", "kind"), [("serial", SerialExecutor), ("process", ProcessExecutor)])
def test_make_executor_kinds(spec, kind):
    assert isinstance(make_executor(spec, 2), kind)


def test_serial_with_timeout_uses_one_process():
    executor = make_executor("serial", 4, timeout=5.0)
    assert isinstance(executor, ProcessExecutor)
    assert executor.workers == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_time_limit_does_not_count_the_worker_start(workers):
    # Spawning a worker and importing torch takes longer than 1 s; the evaluations take
    # milliseconds. With 2 workers, one worker's events wake the executor while the other starts.
    executor = ProcessExecutor(workers, timeout=1.0)
    try:
        results = dict(executor.map([flops_job(1), flops_job(2, "linear"), flops_job(3, "small_cnn")]))
    finally:
        executor.close()

    for key in (1, 2, 3):
        assert results[key]["status"] == "ok", results[key]["error"]


def test_worker_that_never_starts_costs_retries(monkeypatch):
    import evo.executors

    monkeypatch.setattr(evo.executors, "WORKER_START_LIMIT", 2.0)
    monkeypatch.setenv(PAUSE_VARIABLE, "worker_start:1")  # every new worker stops before taking a job
    executor = ProcessExecutor(1, timeout=1.0, retries=1)
    try:
        results = dict(executor.map([flops_job(1)]))
    finally:
        executor.close()

    assert results[1]["status"] == "failed"
    assert "did not start within 2 s, 2 times" in results[1]["error"]
    assert not workers_alive()
