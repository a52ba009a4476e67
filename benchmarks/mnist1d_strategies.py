"""Hypervolume of accuracy against FLOPs on MNIST-1D: the engine, random search and Optuna's NSGA-II.

All three get the same number of evaluations, the same training budget, the same search space
limits and the same hypervolume (``evo.selection.hypervolume``: error against log FLOPs, reference
1e8 FLOPs). Random search draws each genome by a random walk of mutations from a one-node network.
Optuna (optional: ``pip install optuna``) searches an equivalent parameterisation: a chain of up
to ``max_nodes`` layers, each with an operation, activation, width, kernel, stride and an
optional residual input from the layer two back, and a flatten or global-average-pooling head.

Run from the repository root (about 10 to 15 minutes per seed on 2 cores):

    python benchmarks/mnist1d_strategies.py --seeds 0 1 2 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from evo.campaign import Campaign, derived_seed
from evo.config import load_preset
from evo.executors import Job, make_executor
from evo.selection import Member, hypervolume
from genomes import INPUT, Genome, Node, SearchSpace
from genomes.zoo import linear_classifier
from operators import MUTATIONS

log = logging.getLogger("benchmarks.mnist1d_strategies")


def campaign_setup(generations: int, population: int):
    config = load_preset("mnist1d")
    config = config.replace(search=dataclasses.replace(config.search, generations=generations,
                                                       population=population))
    space = SearchSpace((1, 40), 10, **config.to_dict()["space"])
    return config, space


def evaluate_all(config, genomes: list[Genome], first_id: int, executor) -> list[dict]:
    jobs = [Job(first_id + i, g.to_dict(), config.task.to_dict(), config.budget.to_dict(),
                derived_seed(config.seed, first_id + i), tuple(config.search.objectives))
            for i, g in enumerate(genomes)]
    results = dict(executor.map(jobs))
    return [results[job.key] for job in jobs]


def front_hypervolume(config, records: list[dict]) -> float:
    names = tuple(config.search.objectives)
    members = [Member(i, r.get("objectives", {}), names) for i, r in enumerate(records)]
    reference = {k: v for k, v in config.search.hypervolume_reference.items() if k in names}
    return hypervolume(members, reference)


def run_engine(config, workers: int, folder: Path) -> list[dict]:
    from populations import Store

    config = config.with_overrides(workers=workers, db=str(folder / f"engine-{config.seed}.sqlite"))
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()
        evaluations = store.evaluations(latest=True)
    names = tuple(config.search.objectives)
    return [{"objectives": {n: row[n] for n in names if row[n] == row[n]}} for _, row in evaluations.iterrows()]


def random_genome(space: SearchSpace, rng: np.random.Generator) -> Genome:
    genome = linear_classifier(space.input_shape, space.num_classes)
    operators = list(MUTATIONS.values())
    for _ in range(int(rng.integers(1, space.max_nodes + 1))):
        variation = operators[int(rng.integers(len(operators)))]([genome], rng, space)
        if variation.applied:
            genome = variation.genome
    return genome


def run_random(config, space, count: int, executor) -> list[dict]:
    rng = np.random.default_rng(config.seed)
    genomes = [random_genome(space, rng) for _ in range(count)]
    return evaluate_all(config, genomes, 1, executor)


def optuna_genome(trial, space: SearchSpace) -> Genome | None:
    layers = trial.suggest_int("layers", 1, space.max_nodes)
    nodes = []
    for i in range(1, layers + 1):
        op = trial.suggest_categorical(f"op{i}", list(space.operations))
        params = {}
        if op in ("conv", "linear"):
            params["width"] = trial.suggest_int(f"width{i}", space.widths[0], space.widths[1], log=True)
        if op == "conv":
            params["kernel"] = trial.suggest_categorical(f"kernel{i}", list(space.kernel_sizes))
            params["stride"] = trial.suggest_categorical(f"stride{i}", list(space.strides))
            params["padding"] = params["kernel"] // 2
        if op in ("maxpool", "avgpool"):
            params["kernel"] = trial.suggest_categorical(f"pool{i}", list(space.pool_sizes))
            params["stride"] = trial.suggest_categorical(f"stride{i}", list(space.strides))
            params["padding"] = params["kernel"] // 2
        activation = trial.suggest_categorical(f"act{i}", list(space.activations))
        inputs = (i - 1,)
        if i >= 3 and trial.suggest_categorical(f"skip{i}", [False, True]):
            inputs = (i - 1, i - 2)
        nodes.append(Node(i, op, params, activation, "add", inputs if i > 1 else (INPUT,)))
    head = trial.suggest_categorical("head", list(space.heads))
    genome = Genome(tuple(nodes), layers, head)
    return genome if space.contains(genome) else None


def run_optuna(config, space, count: int, population: int, executor) -> list[dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = tuple(config.search.objectives)
    directions = ["maximize" if n == "accuracy" else "minimize" for n in names]
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=config.seed)
    study = optuna.create_study(directions=directions, sampler=sampler)
    records: list[dict] = []
    while len(records) < count:
        batch = min(population, count - len(records))
        trials = [study.ask() for _ in range(batch)]
        genomes = [optuna_genome(trial, space) for trial in trials]
        valid = [(t, g) for t, g in zip(trials, genomes) if g is not None]
        results = evaluate_all(config, [g for _, g in valid], len(records) + 1, executor)
        for (trial, _), record in zip(valid, results):
            values = [record.get("objectives", {}).get(n) for n in names]
            if record.get("status") == "ok" and None not in values:
                study.tell(trial, values)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            records.append(record)
        for trial, genome in zip(trials, genomes):
            if genome is None:
                # An invalid network counts as a spent evaluation, as a failed training would.
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                records.append({"status": "rejected", "objectives": {}})
    return records[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-optuna", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    count = args.population * (args.generations + 1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            config, space = campaign_setup(args.generations, args.population)
            config = config.with_overrides(seed=seed)
            executor = make_executor("process" if args.workers > 1 else "serial", args.workers)
            try:
                timings = {}
                started = time.perf_counter()
                results = {"engine": run_engine(config, args.workers, Path(folder))}
                timings["engine"] = time.perf_counter() - started
                started = time.perf_counter()
                results["random"] = run_random(config, space, count, executor)
                timings["random"] = time.perf_counter() - started
                if not args.skip_optuna:
                    started = time.perf_counter()
                    results["optuna"] = run_optuna(config, space, count, args.population, executor)
                    timings["optuna"] = time.perf_counter() - started
            finally:
                executor.close()
            row = {"seed": seed, "evaluations": count}
            for name, records in results.items():
                row[f"{name}_hv"] = front_hypervolume(config, records)
                row[f"{name}_seconds"] = round(timings[name], 1)
            log.info("seed %d: %s", seed, row)
            rows.append(row)
    print(json.dumps(rows, indent=2))
    for other in ("random", "optuna"):
        if f"{other}_hv" in rows[0]:
            ratios = [r["engine_hv"] / r[f"{other}_hv"] for r in rows]
            print(f"engine / {other} hypervolume: mean {np.mean(ratios):.3f} over seeds {args.seeds}: "
                  + ", ".join(f"{x:.3f}" for x in ratios))


if __name__ == "__main__":
    main()
