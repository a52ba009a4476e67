"""Evaluation cost: CPU-seconds to reach the same front hypervolume on MNIST-1D, with and
without the evaluation cache and Lamarckian weight inheritance.

Four serial campaigns with the same seed run side by side:

- ``baseline``: no cache (every genome is trained, even a repeated one), no inheritance.
- ``cache``: the cache on, in a database that already contains one campaign with another
  seed, as when a user reruns a search. Genomes scored there are not trained again.
- ``inherit``: children start from their parent's trained weights and train for
  ``--inherit-steps`` steps, fewer than the baseline's ``--steps``.
- ``both``: the cache and inheritance together.

The untimed warm-up campaign of ``cache`` and ``both`` uses the same settings with seed + 1.
For each campaign the script records the process CPU time after every generation. The target
is the smallest final hypervolume of the four; each campaign's cost is the CPU time at the
first generation whose hypervolume reaches it. Ratios are baseline cost / campaign cost.

    python benchmarks/evaluation_cost.py [--population 8] [--generations 4] [--steps 400]
                                         [--inherit-steps 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

import fitness
from evo.campaign import Campaign
from evo.config import CampaignConfig, load_preset
from populations import Store


class UncachedCampaign(Campaign):
    """A campaign that trains every genome, even one whose hash was already scored."""

    def _evaluate(self, children, number, executor) -> None:
        # Forgetting the scored hashes before each generation turns off reuse within the
        # campaign, and _stored_evaluation below turns off reuse from the database.
        self.known.clear()
        super()._evaluate(children, number, executor)

    def _stored_evaluation(self, genome_hash):
        return None


def campaign_config(arguments: argparse.Namespace, folder: Path, name: str, inherit: bool,
                    seed: int) -> CampaignConfig:
    config = load_preset("mnist1d")
    steps = arguments.inherit_steps if inherit else arguments.steps
    search = dataclasses.replace(config.search, population=arguments.population,
                                 generations=arguments.generations, inherit_weights=inherit)
    budget = config.budget.replace(steps=steps, threads=1)
    run = dataclasses.replace(config.run, db=str(folder / f"{name}.sqlite"), workers=1, executor="serial")
    return config.replace(name=name, seed=seed, search=search, budget=budget, run=run)


def run_campaign(config: CampaignConfig, cached: bool) -> list[tuple[float, float]]:
    """Run one campaign and return (CPU seconds so far, hypervolume) after each generation."""
    trace: list[tuple[float, float]] = []
    started = time.process_time()

    def observe(summary: dict) -> None:
        trace.append((time.process_time() - started, summary["hypervolume"]))

    kind = Campaign if cached else UncachedCampaign
    with Store(config.db_path) as store:
        kind(config, store, progress=False, observers=[observe]).run()
    return trace


def cost_to_reach(trace: list[tuple[float, float]], target: float) -> float | None:
    for seconds, volume in trace:
        if volume >= target - 1e-12:
            return seconds
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--steps", type=int, default=400, help="training steps without inheritance")
    parser.add_argument("--inherit-steps", type=int, default=100, help="training steps of inheriting campaigns")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    variants = {"baseline": (False, False), "cache": (True, False), "inherit": (False, True), "both": (True, True)}
    traces = {}
    # Generate MNIST-1D once, so the first campaign does not pay for it alone.
    fitness.load_task(load_preset("mnist1d").task)
    with tempfile.TemporaryDirectory() as folder:
        for name, (cached, inherit) in variants.items():
            if cached:
                warm = campaign_config(arguments, Path(folder), name, inherit, arguments.seed + 1)
                run_campaign(warm.replace(name=f"{name}-warm"), cached=True)
            config = campaign_config(arguments, Path(folder), name, inherit, arguments.seed)
            traces[name] = run_campaign(config, cached)
            print(f"{name}: CPU s and hypervolume per generation: "
                  + ", ".join(f"({s:.1f}, {v:.4f})" for s, v in traces[name]), flush=True)

    target = min(trace[-1][1] for trace in traces.values())
    baseline = cost_to_reach(traces["baseline"], target)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"target hypervolume (smallest final value): {target:.4f}")
    for name, trace in traces.items():
        cost = cost_to_reach(trace, target)
        ratio = "n/a" if cost in (None, 0) or baseline is None else f"{baseline / cost:.2f}x"
        print(f"{name:9s} CPU s to target: {cost if cost is None else round(cost, 1)}, "
              f"fewer than baseline: {ratio}")


if __name__ == "__main__":
    main()
