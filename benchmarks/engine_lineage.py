"""Ancestry queries on a population database of 1,000,000 individuals with lineage.

Builds the file synthetically: generations of --width individuals, each child with one
parent (mutation) or, with probability --crossover, two parents (crossover), drawn
uniformly from the previous generation. Then times, for random individuals of the last
generations, with and without a depth limit:

- ``Store.ancestors()``: one row per lineage link, from a recursive SQL query;
- ``lineage_index(store).ancestors()``: each distinct ancestor once with its smallest
  depth, from CSR arrays in memory. The one-off build of the index is timed separately.

Besides wall-clock time it prints the CPU time of this process per query, which a shared,
busy machine inflates less than the wall-clock time.

    python benchmarks/engine_lineage.py [--individuals 1000000] [--width 1000] [--queries 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from populations import Store
from populations.queries import lineage_index


def build(path: Path, count: int, width: int, crossover: float, rng: np.random.Generator) -> None:
    with Store(path) as store:
        campaign_id = store.create_campaign("lineage", {}, seed=0)
        connection = store.db.conn
        with store.db.atomic():
            individuals, links = [], []
            for individual_id in range(1, count + 1):
                generation = (individual_id - 1) // width
                origin = "seed" if generation == 0 else "mutation"
                if generation:
                    first = (generation - 1) * width + 1
                    parents = {int(rng.integers(first, first + width))}
                    if rng.random() < crossover:
                        parents.add(int(rng.integers(first, first + width)))
                        origin = "crossover"
                    links.extend((individual_id, parent, origin) for parent in parents)
                individuals.append((individual_id, campaign_id, "{}", f"h{individual_id}", generation, origin, ""))
            connection.executemany(
                "INSERT INTO individuals (id, campaign_id, genome, genome_hash, generation, origin, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", individuals)
            connection.executemany("INSERT INTO lineage (child_id, parent_id, operator) VALUES (?, ?, ?)", links)


def time_queries(query, ids: list[int], depth: int | None) -> tuple[list[float], list[float], list[int]]:
    """Return wall-clock ms, CPU ms of this process and result rows of each query."""
    times, cpu_times, sizes = [], [], []
    for individual_id in ids:
        started, cpu_started = time.perf_counter(), time.process_time()
        frame = query(individual_id, depth)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
        sizes.append(len(frame))
    return times, cpu_times, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=1000, help="individuals per generation")
    parser.add_argument("--crossover", type=float, default=0.2, help="share of children with two parents")
    parser.add_argument("--queries", type=int, default=50)
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lineage.sqlite"
        started = time.perf_counter()
        build(path, arguments.individuals, arguments.width, arguments.crossover, rng)
        print(f"built {arguments.individuals:,} individuals, {arguments.width} per generation, "
              f"in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        last = arguments.individuals
        ids = [int(i) for i in rng.integers(last - 10 * arguments.width, last + 1, arguments.queries)]
        with Store(path, readonly=True) as store:
            store.ancestors(ids[0], 1)  # opens the file and warms the page cache
            index = lineage_index(store)
            print(f"lineage index built in {index.build_seconds:.2f} s (once per open Store)")
            queries = (("Store.ancestors", store.ancestors, "links"),
                       ("index.ancestors", index.ancestors, "ancestors"))
            for name, query, unit in queries:
                for depth in (1, 10, 50, None):
                    times, cpu_times, sizes = time_queries(query, ids, depth)
                    label = "all" if depth is None else str(depth)
                    within = sum(t < 10 for t in times)
                    print(f"{name} depth {label:>4}: median {statistics.median(times):8.2f} ms, "
                          f"max {max(times):8.2f} ms, {within}/{len(times)} under 10 ms, "
                          f"CPU median {statistics.median(cpu_times):8.2f} ms, "
                          f"median {statistics.median(sizes):>8,.0f} {unit} returned")


if __name__ == "__main__":
    main()
