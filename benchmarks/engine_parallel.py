"""Parallel efficiency on 2 workers: the process pool and a Dask LocalCluster against serial.

Runs the same campaign (smoke preset, population 16 by default) three times, side by side
in one process: serially, with ``process`` on 2 workers and with ``dask-local:2``.
Efficiency is serial wall time / (2 x parallel wall time). The three databases must hold
the same individuals and objective values, which the script checks.

    python benchmarks/engine_parallel.py [--population 16] [--generations 2] [--steps 300]
        [--algorithm generational|steady_state|aging] [--concurrency 4] [--compare-order]

The parallel runs hand out each generation's jobs costliest first (most FLOPs), as the
engine does. --compare-order adds a run of each parallel executor that keeps the jobs in the
order the children were made, before the run that sorts them, so both see similar load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from evo.campaign import Campaign
from evo.config import load_preset
from evo.executors import Job, ProcessExecutor
from fitness import task_shapes
from genomes.zoo import build_seed
from populations import Store


def results(path: Path) -> list:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT i.id, i.genome_hash, e.status, e.accuracy, e.flops FROM individuals AS i"
            " JOIN evaluations AS e ON e.individual_id = i.id ORDER BY i.id").fetchall()
    finally:
        connection.close()


def machine_efficiency(steps: int, jobs: int = 4) -> float:
    """Measure how well this machine runs 2 evaluations at once, without the engine.

    Times the same evaluations on 1 and on 2 already started worker processes. A value under
    100% means that the cores are shared or throttled, which bounds any engine's efficiency.
    """
    shape, classes = task_shapes("digits")
    genome = build_seed("small_cnn", shape, classes).to_dict()
    batch = [Job(key, genome, {"name": "digits"}, {"steps": steps, "batch_size": 32}, key, ("accuracy",))
             for key in range(jobs)]
    seconds = {}
    for workers in (1, 2):
        executor = ProcessExecutor(workers)
        try:
            list(executor.map(batch[:workers]))  # starts the workers and imports torch
            started = time.perf_counter()
            list(executor.map(batch))
            seconds[workers] = time.perf_counter() - started
        finally:
            executor.close()
    return seconds[1] / (2 * seconds[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300, help="training steps per evaluation")
    parser.add_argument("--algorithm", default="generational", help="generational, steady_state or aging")
    parser.add_argument("--concurrency", type=int, default=4, help="children in flight (asynchronous algorithms)")
    parser.add_argument("--compare-order", action="store_true",
                        help="also run each parallel executor with the jobs in the order they were made")
    arguments = parser.parse_args()

    base = load_preset("smoke")
    base = base.replace(
        search=dataclasses.replace(base.search, population=arguments.population, generations=arguments.generations,
                                   algorithm=arguments.algorithm, concurrency=arguments.concurrency),
        budget=dataclasses.replace(base.budget, steps=arguments.steps),
    )
    timings, contents = {}, {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        runs = [("serial", 1, True)]
        for executor in ("process", "dask-local:2"):
            if arguments.compare_order:
                runs.append((executor, 2, False))
            runs.append((executor, 2, True))
        for executor, workers, longest_first in runs:
            label = executor if longest_first or executor == "serial" else f"{executor}, as made"
            path = Path(folder) / f"{label.replace(':', '-').replace(', ', '-').replace(' ', '-')}.sqlite"
            config = base.with_overrides(db=str(path), executor=executor, workers=workers)
            started = time.perf_counter()
            with Store(path) as store:
                campaign = Campaign(config, store, progress=False)
                if not longest_first:
                    campaign.longest_first = lambda jobs, by_id, executor: jobs
                campaign.run()
            timings[label] = time.perf_counter() - started
            contents[label] = results(path)

    print(f"{arguments.algorithm}, population {arguments.population}, {arguments.generations} generations after the first, "
          f"{arguments.steps} training steps, {len(contents['serial'])} evaluations")
    for executor, seconds in timings.items():
        line = f"{executor:<22} {seconds:7.2f} s"
        if executor != "serial":
            line += f"   efficiency {timings['serial'] / (2 * seconds):.1%}"
            line += "   same results" if contents[executor] == contents["serial"] else "   RESULTS DIFFER"
        print(line)
    print(f"machine                {machine_efficiency(arguments.steps):.1%} efficiency running the same evaluations "
          "on 2 started worker processes instead of 1, without the engine")
    print(f"load average (1 min) {load_before:.2f} before the campaigns, {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
