"""Executors run ``fitness.evaluate`` on plain-data jobs and yield results as they finish.

``serial`` evaluates in the engine process. ``process`` runs a fixed number of worker
processes started with the ``spawn`` method, so no state of the engine (open database, RNG,
CUDA context) leaks into them. ``dask-local:N`` starts a Dask ``LocalCluster`` of N worker
processes bound to 127.0.0.1, and ``dask://HOST:PORT`` sends jobs to a running
``dask scheduler``. Only a ``Job`` (plain data, defined in this importable module) and the
result dict cross a process boundary, never a class made at run time.

A worker that dies in the middle of an evaluation costs a retry: the job runs again on
another worker, up to ``retries`` times, and only then becomes a ``failed`` record.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import fitness

log = logging.getLogger(__name__)

# Fault injection for tests. EVONAS_PAUSE_AT="NAME:COUNT" makes the process stop the
# COUNT-th time (1-based) it reaches the pause point NAME: it prints "paused at NAME:COUNT"
# on stderr and sleeps until it is killed. Unset, pause_point() only counts.
PAUSE_VARIABLE = "EVONAS_PAUSE_AT"
_pause_counts: Counter[str] = Counter()

DEFAULT_RETRIES = 2
EXECUTOR_PATTERN = re.compile(r"serial|process|dask-local:[1-9][0-9]*|dask://[^\s/:]+:[0-9]+")
EXECUTOR_FORMS = "serial, process, dask-local:N or dask://HOST:PORT"


class ExecutorError(ValueError):
    """An executor specification is invalid, or its cluster cannot be reached."""


def pause_point(name: str) -> None:
    """Pause here for good if EVONAS_PAUSE_AT names this point and its count is reached."""
    _pause_counts[name] += 1
    request = os.environ.get(PAUSE_VARIABLE)
    if not request:
        return
    point, _, count = request.partition(":")
    if point == name and _pause_counts[name] == int(count or 1):
        print(f"paused at {name}:{_pause_counts[name]}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


@dataclass(frozen=True)
class Job:
    """One evaluation request; ``key`` is returned with the result (the individual id)."""

    key: int
    genome: dict[str, Any]
    task: dict[str, Any]
    budget: dict[str, Any]
    seed: int
    objectives: tuple[str, ...]


def run_job(job: Job) -> dict[str, Any]:
    """Evaluate one job and return the record as a plain dict."""
    pause_point("evaluation")
    record = fitness.evaluate(job.genome, job.task, job.budget, job.seed, job.objectives)
    return record.to_dict()


def failure_record(status: str, error: str, seconds: float = 0.0) -> dict[str, Any]:
    """Build the record of an evaluation that the executor, not the evaluation, ended."""
    return {"status": status, "objectives": {}, "metrics": {}, "error": error, "seconds": seconds}


def validate_executor(spec: str) -> str:
    """Return the executor specification, or raise ExecutorError naming the allowed forms."""
    if not isinstance(spec, str) or not EXECUTOR_PATTERN.fullmatch(spec):
        raise ExecutorError(f"executor {spec!r} is invalid; use {EXECUTOR_FORMS}")
    return spec


class SerialExecutor:
    """Evaluate each job in the engine process, in order. It has no time limit."""

    name = "serial"
    workers = 1

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        for job in jobs:
            yield job.key, run_job(job)

    def close(self) -> None:
        pass


def _worker_main(connection: multiprocessing.connection.Connection) -> None:
    # Runs in a spawned worker: receive a Job, send back its record, until None or EOF.
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        connection.send(run_job(job))


@dataclass
class _Worker:
    process: Any
    connection: multiprocessing.connection.Connection
    job: Job | None = None
    started: float = 0.0


class ProcessExecutor:
    """Spawned worker processes, one job each at a time, with an optional time limit.

    A job that runs longer than ``timeout`` seconds gets a ``timeout`` record, and its
    worker is killed and replaced. A worker that dies (killed, segfault, out of memory)
    costs its job a retry. After ``retries`` retries the job gets a ``failed`` record.
    """

    name = "process"

    def __init__(self, workers: int, *, timeout: float | None = None, retries: int = DEFAULT_RETRIES):
        self.workers = workers
        self.timeout = timeout
        self.retries = retries
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []

    def _start_worker(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end,), daemon=True,
                                        name="evonas-worker")
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=10)
        worker.connection.close()

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        queue = deque(jobs)
        attempts: Counter[int] = Counter()
        busy: list[_Worker] = []
        try:
            while queue or busy:
                while queue and len(busy) < self.workers:
                    worker = self._idle.pop() if self._idle else self._start_worker()
                    worker.job, worker.started = queue.popleft(), time.monotonic()
                    try:
                        worker.connection.send(worker.job)
                    except OSError:
                        # The worker died while idle: nothing was lost, so start another.
                        self._stop(worker)
                        queue.appendleft(worker.job)
                        continue
                    busy.append(worker)
                wait_for = None
                if self.timeout is not None:
                    deadline = min(w.started for w in busy) + self.timeout
                    wait_for = max(0.0, deadline - time.monotonic())
                ready = multiprocessing.connection.wait([w.connection for w in busy], timeout=wait_for)
                now = time.monotonic()
                for worker in list(busy):
                    job = worker.job
                    if worker.connection in ready:
                        try:
                            record = worker.connection.recv()
                        except (EOFError, OSError):
                            record = None
                        if record is not None:
                            busy.remove(worker)
                            worker.job = None
                            self._idle.append(worker)
                            yield job.key, record
                            continue
                        busy.remove(worker)
                        self._stop(worker)
                        attempts[job.key] += 1
                        exit_code = worker.process.exitcode
                        if attempts[job.key] > self.retries:
                            log.error("worker died on individual %d (exit code %s) %d times; giving up",
                                      job.key, exit_code, attempts[job.key])
                            yield job.key, failure_record(
                                "failed", f"worker process died {attempts[job.key]} times (last exit code {exit_code})")
                        else:
                            log.warning("worker died on individual %d (exit code %s); retry %d of %d",
                                        job.key, exit_code, attempts[job.key], self.retries)
                            queue.appendleft(job)
                    elif self.timeout is not None and now - worker.started >= self.timeout:
                        busy.remove(worker)
                        self._stop(worker)
                        log.error("individual %d timed out after %.1f s; its worker was replaced",
                                  job.key, now - worker.started)
                        yield job.key, failure_record(
                            "timeout", f"evaluation timed out after {self.timeout:g} s (run.evaluation_timeout)",
                            now - worker.started)
        finally:
            # Jobs still running when the caller stops early are abandoned with their workers.
            for worker in busy:
                self._stop(worker)

    def close(self) -> None:
        for worker in self._idle:
            try:
                worker.connection.send(None)
            except OSError:
                pass
            worker.process.join(timeout=10)
            self._stop(worker)
        self._idle = []


class DaskExecutor:
    """Jobs on a Dask cluster: a LocalCluster on 127.0.0.1, or a running scheduler.

    The scheduler reruns a task whose worker died (up to its ``allowed-failures`` setting,
    3 by default in distributed 2024+), and ``retries`` reruns a task that raised.

    NOTE: run.evaluation_timeout is not enforced here, because Dask cannot stop a running
    task. Budget.max_seconds still ends training that runs too long.
    """

    def __init__(self, spec: str, *, retries: int = DEFAULT_RETRIES, connect_timeout: float = 30.0):
        from dask.distributed import Client, LocalCluster

        self.name = spec
        self.retries = retries
        self._cluster = None
        if spec.startswith("dask-local:"):
            count = int(spec.split(":", 1)[1])
            self._cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            self._client = Client(self._cluster)
            log.info("started a Dask LocalCluster of %d workers at %s", count, self._cluster.scheduler_address)
        else:
            address = "tcp://" + spec[len("dask://"):]
            try:
                self._client = Client(address, timeout=connect_timeout)
            except OSError as error:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {address} ({error}); start it with "
                    "`dask scheduler` and its workers with `dask worker ADDRESS`, or use another --executor"
                ) from None
            log.info("connected to the Dask scheduler at %s", address)
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        from dask.distributed import as_completed

        # pure=False and a unique key: a rerun of the same job after a resume is a new task.
        batch = uuid.uuid4().hex[:8]
        futures = {
            self._client.submit(run_job, job, key=f"evaluate-{job.key}-{batch}", pure=False, retries=self.retries): job
            for job in jobs
        }
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # KilledWorker after too many worker deaths, or the task raised
                    log.error("Dask task for individual %d failed: %s: %s", job.key, type(error).__name__, error)
                    record = failure_record("failed", f"Dask task failed: {type(error).__name__}: {error}")
                yield job.key, record
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(spec: str, workers: int = 1, *, timeout: float | None = None,
                  retries: int = DEFAULT_RETRIES):
    """Create the executor for a specification (see EXECUTOR_FORMS).

    ``serial`` with a time limit runs on one worker process, because a hung evaluation in
    the engine process cannot be stopped.
    """
    validate_executor(spec)
    if spec == "serial" and timeout is None:
        return SerialExecutor()
    if spec in ("serial", "process"):
        return ProcessExecutor(workers if spec == "process" else 1, timeout=timeout, retries=retries)
    return DaskExecutor(spec, retries=retries)
