"""Executors run ``fitness.evaluate`` on plain-data jobs and yield results as they finish.

``serial`` evaluates in the engine process. ``process`` uses a pool of worker processes started
with the ``spawn`` method. So no state of the engine (open database, RNG, CUDA context) leaks
into workers, and only JSON-able data crosses the boundary.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import fitness

log = logging.getLogger(__name__)


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
    record = fitness.evaluate(job.genome, job.task, job.budget, job.seed, job.objectives)
    return record.to_dict()


class SerialExecutor:
    name = "serial"

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        for job in jobs:
            yield job.key, run_job(job)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """A spawn-based process pool; a crashed worker turns its jobs into ``failed`` records."""

    name = "process"

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any]]]:
        pool = self._ensure_pool()
        pending: dict[Future, Job] = {pool.submit(run_job, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    yield job.key, future.result()
                except Exception as error:  # a worker died (BrokenProcessPool) or could not unpickle
                    log.error("worker failed on individual %d: %s: %s", job.key, type(error).__name__, error)
                    self.close()
                    yield job.key, {"status": "failed", "objectives": {}, "metrics": {},
                                    "error": f"worker process failed: {type(error).__name__}: {error}",
                                    "seconds": 0.0}
                    if self._pool is None:
                        # The pool is broken: resubmit what is left to a fresh one.
                        pool = self._ensure_pool()
                        pending = {pool.submit(run_job, j): j for j in pending.values()}
                        break

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_executor(name: str, workers: int):
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    raise ValueError(f"unknown executor {name!r}; use 'serial' or 'process'")
