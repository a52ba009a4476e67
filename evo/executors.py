"""Executors run ``fitness.evaluate`` on plain-data jobs and yield results as they finish.

``serial`` evaluates in the engine process. ``process`` runs a fixed number of worker
processes started with the ``spawn`` method, so no state of the engine (open database, RNG,
CUDA context) leaks into them. ``dask-local:N`` starts a Dask ``LocalCluster`` of N worker
processes bound to 127.0.0.1, and ``dask://HOST:PORT`` sends jobs to a running
``dask scheduler``. Only a ``Job`` (plain data, defined in this importable module) and the
result dict cross a process boundary, never a class made at run time.

A worker that dies in the middle of an evaluation costs a retry: the job runs again on
another worker, up to ``retries`` times, and only then becomes a ``failed`` record.

On Dask, each worker thread hands its jobs to a persistent spawned child process (see
``run_job_in_child``). The child can be killed when an evaluation exceeds the time limit,
and its training does not compete for the GIL with the Dask worker's event loop. Because
the children do the work, the workers of ``dask-local:N`` are threads of the engine
process: separate worker processes would only forward jobs, and starting them (importing
``distributed`` in each) delayed the first results by about 5 to 9 s on a busy 2-core machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

log = logging.getLogger(__name__)

# Fault injection for tests. EVONAS_PAUSE_AT="NAME:COUNT" makes the process stop the
# COUNT-th time (1-based) it reaches the pause point NAME: it prints "paused at NAME:COUNT"
# on stderr and sleeps until it is killed. Unset, pause_point() only counts.
PAUSE_VARIABLE = "EVONAS_PAUSE_AT"
_pause_counts: Counter[str] = Counter()

DEFAULT_RETRIES = 2
# A worker sends this when it starts a job, after its own start-up. The evaluation time limit
# counts from then, so the start of a fresh worker (spawn, importing torch) is not charged
# to the evaluation. A worker that has not started its job this many seconds after it was
# handed out (or the time limit, if longer) counts as dead, and the job is retried.
JOB_STARTED = "job started"
WORKER_START_LIMIT = 120.0
EXECUTOR_PATTERN = re.compile(r"serial|process|dask-local:[1-9][0-9]*|dask://[^\s/:]+:[0-9]+")
EXECUTOR_FORMS = "serial, process, dask-local:N or dask://HOST:PORT"


class ExecutorError(ValueError):
    """An executor specification is invalid, or its cluster cannot be reached.

    ``resumable`` is True when the campaign stopped at a cluster failure. It can then go on from
    its last committed generation once the cluster is back, so the CLI adds the resume command.
    """

    def __init__(self, message: str, *, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


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
    """One evaluation request; ``key`` is returned with the result (the individual id).

    ``inherit`` and ``keep_weights`` are passed to ``fitness.evaluate``. The parent's weights
    travel inside ``inherit`` as .npz bytes, so every executor starts from the same tensors.
    """

    key: int
    genome: dict[str, Any]
    task: dict[str, Any]
    budget: dict[str, Any]
    seed: int
    objectives: tuple[str, ...]
    inherit: dict[str, Any] | None = None
    keep_weights: bool = False


def run_job(job: Job) -> dict[str, Any]:
    """Evaluate one job and return the record as a plain dict."""
    # Imported here so that a Dask worker process, which only forwards jobs to its child,
    # does not import torch.
    import fitness

    pause_point("evaluation")
    record = fitness.evaluate(job.genome, job.task, job.budget, job.seed, job.objectives,
                              inherit=job.inherit, keep_weights=job.keep_weights)
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
    """Evaluate each job in the engine process, in order. It has no time limit.

    Like every executor, it offers ``map(jobs)`` for a batch, and ``submit(job)`` with
    ``next_result()`` for a stream of jobs (the asynchronous algorithms use the stream).
    """

    name = "serial"
    workers = 1
    concurrent = False  # runs one job at a time, so the order of a batch cannot change its wall time

    def __init__(self) -> None:
        self._queue: deque[Job] = deque()

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        for job in jobs:
            yield job.key, run_job(job)

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def next_result(self) -> tuple[int, dict[str, Any]]:
        """Run the oldest submitted job and return (key, record)."""
        if not self._queue:
            raise LookupError("next_result() called with no job submitted")
        job = self._queue.popleft()
        return job.key, run_job(job)

    def close(self) -> None:
        pass


def _exit_when_orphaned(parent_pid: int) -> None:
    # A SIGKILLed engine cannot stop its workers, and a worker in the middle of a long
    # evaluation would not notice the closed pipe until it tries to send the result.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _worker_main(connection: multiprocessing.connection.Connection, parent_pid: int | None = None) -> None:
    # Runs in a spawned worker: receive a Job, send back its record, until None or EOF.
    # Ctrl-C in a terminal reaches the whole process group. The engine handles it and stops
    # its workers, so a worker ignores it rather than print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True,
                         name="evonas-orphan-watch").start()
    pause_point("worker_start")
    import fitness  # noqa: F401  (start-up work, done before the first job's time limit starts)

    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if job is None:
            # Every record has been sent, and nothing else in a worker needs saving. Skipping the
            # interpreter's shutdown (torch's among it) saves about 0.7 s per worker at close.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            connection.send(JOB_STARTED)
            connection.send(run_job(job))
        except OSError:
            # The engine is gone (killed, or it stopped this worker's batch), so no process reads
            # the record, and the worker ends without a BrokenPipeError traceback.
            os._exit(1)


@dataclass
class _Worker:
    process: Any
    connection: multiprocessing.connection.Connection
    job: Job | None = None
    started: float = 0.0  # when the job was handed out, then when the worker started it
    running: bool = False  # whether the worker has started the job


class ProcessExecutor:
    """Spawned worker processes, one job each at a time, with an optional time limit.

    A job that runs longer than ``timeout`` seconds gets a ``timeout`` record, and its
    worker is killed and replaced. A worker that dies (killed, segfault, out of memory)
    costs its job a retry. After ``retries`` retries the job gets a ``failed`` record.
    """

    name = "process"

    @property
    def concurrent(self) -> bool:
        """Whether jobs can run side by side, so that a batch should start with its longest jobs."""
        return self.workers > 1

    def __init__(self, workers: int, *, timeout: float | None = None, retries: int = DEFAULT_RETRIES):
        self.workers = workers
        self.timeout = timeout
        self.retries = retries
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._queue: deque[Job] = deque()
        self._finished: deque[tuple[int, dict[str, Any]]] = deque()
        self._attempts: Counter[int] = Counter()
        self._closed = False

    def _start_worker(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end, os.getpid()), daemon=True,
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

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def next_result(self) -> tuple[int, dict[str, Any]]:
        """Wait for the next finished job (any submitted one) and return (key, record)."""
        while not self._finished:
            if self._closed:
                raise ExecutorError("the process executor was closed while a job was running")
            if not self._queue and not self._busy:
                raise LookupError("next_result() called with no job submitted")
            self._step()
        return self._finished.popleft()

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        for job in jobs:
            self.submit(job)
        try:
            for _ in range(len(jobs)):
                yield self.next_result()
        finally:
            # Jobs still running when the caller stops early are abandoned with their workers.
            self._abandon()

    def _abandon(self) -> None:
        for worker in self._busy:
            self._stop(worker)
        self._busy, self._queue, self._finished = [], deque(), deque()

    def _dispatch(self) -> None:
        while self._queue and len(self._busy) < self.workers:
            worker = self._idle.pop() if self._idle else self._start_worker()
            worker.job, worker.started, worker.running = self._queue.popleft(), time.monotonic(), False
            try:
                worker.connection.send(worker.job)
            except OSError:
                # The worker died while idle: nothing was lost, so start another.
                self._stop(worker)
                self._queue.appendleft(worker.job)
                continue
            self._busy.append(worker)

    def _limit(self, worker: _Worker) -> float:
        """Return the seconds the worker may run from `worker.started` before it is stopped (timeout set)."""
        return self.timeout if worker.running else max(self.timeout, WORKER_START_LIMIT)

    def _step(self) -> None:
        """Hand out queued jobs, wait for one event, and move finished jobs to _finished."""
        self._dispatch()
        wait_for = None
        if self.timeout is not None:
            deadline = min(w.started + self._limit(w) for w in self._busy)
            wait_for = max(0.0, deadline - time.monotonic())
        ready = multiprocessing.connection.wait([w.connection for w in self._busy], timeout=wait_for)
        now = time.monotonic()
        for worker in list(self._busy):
            job = worker.job
            if worker.connection in ready:
                try:
                    record = worker.connection.recv()
                except (EOFError, OSError):
                    record = None
                if record == JOB_STARTED:
                    worker.started, worker.running = now, True
                    continue
                self._busy.remove(worker)
                if record is not None:
                    worker.job = None
                    self._idle.append(worker)
                    self._finished.append((job.key, record))
                    continue
                self._stop(worker)
                if self._closed:
                    # interrupt() killed it: neither a retry nor a warning about a lost worker.
                    raise ExecutorError("the process executor was closed while a job was running")
                self._attempts[job.key] += 1
                attempts, exit_code = self._attempts[job.key], worker.process.exitcode
                if attempts > self.retries:
                    log.error("worker died on individual %d (exit code %s) %d times; giving up",
                              job.key, exit_code, attempts)
                    self._finished.append((job.key, failure_record(
                        "failed", f"worker process died {attempts} times (last exit code {exit_code})")))
                else:
                    log.warning("worker died on individual %d (exit code %s); retry %d of %d",
                                job.key, exit_code, attempts, self.retries)
                    self._queue.appendleft(job)
            elif self.timeout is not None and now - worker.started >= self._limit(worker):
                self._busy.remove(worker)
                self._stop(worker)
                if worker.running:
                    log.error("individual %d timed out after %.1f s; its worker was replaced",
                              job.key, now - worker.started)
                    self._finished.append((job.key, failure_record(
                        "timeout", f"evaluation timed out after {self.timeout:g} s (run.evaluation_timeout)",
                        now - worker.started)))
                    continue
                # A worker that never started its job costs a retry, like one that died.
                self._attempts[job.key] += 1
                attempts, limit = self._attempts[job.key], self._limit(worker)
                if attempts > self.retries:
                    log.error("worker did not start individual %d within %.0f s, %d times; giving up",
                              job.key, limit, attempts)
                    self._finished.append((job.key, failure_record(
                        "failed", f"worker process did not start within {limit:g} s, {attempts} times")))
                else:
                    log.warning("worker did not start individual %d within %.0f s; retry %d of %d",
                                job.key, limit, attempts, self.retries)
                    self._queue.appendleft(job)

    def interrupt(self) -> None:
        """Mark the executor closed and kill its busy workers, from any thread.

        A thread waiting in next_result() then raises ExecutorError instead of retrying
        the job. Call close() afterwards, from the thread that used the executor or once
        it has stopped, to stop the idle workers.
        """
        self._closed = True
        for worker in list(self._busy):
            if worker.process.is_alive():
                worker.process.kill()

    def close(self) -> None:
        self._closed = True
        self._abandon()
        # Every worker gets its stop message first, so that they end side by side.
        for worker in self._idle:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self._idle:
            worker.process.join(timeout=10)
            self._stop(worker)
        self._idle = []


# Per Dask worker thread: the child process that runs its evaluations (see run_job_in_child).
_dask_thread_state = threading.local()
# The same children by Dask worker address, so that closing a LocalCluster, whose workers
# are threads of this process, can stop its children too.
_children_by_worker: dict[str, list[ProcessExecutor]] = {}
_children_lock = threading.Lock()
_daemon_warning_logged = False
# The key that a daemonic Dask worker adds to a record it evaluated without the time limit.
# DaskExecutor removes it and warns in the engine's log, so records stay as on other executors.
UNLIMITED_WORKER_KEY = "evaluated_without_time_limit"
# Seconds DaskExecutor.next_result waits for a result before it checks the client again.
DASK_POLL_INTERVAL = 1.0
# Seconds between two warnings that the scheduler has no workers while jobs wait.
NO_WORKERS_WARNING_INTERVAL = 30.0


def _is_daemonic() -> bool:
    # Runs on every Dask worker through Client.run. A daemonic worker cannot start the child
    # of run_job_in_child, so it cannot enforce the time limit.
    return multiprocessing.current_process().daemon


def _infrastructure_failure(error: BaseException) -> bool:
    """Return whether an exception of a Dask future means that the cluster, not the task, failed."""
    import asyncio
    import concurrent.futures

    from distributed.client import ClosedClientError
    from distributed.comm.core import CommClosedError

    return isinstance(error, (asyncio.CancelledError, concurrent.futures.CancelledError, ClosedClientError,
                              CommClosedError))


def run_job_in_child(job: Job, timeout: float | None, retries: int) -> dict[str, Any]:
    """Evaluate one job in this Dask worker thread's persistent child process (a Dask task).

    The child is a one-worker ProcessExecutor, started on the thread's first job and kept
    for the next ones, so torch and the task data are loaded once per worker. A job that
    runs longer than ``timeout`` seconds gets a ``timeout`` record, and its child is
    killed and replaced on the next job. A child that dies costs the job a retry.

    A daemonic process cannot start children, and ``dask worker`` with its nanny runs the
    worker daemonic unless ``distributed.worker.daemon`` is False. In such a worker the job
    runs in the worker thread, without the time limit: a warning is logged once here, and
    the record names the worker under UNLIMITED_WORKER_KEY, so that the engine warns too.
    """
    global _daemon_warning_logged
    from distributed import get_worker

    if multiprocessing.current_process().daemon:
        if timeout is None:
            return run_job(job)
        if not _daemon_warning_logged:
            _daemon_warning_logged = True
            log.warning("this Dask worker is a daemonic process, so it cannot start the child that enforces "
                        "run.evaluation_timeout; start `dask worker` with --no-nanny or with "
                        "DASK_DISTRIBUTED__WORKER__DAEMON=False")
        record = run_job(job)
        record[UNLIMITED_WORKER_KEY] = get_worker().address
        return record

    child = getattr(_dask_thread_state, "child", None)
    if child is None or child.timeout != timeout or child.retries != retries:
        address = get_worker().address
        with _children_lock:
            children = _children_by_worker.setdefault(address, [])
            if child is not None:
                if child in children:
                    children.remove(child)
                child.close()
            child = ProcessExecutor(1, timeout=timeout, retries=retries)
            children.append(child)
        _dask_thread_state.child = child
    child.submit(job)
    _, record = child.next_result()
    return record


class DaskExecutor:
    """Jobs on a Dask cluster: a LocalCluster on 127.0.0.1, or a running scheduler.

    Each job is a Dask task that runs ``run_job_in_child``, so ``timeout`` (seconds, None
    for no limit) is enforced by killing the worker's child process, not the Dask worker.
    ``dask-local:N`` runs N single-threaded workers inside the engine process, talking to
    their scheduler over TCP on 127.0.0.1, and each of them starts its own child.
    The scheduler reruns a task whose worker died, up to its ``distributed.scheduler.allowed-failures``
    setting (3 in distributed 2026.8.0), and ``retries`` reruns a task that raised.

    Only a task that failed gives a ``failed`` record. A lost scheduler, a closed client or
    connection, or a future cancelled by Dask raises ExecutorError from ``next_result``, so
    the campaign stops without committing the generation, and a resume evaluates the rest.
    ``next_result`` waits at most ``poll_interval`` seconds at a time, to check the client
    between waits and to warn, every ``no_workers_warning_interval`` seconds, while the
    scheduler has no workers.
    """

    concurrent = True  # also with one worker now: more can join a running scheduler

    def __init__(self, spec: str, *, timeout: float | None = None, retries: int = DEFAULT_RETRIES,
                 connect_timeout: float = 30.0, poll_interval: float = DASK_POLL_INTERVAL,
                 no_workers_warning_interval: float = NO_WORKERS_WARNING_INTERVAL):
        import dask
        from dask.distributed import Client, LocalCluster

        self.name = spec
        self.timeout = timeout
        self.retries = retries
        self.poll_interval = poll_interval
        self.no_workers_warning_interval = no_workers_warning_interval
        self._cluster = None
        if spec.startswith("dask-local:"):
            count = int(spec.split(":", 1)[1])
            # Saturation 1.0 gives each single-threaded worker one task at a time, so no task
            # waits behind a running one while another worker is idle at a generation barrier.
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                self._cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=False,
                                             host="127.0.0.1", protocol="tcp://", dashboard_address=None)
            self._client = Client(self._cluster)
            self.address = self._cluster.scheduler_address
            # Its workers are threads here, and cancelling their tasks at a stop (Ctrl-C, a batch
            # left early) makes each log a warning about a CancelledError that we caused.
            logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
            log.info("started a Dask LocalCluster of %d workers at %s", count, self.address)
        else:
            self.address = "tcp://" + spec[len("dask://"):]
            try:
                self._client = Client(self.address, timeout=connect_timeout)
            except OSError as error:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.address} ({error}); start it with "
                    "`dask scheduler` and its workers with `dask worker ADDRESS`, or use another --executor"
                ) from None
            log.info("connected to the Dask scheduler at %s", self.address)
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        self._batch = uuid.uuid4().hex[:8]
        self._pending: dict[Any, Job] = {}
        self._workers_checked_at = float("-inf")
        # Workers named in a warning that they cannot enforce the time limit.
        self._unlimited_workers: set[str] = set()
        if timeout is not None:
            daemonic = sorted(address for address, flag in self._client.run(_is_daemonic).items() if flag)
            self._warn_unlimited(daemonic)

    def _warn_unlimited(self, addresses: Sequence[str]) -> None:
        new = [address for address in addresses if address not in self._unlimited_workers]
        if not new:
            return
        self._unlimited_workers.update(new)
        log.warning("Dask worker%s %s cannot enforce run.evaluation_timeout (%g s): with its nanny, a "
                    "`dask worker` is a daemonic process and cannot start the child that stops a long "
                    "evaluation; restart it with --no-nanny or with DASK_DISTRIBUTED__WORKER__DAEMON=False",
                    "s" if len(new) > 1 else "", ", ".join(new), self.timeout)

    def _lost(self, reason: str) -> ExecutorError:
        return ExecutorError(f"lost the Dask scheduler at {self.address} ({reason}); restart it and its "
                             "workers, then resume the campaign", resumable=True)

    def _client_state(self) -> str:
        """Describe a client that is not running, for the message of ExecutorError."""
        if self._client.status == "connecting":
            return "its connection closed"
        return f"the Dask client is {self._client.status}"

    def submit(self, job: Job) -> None:
        if self._client.status != "running":
            raise self._lost(self._client_state())
        # pure=False and a unique key: a rerun of the same job after a resume is a new task.
        future = self._client.submit(run_job_in_child, job, self.timeout, self.retries,
                                     key=f"evaluate-{job.key}-{self._batch}", pure=False, retries=self.retries)
        self._pending[future] = job

    def _warn_without_workers(self) -> None:
        now = time.monotonic()
        if now - self._workers_checked_at < self.no_workers_warning_interval:
            return
        self._workers_checked_at = now
        try:
            count = len(self._client.scheduler_info().get("workers", {}))
        except Exception as error:  # the scheduler is gone, so the request failed
            raise self._lost(f"{type(error).__name__}: {error}") from None
        if count == 0:
            log.warning("the Dask scheduler at %s has no workers, and %d evaluations wait; start "
                        "`dask worker %s` on a worker machine", self.address, len(self._pending), self.address)

    def _next_done(self) -> Any:
        """Return a pending future that has finished, checking the client between waits.

        The oldest finished one comes first. Done callbacks would keep the order of finishing,
        but Dask runs them from its event loop through a thread pool, and with them a Ctrl-C
        test once printed a traceback from that loop at exit.
        """
        from distributed import wait

        while True:
            if self._client.status != "running":
                raise self._lost(self._client_state())
            for future in self._pending:
                if future.done():
                    return future
            try:
                wait(list(self._pending), timeout=self.poll_interval, return_when="FIRST_COMPLETED")
            except TimeoutError:
                self._warn_without_workers()
            except Exception as error:  # the client could not wait, for example because it closed
                raise self._lost(f"{type(error).__name__}: {error}") from None

    def next_result(self) -> tuple[int, dict[str, Any]]:
        """Wait for the next finished job (any submitted one) and return (key, record).

        Raises ExecutorError when the scheduler or the connection to it was lost.
        """
        if not self._pending:
            raise LookupError("next_result() called with no job submitted")
        future = self._next_done()
        job = self._pending.pop(future)
        if future.status == "finished":
            try:
                record = future.result()
            except Exception as error:  # the result could not be fetched from its worker
                raise self._lost(f"{type(error).__name__}: {error}") from None
        elif future.status == "error":
            try:
                error = future.exception()
            except Exception as fetch_error:
                raise self._lost(f"{type(fetch_error).__name__}: {fetch_error}") from None
            if _infrastructure_failure(error):
                raise self._lost(f"{type(error).__name__}: {error}")
            # KilledWorker after too many worker deaths, or the task raised.
            log.error("Dask task for individual %d failed: %s: %s", job.key, type(error).__name__, error)
            record = failure_record("failed", f"Dask task failed: {type(error).__name__}: {error}")
        else:  # cancelled or lost by Dask: map() removes the futures it cancels from _pending
            if self._client.status != "running":
                raise self._lost(self._client_state())
            raise self._lost(f"Dask reports the task of individual {job.key} {future.status}")
        unlimited = record.pop(UNLIMITED_WORKER_KEY, None)
        if unlimited is not None:
            self._warn_unlimited([unlimited])
        return job.key, record

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        for job in jobs:
            self.submit(job)
        try:
            for _ in range(len(jobs)):
                yield self.next_result()
        finally:
            pending = list(self._pending)
            self._pending.clear()
            if self._client.status == "running":
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        local_workers = []
        if self._cluster is not None and self._client.status == "running":
            local_workers = list(self._client.scheduler_info().get("workers", {}))
        with _children_lock:
            local_children = [child for address in local_workers for child in _children_by_worker.pop(address, [])]
        # Children of remote workers end with their worker process. Those of a LocalCluster
        # belong to this process. A worker thread may still wait on an evaluation when the
        # caller stopped reading results early, so its child is killed first and the task
        # fails at once instead of training on.
        for child in local_children:
            child.interrupt()
        # A client that lost its scheduler is still trying to reconnect, and closing it cancels
        # that attempt, which distributed logs as an error with a traceback. The campaign
        # reports the lost scheduler in one line, so that logger is silenced for the close.
        client_log = logging.getLogger("distributed.client")
        level = client_log.level
        if self._client.status != "running":
            client_log.setLevel(logging.CRITICAL)
        try:
            self._client.close(timeout=10)
        except Exception as error:  # a client that lost its scheduler may fail to close cleanly
            log.debug("closing the Dask client failed: %s: %s", type(error).__name__, error)
        finally:
            client_log.setLevel(level)
        if self._cluster is not None:
            self._cluster.close()
        for child in local_children:
            child.close()


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
    return DaskExecutor(spec, timeout=timeout, retries=retries)
