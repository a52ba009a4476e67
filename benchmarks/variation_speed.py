"""CPU time of variation (operator calls and canonical hashes), replayed from the golden corpus.

The workloads come from ``tests/genomes/data/golden_corpus.json.gz``: about 3200 genomes and
3500 recorded operator calls over five search spaces, the first one the smoke preset's.

- ``hash``: ``canonical_hash()`` of every valid corpus genome, each a new object.
- ``plan``: ``infer_shapes`` of every corpus genome for its own space's input, new objects.
- ``violation``: ``SearchSpace.violation`` of every corpus genome in its own space, new objects.
- ``operators cold``: every recorded operator call, on parents read from JSON just before.
- ``engine``: every recorded operator call and the canonical hash of its child, on parents
  that were checked against the space and hashed before, as the engine's parents are.
  ``engine operators`` and ``engine hashes`` split it.

Times are CPU seconds of this process (``time.process_time``), summed over the calls and
excluding the JSON parsing. They include the garbage collector's work. The ``plan``,
``violation`` and ``hash`` workloads keep every genome alive, and since genomes keep their plans,
a full collection runs during them that a campaign, holding about two populations, runs far
less often. With ``--compare DIR`` the script runs itself alternately on the
code unpacked in DIR (for example ``git archive COMMIT | tar -x -C /tmp/before``) and on this
checkout, in new processes, and prints the median of each and the ratio. ``--gc-off``
disables the garbage collector during the workloads, which leaves the computation alone::

    python benchmarks/variation_speed.py
    python benchmarks/variation_speed.py --compare /tmp/before --rounds 5 [--gc-off]
"""

from __future__ import annotations

import argparse
import collections
import gc
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS_PATH = ROOT / "tests" / "genomes" / "data" / "golden_corpus.json.gz"


def load_corpus() -> dict:
    with gzip.open(CORPUS_PATH, "rt", encoding="utf-8") as stream:
        return json.load(stream)


def measure(corpus: dict) -> dict[str, float]:
    """Run every workload once on the code that is imported, and return CPU seconds per workload."""
    import numpy as np

    from genomes import Genome, GenomeError, InnovationCounter, SearchSpace, infer_shapes
    from operators import OPERATORS, MotifInsertion

    texts = [record["json"] for record in corpus["genomes"]]
    spaces = [SearchSpace.from_dict(settings) for settings in corpus["spaces"]]
    motif_operator = MotifInsertion(corpus["motifs"])
    totals: dict[str, float] = collections.Counter()

    valid = [text for text, record in zip(texts, corpus["genomes"]) if isinstance(record["hash"], str)]
    genomes = [Genome.from_json(text) for text in valid]
    started = time.process_time()
    for genome in genomes:
        genome.canonical_hash()
    totals["hash"] = time.process_time() - started

    for workload in ("plan", "violation"):
        genomes = [Genome.from_json(text) for text in texts]
        homes = [spaces[record["home"]] for record in corpus["genomes"]]
        started = time.process_time()
        for genome, space in zip(genomes, homes):
            if workload == "violation":
                space.violation(genome)
                continue
            try:
                infer_shapes(genome, space.input_shape, space.num_classes)
            except GenomeError:
                pass
        totals[workload] = time.process_time() - started

    def call(case, parents):
        name, space_index, _, seed, counter_start = case[:5]
        operator = motif_operator if name == "insert_motif" else OPERATORS[name]
        new_id = None if counter_start is None else InnovationCounter(counter_start)
        return operator(parents, np.random.default_rng(seed), spaces[space_index], new_id=new_id)

    for case in corpus["operator_cases"]:
        parents = [Genome.from_json(texts[i]) for i in case[2]]
        started = time.process_time()
        call(case, parents)
        totals["operators cold"] += time.process_time() - started

    checked = {}
    for case in corpus["operator_cases"]:
        for index in case[2]:
            if index not in checked:
                genome = Genome.from_json(texts[index])
                spaces[case[1]].violation(genome)
                genome.canonical_hash()
                checked[index] = genome
    for case in corpus["operator_cases"]:
        parents = [checked[i] for i in case[2]]
        started = time.process_time()
        variation = call(case, parents)
        middle = time.process_time()
        if variation.genome is not None:
            variation.genome.canonical_hash()
        finished = time.process_time()
        totals["engine operators"] += middle - started
        totals["engine hashes"] += finished - middle
    totals["engine"] = totals["engine operators"] + totals["engine hashes"]
    return dict(totals)


def run_child(code_root: Path, gc_off: bool) -> dict[str, float]:
    environment = dict(os.environ, PYTHONPATH=str(code_root))
    command = [sys.executable, __file__, "--child", *(["--gc-off"] if gc_off else [])]
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def compare(before: Path, rounds: int, gc_off: bool) -> None:
    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for number in range(rounds):
        # Alternate which code runs first, so a change in the machine's load hits both alike.
        order = [("before", before), ("after", ROOT)]
        if number % 2:
            order.reverse()
        for label, code_root in order:
            results[label].append(run_child(code_root, gc_off))
        print(f"round {number + 1}: load average {os.getloadavg()[0]:.2f}", flush=True)

    print(f"\nCPU seconds, median of {rounds} rounds (load average now {os.getloadavg()[0]:.2f})")
    print(f"{'workload':<18} {'before':>8} {'after':>8} {'ratio':>7}")
    for workload in results["before"][0]:
        old = statistics.median(run[workload] for run in results["before"])
        new = statistics.median(run[workload] for run in results["after"])
        print(f"{workload:<18} {old:8.3f} {new:8.3f} {old / new:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="folder with an older checkout to run alternately with this one")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each code with --compare (default 5)")
    parser.add_argument("--child", action="store_true", help="print one run's CPU seconds as JSON")
    parser.add_argument("--gc-off", action="store_true", help="disable the garbage collector during the workloads")
    arguments = parser.parse_args()

    if arguments.compare is not None:
        compare(arguments.compare.resolve(), arguments.rounds, arguments.gc_off)
        return
    corpus = load_corpus()
    if arguments.gc_off:
        gc.disable()
    if arguments.child:
        print(json.dumps(measure(corpus)))
        return
    print(f"load average {os.getloadavg()[0]:.2f}")
    for workload, seconds in measure(corpus).items():
        print(f"{workload:<18} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
