"""Evaluation cost: CPU-seconds to reach the same front hypervolume on MNIST-1D, with and
without the evaluation cache, Lamarckian weight inheritance and successive halving.

For each seed, serial campaigns with that seed run one after another in this process:

- ``baseline``: a fresh database, no inheritance, ``--steps`` steps per evaluation,
  ``--generations`` generations.
- ``cache``: a database that already contains one campaign with seed + 1000, as when a user
  reruns a search. Genomes scored there are not trained again.
- ``inherit``: children start from their parent's trained weights. Generation 0 (seeds and
  their mutants, which have no trained parent) trains for ``--steps`` steps and later
  generations for ``--inherit-steps``, because an inheriting child continues training that
  its ancestors started.
- ``both``: the cache and inheritance together (its warm-up campaign inherits too).
- ``halving``: successive halving with ``--rungs`` and ``--eta``, in a fresh database. Its
  hypervolume uses each member's highest rung, so a member that was not promoted counts with
  the accuracy of its shorter training.

The cache is always on, because the engine has no switch for it. In a fresh database it can
reuse only repeats within the campaign. Those are rare, because the engine tries 20 times to
make a child with a new hash, and the script prints the count of ``cached`` rows of each campaign.

The target is ``--target-fraction`` of the baseline's final hypervolume. Every other campaign
runs until it reaches the target or has spent ``--cpu-cap`` times the baseline's CPU time or
``--max-generations`` generations. A campaign's cost is its process CPU time at the first
generation that reaches the target, and its ratio is the baseline's cost divided by its own.
Warm-up campaigns are not timed.

    python benchmarks/evaluation_cost.py [--seeds 0,1,2] [--population 8] [--generations 6]
        [--max-generations 18] [--target-fraction 0.95] [--steps 400] [--inherit-steps 200]
        [--rungs 2] [--eta 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import torch

import fitness
from evo.campaign import Campaign
from evo.config import CampaignConfig, load_preset
from populations import Store

# Seed offset of the warm-up campaign that fills the cache variants' database.
WARM_SEED_OFFSET = 1000
VARIANTS = ("baseline", "cache", "inherit", "both", "halving")


class StepCutCampaign(Campaign):
    """A campaign that trains generation 0 for the configured steps and later generations for fewer.

    The cache key stays the one of the configured budget, so within one database every
    campaign of this class must use the same cut (the warm-up campaign does).
    """

    inherit_steps = 0

    def _evaluate(self, children, number, executor) -> None:
        if number == 0:
            super()._evaluate(children, number, executor)
            return
        full = self.config
        self.config = full.replace(budget=full.budget.replace(steps=self.inherit_steps))
        try:
            super()._evaluate(children, number, executor)
        finally:
            self.config = full


class TargetReached(Exception):
    """Raised by the observer to end a campaign once it has reached the target or the cap."""


def campaign_config(arguments: argparse.Namespace, folder: Path, name: str, seed: int, *,
                    inherit: bool = False, halving: bool = False, generations: int) -> CampaignConfig:
    config = load_preset("mnist1d")
    settings = {"rungs": arguments.rungs, "eta": arguments.eta} if halving else {}
    search = dataclasses.replace(config.search, population=arguments.population, generations=generations,
                                 inherit_weights=inherit, successive_halving=settings)
    budget = config.budget.replace(steps=arguments.steps, threads=1)
    run = dataclasses.replace(config.run, db=str(folder / f"{name}.sqlite"), workers=1, executor="serial")
    return config.replace(name=name, seed=seed, search=search, budget=budget, run=run)


def campaign_class(inherit: bool, inherit_steps: int) -> type[Campaign]:
    if not inherit:
        return Campaign
    return type(StepCutCampaign.__name__, (StepCutCampaign,), {"inherit_steps": inherit_steps})


def run_campaign(config: CampaignConfig, kind: type[Campaign], target: float | None = None,
                 cpu_limit: float | None = None) -> list[tuple[float, float]]:
    """Run one campaign and return (CPU seconds so far, hypervolume) after each generation.

    With a target, the campaign ends at the first generation that reaches it, or once its
    CPU time passes cpu_limit.
    """
    trace: list[tuple[float, float]] = []
    started = time.process_time()

    def observe(summary: dict) -> None:
        trace.append((time.process_time() - started, summary["hypervolume"]))
        if target is not None and (reaches(summary["hypervolume"], target) or trace[-1][0] > cpu_limit):
            raise TargetReached

    with Store(config.db_path) as store:
        try:
            kind(config, store, progress=False, observers=[observe]).run()
        except TargetReached:
            pass
    return trace


def reaches(volume: float, target: float) -> bool:
    return volume >= target - 1e-12


def cost_to_reach(trace: list[tuple[float, float]], target: float) -> float | None:
    for seconds, volume in trace:
        if reaches(volume, target):
            return seconds
    return None


def count_statuses(path: Path, name: str) -> tuple[int, int]:
    """Return (evaluation rows, cached rows) of the named campaign."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT COUNT(*), SUM(e.status = 'cached') FROM evaluations AS e"
            " JOIN individuals AS i ON i.id = e.individual_id"
            " JOIN campaigns AS c ON c.id = i.campaign_id WHERE c.name = ?", [name]).fetchone()
    finally:
        connection.close()


