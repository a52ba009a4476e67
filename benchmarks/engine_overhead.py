"""Engine overhead: the share of a campaign's wall time not spent inside evaluations.

Runs the smoke preset (scikit-learn digits) serially at population 64 and compares the
wall time of the campaign with the sum of the evaluations' own ``seconds``. The rest is
the engine: variation, canonical hashing, selection, staging and generation commits.

    python benchmarks/engine_overhead.py [--population 64] [--generations 2] [--steps 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import tempfile
import time
from pathlib import Path

from evo.campaign import Campaign
from evo.config import load_preset
from populations import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60, help="training steps per evaluation")
    arguments = parser.parse_args()

    config = load_preset("smoke")
    config = config.replace(
        search=dataclasses.replace(config.search, population=arguments.population,
                                   generations=arguments.generations),
        budget=dataclasses.replace(config.budget, steps=arguments.steps),
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "overhead.sqlite"
        config = config.with_overrides(db=str(path), executor="serial")
        started = time.perf_counter()
        with Store(path) as store:
            Campaign(config, store, progress=False).run()
        wall = time.perf_counter() - started
        connection = sqlite3.connect(path)
        evaluations, evaluating = connection.execute(
            "SELECT COUNT(*), SUM(seconds) FROM evaluations").fetchone()
        connection.close()

    overhead = wall - evaluating
    print(f"population {arguments.population}, {arguments.generations} generations after the first, "
          f"{arguments.steps} training steps per evaluation")
    print(f"evaluations        {evaluations}")
    print(f"wall time          {wall:.2f} s")
    print(f"inside evaluations {evaluating:.2f} s ({evaluating / evaluations * 1000:.0f} ms each)")
    print(f"engine overhead    {overhead:.2f} s = {overhead / wall:.2%} of the wall time")
    print(f"engine per child   {overhead / evaluations * 1000:.1f} ms")


if __name__ == "__main__":
    main()
