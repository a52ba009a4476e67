"""Time the HTML report of a campaign of 100,000 individuals (target: under 30 s).

Builds a synthetic population database: random valid genomes, one or two lineage links
per child, and an `ok` evaluation with accuracy and FLOPs for each. Then it times
write_report() on it and on a campaign of a tenth of the size in the same run, and prints
both times and their ratio. No network is trained. Run:

    python benchmarks/report_100k.py [--individuals 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from populations import Store
from reports import write_report

OPERATIONS = ["conv", "maxpool", "avgpool", "batchnorm", "identity"]
ACTIVATIONS = ["relu", "gelu", "silu", "tanh", "identity"]
OPERATORS = ["insert_node", "remove_node", "add_skip", "change_operation", "change_width", "one_point_crossover"]
PER_GENERATION = 1000


def random_genome(rng: np.random.Generator) -> dict:
    """Return a random valid genome as JSON data: a chain of 2 to 8 nodes with occasional skips."""
    nodes = []
    for node_id in range(1, int(rng.integers(2, 9)) + 1):
        op = OPERATIONS[int(rng.integers(len(OPERATIONS)))]
        params = {"width": int(rng.integers(4, 64)), "kernel": 3} if op == "conv" else {}
        inputs = [node_id - 1]
        if node_id > 2 and rng.random() < 0.25:
            inputs.append(int(rng.integers(0, node_id - 1)))
        nodes.append({"id": node_id, "op": op, "params": params,
                      "activation": ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))],
                      "merge": "add", "inputs": inputs})
    return {"format": 1, "nodes": nodes, "output": len(nodes), "head": "flatten"}


def build_database(path: Path, individuals: int, seed: int = 0) -> None:
    """Write a campaign of `individuals` individuals, PER_GENERATION per generation."""
    rng = np.random.default_rng(seed)
    config = {"task": {"name": "mnist1d"}, "search": {"objectives": ["accuracy", "flops"]}}
    with Store(path) as store:
        campaign = store.create_campaign("synthetic", config, seed=seed)
        next_id = 1
        members: list[int] = []
        for generation in range(individuals // PER_GENERATION):
            ids = list(range(next_id, next_id + PER_GENERATION))
            next_id += PER_GENERATION
            accuracy = rng.uniform(0.1, 0.99, PER_GENERATION)
            flops = 10 ** rng.uniform(3, 7, PER_GENERATION)
            links = []
            if members:
                for child in ids:
                    for parent in rng.choice(members, size=int(rng.integers(1, 3)), replace=False):
                        links.append({"child_id": child, "parent_id": int(parent),
                                      "operator": OPERATORS[int(rng.integers(len(OPERATORS)))]})
            store.commit_generation(
                campaign, generation,
                individuals=[{"id": i, "genome": random_genome(rng), "genome_hash": f"h{i}",
                              "generation": generation, "origin": "mutation" if members else "seed"} for i in ids],
                lineage=links,
                evaluations=[{"individual_id": i, "status": "ok",
                              "objectives": {"accuracy": float(a), "flops": float(f)}, "task_key": "mnist1d"}
                             for i, a, f in zip(ids, accuracy, flops)],
                members=ids[:100],
                front=[ids[int(k)] for k in np.argsort(-accuracy)[:20]],
                hypervolume=float(generation) / 100,
                state={"reference": {"flops": 1e8}},
            )
            members = ids[:100]


def time_report(path: Path, out: Path) -> float:
    started = time.perf_counter()
    write_report(path, out, shapes=((1, 40), 10))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="Folder to keep the databases and reports in.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [args.individuals // 10, args.individuals]
    seconds = {}
    for size in sizes:
        database = folder / f"campaign-{size}.sqlite"
        database.unlink(missing_ok=True)
        started = time.perf_counter()
        build_database(database, size)
        print(f"built {size} individuals in {time.perf_counter() - started:.1f} s: {database}")
        seconds[size] = time_report(database, folder / f"report-{size}.html")
        size_mib = (folder / f"report-{size}.html").stat().st_size / 2**20
        print(f"report of {size} individuals: {seconds[size]:.1f} s, {size_mib:.1f} MiB")
    small, large = sizes
    print(f"ratio {large} / {small} individuals: {seconds[large] / seconds[small]:.2f}")


if __name__ == "__main__":
    main()