def run_seed(arguments: argparse.Namespace, folder: Path, seed: int) -> dict[str, dict]:
    """Run the baseline and every variant with one seed; return each one's trace and counts."""
    results = {}
    baseline = campaign_config(arguments, folder, f"baseline-{seed}", seed, generations=arguments.generations)
    trace = run_campaign(baseline, Campaign)
    target = arguments.target_fraction * trace[-1][1]
    results["baseline"] = {"trace": trace, "counts": count_statuses(baseline.db_path, baseline.name)}
    cpu_limit = arguments.cpu_cap * trace[-1][0]
    for name in VARIANTS[1:]:
        inherit = name in ("inherit", "both")
        kind = campaign_class(inherit, arguments.inherit_steps)
        options = {"inherit": inherit, "halving": name == "halving"}
        if name in ("cache", "both"):
            warm = campaign_config(arguments, folder, f"{name}-{seed}", seed + WARM_SEED_OFFSET,
                                   generations=arguments.generations, **options)
            run_campaign(warm.replace(name=f"{name}-{seed}-warm"), kind)
        config = campaign_config(arguments, folder, f"{name}-{seed}", seed,
                                 generations=arguments.max_generations, **options)
        trace = run_campaign(config, kind, target, cpu_limit)
        results[name] = {"trace": trace, "counts": count_statuses(config.db_path, config.name)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated campaign seeds")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=6, help="generations of the baseline")
    parser.add_argument("--max-generations", type=int, default=18, help="maximum generations of the other campaigns")
    parser.add_argument("--target-fraction", type=float, default=0.95,
                        help="target hypervolume as a fraction of the baseline's final one")
    parser.add_argument("--cpu-cap", type=float, default=1.5,
                        help="stop a campaign once it has used this many times the baseline's CPU time")
    parser.add_argument("--steps", type=int, default=400, help="training steps without inheritance")
    parser.add_argument("--inherit-steps", type=int, default=200,
                        help="training steps of inheriting children after generation 0")
    parser.add_argument("--rungs", type=int, default=2, help="successive-halving rungs")
    parser.add_argument("--eta", type=int, default=3, help="successive-halving reduction factor")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = [int(seed) for seed in arguments.seeds.split(",")]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}", flush=True)
    # Generate MNIST-1D once, so the first campaign does not pay for it alone.
    fitness.load_task(load_preset("mnist1d").task)
    ratios: dict[str, list[float | None]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            results = run_seed(arguments, Path(folder), seed)
            target = arguments.target_fraction * results["baseline"]["trace"][-1][1]
            baseline_cost = cost_to_reach(results["baseline"]["trace"], target)
            print(f"seed {seed}: target hypervolume {target:.4f} ({arguments.target_fraction} of the "
                  f"baseline's after {arguments.generations} generations)", flush=True)
            for name, result in results.items():
                trace = result["trace"]
                cost = cost_to_reach(trace, target)
                ratio = None if cost in (None, 0) else baseline_cost / cost
                ratios[name].append(ratio)
                rows, cached = result["counts"]
                print(f"  {name:9s} generations {len(trace) - 1:2d}, final hypervolume {trace[-1][1]:.4f}, "
                      f"CPU s to target {'missed' if cost is None else f'{cost:.1f}'} "
                      f"(ran {trace[-1][0]:.1f}), fewer than baseline "
                      f"{'n/a' if ratio is None else f'{ratio:.2f}x'}, evaluation rows {rows}, "
                      f"cached {cached or 0}", flush=True)
                print("    CPU s and hypervolume per generation: "
                      + ", ".join(f"({seconds:.1f}, {volume:.4f})" for seconds, volume in trace), flush=True)

    print("summary over seeds (geometric mean of the ratios of the seeds that reached the target):")
    for name, values in ratios.items():
        reached = [value for value in values if value is not None]
        mean = math.exp(statistics.fmean(math.log(v) for v in reached)) if reached else None
        listed = ", ".join("missed" if v is None else f"{v:.2f}x" for v in values)
        print(f"  {name:9s} {listed}; reached {len(reached)} of {len(values)}; "
              f"geometric mean {'n/a' if mean is None else f'{mean:.2f}x'}")


if __name__ == "__main__":
    main()
