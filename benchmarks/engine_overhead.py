"""Engine overhead: the share of a campaign's wall time not spent inside evaluations.

Runs the smoke preset (scikit-learn digits) serially at population 64 and compares the
wall time of the campaign with the sum of the evaluations' own ``seconds``. The rest is
the engine: variation, canonical hashing, selection, staging and generation commits.

Two shares are printed. The whole run includes creating and closing the database file,
a fixed cost of some tens of milliseconds. The generations after the first exclude it,
which is what a long campaign pays per generation.

--stage-interval 0 stages each finished evaluation in its own transaction, as the engine
did before it grouped them. --compare alternates that with the default interval, so both
see the same load on the machine. With PYTHONPATH set to an unpacked older commit, the
script measures that commit's engine, which has no staging interval to set.

    python benchmarks/engine_overhead.py [--population 64] [--generations 2] [--steps 60]
    python benchmarks/engine_overhead.py --compare --repeat 3
    PYTHONPATH=/tmp/before python benchmarks/engine_overhead.py
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import evo.campaign
import evo.executors
from evo.campaign import Campaign
from evo.config import CampaignConfig, load_preset
from populations import Store

# Engines before the staging interval staged each evaluation at once.
STAGE_INTERVAL = getattr(evo.campaign, "STAGE_INTERVAL", 0.0)

# Parts of the engine timed by --breakdown: (label, object, attribute). Times nest, so
# "variation" contains "operators" and "canonical hashes".
TIMED_PARTS = [
    ("variation (operators, hashing, novelty checks)", "evo.campaign:Campaign", "_offspring"),
    ("variation of generation 0", "evo.campaign:Campaign", "_initial_population"),
    ("  operators", "operators.base:Operator", "__call__"),
    ("  canonical hashes", "genomes.genome:Genome", "canonical_hash"),
    ("batch set-up and evaluation", "evo.campaign:Campaign", "_evaluate"),
    ("  evaluation calls (run_job)", "evo.executors", "run_job"),
    ("  staging (metrics JSON and the transaction)", "evo.campaign:Campaign", "_stage_finished"),
    ("    the transaction", "populations.store:Store", "stage_evaluations"),
    ("survivor selection", "evo.campaign", "select_survivors"),
    ("front and hypervolume", "evo.campaign", "hypervolume"),
    ("generation commit", "evo.campaign:Campaign", "_commit"),
]


def time_parts() -> collections.Counter:
    """Wrap the TIMED_PARTS with timers and return the counter of seconds they fill."""
    import importlib

    totals: collections.Counter = collections.Counter()
    for label, target, name in TIMED_PARTS:
        module_name, _, class_name = target.partition(":")
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        if not hasattr(owner, name):
            continue
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*arguments, _original=original, _label=label, **options):
            started = time.perf_counter()
            try:
                return _original(*arguments, **options)
            finally:
                totals[_label] += time.perf_counter() - started

        setattr(owner, name, timed)
    return totals


def measure(config: CampaignConfig, stage_interval: float) -> dict[str, float]:
    """Run one campaign in a new file and return its wall time and overhead figures."""
    generation_seconds: dict[int, float] = {}

    def record_generation(summary):
        generation_seconds[summary["generation"]] = summary["seconds"]

    # CPU time of the engine's thread outside the evaluation calls. Other processes on the
    # machine delay the engine's wall time, but change its CPU time much less.
    evaluation_cpu = [0.0]
    run_job = evo.executors.run_job

    def run_job_timed(job):
        started = time.thread_time()
        try:
            return run_job(job)
        finally:
            evaluation_cpu[0] += time.thread_time() - started

    evo.executors.run_job = run_job_timed
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "overhead.sqlite"
        config = config.with_overrides(db=str(path), executor="serial")
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            with Store(path) as store:
                campaign = Campaign(config, store, progress=False, observers=[record_generation])
                campaign.stage_interval = stage_interval
                campaign.run()
        finally:
            evo.executors.run_job = run_job
        wall = time.perf_counter() - started
        engine_cpu = time.thread_time() - started_cpu - evaluation_cpu[0]
        connection = sqlite3.connect(path)
        by_generation = {
            generation: (count, seconds)
            for generation, count, seconds in connection.execute(
                "SELECT i.generation, COUNT(*), SUM(e.seconds) FROM evaluations AS e"
                " JOIN individuals AS i ON i.id = e.individual_id GROUP BY i.generation")
        }
        connection.close()

    evaluations = sum(count for count, _ in by_generation.values())
    evaluating = sum(seconds for _, seconds in by_generation.values())
    later = [number for number in generation_seconds if number > 0]
    later_wall = sum(generation_seconds[number] for number in later)
    later_evaluating = sum(by_generation[number][1] for number in later)
    later_children = sum(by_generation[number][0] for number in later)
    return {
        "evaluations": evaluations,
        "wall": wall,
        "evaluating": evaluating,
        "overhead": wall - evaluating,
        "engine_cpu": engine_cpu,
        "later_children": later_children,
        "later_wall": later_wall,
        "later_overhead": later_wall - later_evaluating,
    }


def print_run(result: dict[str, float]) -> None:
    evaluations = result["evaluations"]
    print(f"evaluations        {evaluations}")
    print(f"wall time          {result['wall']:.2f} s")
    print(f"inside evaluations {result['evaluating']:.2f} s ({result['evaluating'] / evaluations * 1000:.0f} ms each)")
    print(f"engine overhead    {result['overhead']:.3f} s = {result['overhead'] / result['wall']:.2%} of the wall time,"
          f" {result['overhead'] / evaluations * 1000:.2f} ms per child")
    engine_cpu = result["engine_cpu"]
    print(f"engine CPU time    {engine_cpu:.3f} s, {engine_cpu / evaluations * 1000:.2f} ms per child")
    if result["later_children"]:
        print(f"  after generation 0: {result['later_overhead']:.3f} s = "
              f"{result['later_overhead'] / result['later_wall']:.2%} of their wall time, "
              f"{result['later_overhead'] / result['later_children'] * 1000:.2f} ms per child")


def print_parts(totals: collections.Counter, evaluations: int) -> None:
    print("time in the parts of the engine (evaluation calls included where named)")
    for label, _, _ in TIMED_PARTS:
        if label in totals:
            seconds = totals[label]
            print(f"  {label:<50} {seconds * 1000:8.1f} ms  {seconds / evaluations * 1000:6.3f} ms per child")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60, help="training steps per evaluation")
    parser.add_argument("--stage-interval", type=float, default=STAGE_INTERVAL,
                        help="seconds that finished evaluations may wait before they are staged together "
                             f"(default {STAGE_INTERVAL}; 0 stages each at once)")
    parser.add_argument("--compare", action="store_true",
                        help="alternate --stage-interval 0 with the given interval and print both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the parts of the engine (each timed call also pays for its timer)")
    arguments = parser.parse_args()

    config = load_preset("smoke")
    config = config.replace(
        search=dataclasses.replace(config.search, population=arguments.population,
                                   generations=arguments.generations),
        budget=dataclasses.replace(config.budget, steps=arguments.steps),
    )
    intervals = [0.0, arguments.stage_interval] if arguments.compare else [arguments.stage_interval]
    print(f"engine {Path(evo.campaign.__file__).parent.parent}, population {arguments.population}, "
          f"{arguments.generations} generations after the first, {arguments.steps} training steps per evaluation, "
          f"load average {os.getloadavg()[0]:.2f}")
    # The first evaluation in a process imports parts of torch and scikit-learn and loads the
    # data set, about 2 s here, inside its own seconds. A discarded run of generation 0 pays
    # that, so every measured run has evaluations of the same speed.
    measure(config.replace(search=dataclasses.replace(config.search, generations=0)), STAGE_INTERVAL)
    totals = time_parts() if arguments.breakdown else None
    results: dict[float, list[dict[str, float]]] = {interval: [] for interval in intervals}
    for _ in range(arguments.repeat):
        for interval in intervals:
            result = measure(config, interval)
            results[interval].append(result)
            print(f"\nstaging interval {interval} s")
            print_run(result)
            if totals is not None:
                print_parts(totals, result["evaluations"])
                totals.clear()

    if arguments.repeat > 1 or arguments.compare:
        print(f"\nmedians over {arguments.repeat} runs each (load average now {os.getloadavg()[0]:.2f})")
        for interval, runs in results.items():
            share = statistics.median(r["overhead"] / r["wall"] for r in runs)
            per_child = statistics.median(r["overhead"] / r["evaluations"] for r in runs)
            later_share = statistics.median(r["later_overhead"] / r["later_wall"] for r in runs)
            later_per_child = statistics.median(r["later_overhead"] / r["later_children"] for r in runs)
            cpu_per_child = statistics.median(r["engine_cpu"] / r["evaluations"] for r in runs)
            print(f"staging interval {interval} s: whole run {share:.2%} ({per_child * 1000:.2f} ms per child), "
                  f"after generation 0 {later_share:.2%} ({later_per_child * 1000:.2f} ms per child), "
                  f"engine CPU {cpu_per_child * 1000:.2f} ms per child")


if __name__ == "__main__":
    main()
