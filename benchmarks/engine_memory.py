"""Resident memory of the engine process across 1,000 generations.

A campaign on the smoke preset's task whose objectives are params and flops only, so an
evaluation builds and trains nothing and the engine itself is what runs. Prints the
resident set size (VmRSS, Linux) every --every generations.

    python benchmarks/engine_memory.py [--generations 1000] [--population 8] [--every 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from evo.campaign import Campaign
from evo.config import load_preset
from populations import Store


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--every", type=int, default=100)
    arguments = parser.parse_args()

    config = load_preset("smoke")
    config = config.replace(search=dataclasses.replace(
        config.search, population=arguments.population, generations=arguments.generations,
        objectives=("params", "flops")))
    samples = []
    started = time.perf_counter()

    def sample(summary):
        if summary["generation"] % arguments.every == 0 or summary["generation"] == arguments.generations:
            samples.append((summary["generation"], resident_mib(), time.perf_counter() - started))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory.sqlite"
        config = config.with_overrides(db=str(path), executor="serial")
        with Store(path) as store:
            Campaign(config, store, progress=False, observers=[sample]).run()
        size = path.stat().st_size / 2**20

    print(f"population {arguments.population}, {arguments.generations} generations, database {size:.1f} MiB")
    for generation, mib, seconds in samples:
        print(f"generation {generation:>5}: {mib:7.1f} MiB resident, {seconds:7.1f} s")
    growth = samples[-1][1] - samples[1][1] if len(samples) > 1 else 0.0
    print(f"growth from generation {samples[1][0] if len(samples) > 1 else 0} to the end: {growth:+.1f} MiB")


if __name__ == "__main__":
    main()
