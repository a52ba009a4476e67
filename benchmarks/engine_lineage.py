"""Ancestry queries on a population database of 1,000,000 individuals with lineage.

Builds the file synthetically: generations of --width individuals, each child with one
parent (mutation) or, with probability --crossover, two parents (crossover), drawn
uniformly from the previous generation. Then times, for random individuals of the last
10 generations, with and without a depth limit:

- ``Store.ancestors()``: one row per lineage link, from a recursive SQL query;
- ``lineage_index(store).ancestors()``: each distinct ancestor once with its smallest
  depth, from CSR arrays in memory. The one-off build of the index is timed separately.

Besides wall-clock time it prints the CPU time of this process per query, which a shared,
busy machine inflates less than the wall-clock time.

With --cache-dir the file is built once into that folder and reused by later runs with the
same --individuals, --width and --crossover. With --before DIR the script instead times the
lineage index of the code unpacked in DIR (for example ``git archive COMMIT | tar -x -C
/tmp/before``) against this checkout's, at each depth limit, in alternating rounds on the
same file and the same individuals, and checks that both return the same rows.

    python benchmarks/engine_lineage.py [--individuals 1000000] [--width 1000] [--crossover 0.2]
                                        [--queries 50] [--cache-dir DIR] [--before DIR --rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

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


def build_once(folder: Path, count: int, width: int, crossover: float) -> Path:
    """Return the file for these settings in `folder`, building it when it is missing.

    The file is written under a temporary name and renamed when complete, so an
    interrupted build is never reused.
    """
    path = folder / f"lineage-{count}-{width}-{crossover}.sqlite"
    if path.exists():
        print(f"reusing {path} ({path.stat().st_size / 2**20:.0f} MiB)")
        return path
    partial = folder / f"{path.name}.partial"
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    build(partial, count, width, crossover, np.random.default_rng(0))
    print(f"built {count:,} individuals, {width} per generation, in {time.perf_counter() - started:.1f} s "
          f"({partial.stat().st_size / 2**20:.0f} MiB)")
    partial.rename(path)
    return path


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


def load_index_class(code_root: Path) -> type:
    """Import `populations/queries.py` of the code in `code_root` and return its LineageIndex.

    The module is loaded under another name inside this checkout's `populations` package,
    so its relative imports (the Store) resolve to this checkout.
    """
    spec = importlib.util.spec_from_file_location("populations._queries_before",
                                                  code_root / "populations" / "queries.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no populations/queries.py under {code_root}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LineageIndex


def sorted_rows(frame: pd.DataFrame) -> np.ndarray:
    rows = frame[["depth", "individual_id"]].to_numpy()
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def compare(store: Store, before_root: Path, ids: list[int], rounds: int) -> None:
    """Time the index before and after at each depth limit, alternating the two each round."""
    indexes = {"before": load_index_class(before_root)(store), "after": lineage_index(store)}
    for name, index in indexes.items():
        print(f"{name}: index built in {index.build_seconds:.2f} s")

    for depth in (1, 10, 50, None):
        label = "all" if depth is None else str(depth)
        same_order = 0
        for individual_id in ids:
            expected = indexes["before"].ancestors(individual_id, depth)
            found = indexes["after"].ancestors(individual_id, depth)
            if not np.array_equal(sorted_rows(expected), sorted_rows(found)):
                raise AssertionError(f"individual {individual_id}, depth {label}: "
                                     "the two indexes return different ancestors or depths")
            same_order += expected.equals(found)
        print(f"depth {label}: both return the same ancestors and depths for all {len(ids)} individuals, "
              f"in the same row order for {same_order}")

        times: dict[str, list[float]] = {name: [] for name in indexes}
        cpu_times: dict[str, list[float]] = {name: [] for name in indexes}
        loads = [os.getloadavg()[0]]
        for round_number in range(rounds):
            names = list(indexes) if round_number % 2 == 0 else list(reversed(indexes))
            for name in names:
                round_times, round_cpu_times, sizes = time_queries(indexes[name].ancestors, ids, depth)
                times[name] += round_times
                cpu_times[name] += round_cpu_times
            loads.append(os.getloadavg()[0])
        print(f"depth {label}, {rounds} rounds of {len(ids)} queries each, median {statistics.median(sizes):,.0f} "
              f"ancestors returned, load average (1 min) {min(loads):.2f} to {max(loads):.2f}")
        for name in indexes:
            within = sum(t < 10 for t in times[name])
            print(f"  {name:>6}: median {statistics.median(times[name]):7.2f} ms, max {max(times[name]):7.2f} ms, "
                  f"{within}/{len(times[name])} under 10 ms, CPU median {statistics.median(cpu_times[name]):7.2f} ms")


def run_all(store: Store, ids: list[int]) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=1000, help="individuals per generation")
    parser.add_argument("--crossover", type=float, default=0.2, help="share of children with two parents")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--cache-dir", type=Path,
                        help="folder that keeps the built file for later runs (default: a temporary folder)")
    parser.add_argument("--before", type=Path,
                        help="root of older code to compare the index's full ancestry with, in alternating rounds")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the comparison with --before")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = arguments.cache_dir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        path = build_once(folder, arguments.individuals, arguments.width, arguments.crossover)
        # The queried individuals come from their own generator, so a reused file gets the same ones.
        last = arguments.individuals
        first = max(1, last - 10 * arguments.width)
        ids = [int(i) for i in np.random.default_rng(1).integers(first, last + 1, arguments.queries)]
        with Store(path, readonly=True) as store:
            if arguments.before is not None:
                compare(store, arguments.before, ids, arguments.rounds)
            else:
                run_all(store, ids)


if __name__ == "__main__":
    main()
