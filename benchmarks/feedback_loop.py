"""Worth of the feedback loop: hypervolume at generation 5 with transfer and adaptive operators against a cold start.

For each seed, three MNIST-1D campaigns (accuracy against FLOPs) run with the same budget:

- donor: an earlier campaign on the same task (campaign seed 1000 + seed), with adaptive
  operators, whose last front and operator probabilities are transferred;
- cold: the engine's defaults, seeded from the zoo;
- warm: seeded from the donor's front (``db:DONOR#front``) plus the zoo seeds, with
  ``adaptive_operators`` and ``transfer_operators`` on.

The printed ratio is warm over cold hypervolume at the last generation (``evo.selection.hypervolume``:
error against log FLOPs, reference 1e8 FLOPs). The donor's evaluations are not counted
against the warm campaign, because transfer exists to reuse an earlier campaign.

Reduced budget so that the default run takes about 20 minutes on 2 cores: population 8,
5 generations, 400 training steps per evaluation (the mnist1d preset trains 2,000).

    python benchmarks/feedback_loop.py --seeds 0 1 2 --workers 2
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

from evo.campaign import Campaign
from evo.config import CampaignConfig, load_preset
from populations import Store

log = logging.getLogger("benchmarks.feedback_loop")


def base_config(db: Path, name: str, seed: int, args: argparse.Namespace) -> CampaignConfig:
    config = load_preset("mnist1d").with_overrides(db=str(db), workers=args.workers, seed=seed,
                                                   generations=args.generations, population=args.population)
    budget = dataclasses.replace(config.budget, steps=args.steps)
    return config.replace(name=name, budget=budget)


def run(config: CampaignConfig) -> tuple[float, float]:
    """Run a campaign and return the hypervolume of its last generation and its wall time in seconds."""
    started = time.perf_counter()
    with Store(config.db_path) as store:
        summary = Campaign(config, store, progress=False).run()
    return float(summary["hypervolume"]), time.perf_counter() - started


def measure_seed(seed: int, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    donor = base_config(folder / f"donor{seed}.sqlite", "donor", 1000 + seed, args)
    donor = donor.replace(search=dataclasses.replace(donor.search, adaptive_operators=True))
    donor_volume, donor_seconds = run(donor)

    cold = base_config(folder / f"cold{seed}.sqlite", "cold", seed, args)
    cold_volume, cold_seconds = run(cold)

    warm = base_config(folder / f"warm{seed}.sqlite", "warm", seed, args)
    warm = warm.replace(search=dataclasses.replace(
        warm.search, seeds=(f"db:{donor.db_path}#front", *warm.search.seeds),
        adaptive_operators=True, transfer_operators=True))
    warm_volume, warm_seconds = run(warm)
    result = {"seed": seed, "donor": donor_volume, "cold": cold_volume, "warm": warm_volume,
              "ratio": warm_volume / cold_volume if cold_volume > 0 else float("nan"),
              "seconds": donor_seconds + cold_seconds + warm_seconds}
    log.info("seed %d: %s", seed, json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="campaign seeds, one row each")
    parser.add_argument("--workers", type=int, default=2, help="evaluation processes per campaign")
    parser.add_argument("--population", type=int, default=8, help="population size of every campaign")
    parser.add_argument("--generations", type=int, default=5, help="generations after generation 0")
    parser.add_argument("--steps", type=int, default=400, help="training steps per evaluation")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the databases in")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("fitness", "evo"):
        logging.getLogger(name).setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [measure_seed(seed, folder, args) for seed in args.seeds]

    print(f"hypervolume at generation {args.generations}, population {args.population}, {args.steps} steps")
    print("seed  donor   cold    warm    warm/cold  seconds")
    for row in rows:
        print(f"{row['seed']:<5} {row['donor']:.4f}  {row['cold']:.4f}  {row['warm']:.4f}  "
              f"{row['ratio']:.3f}      {row['seconds']:.0f}")
    ratios = np.array([row["ratio"] for row in rows])
    cold = np.mean([row["cold"] for row in rows])
    warm = np.mean([row["warm"] for row in rows])
    print(f"mean  cold {cold:.4f}  warm {warm:.4f}  ratio of means {warm / cold:.3f}  "
          f"mean ratio {ratios.mean():.3f} +- {ratios.std(ddof=1) if len(ratios) > 1 else 0:.3f}")
    print("target: warm at least 1.10x cold")


if __name__ == "__main__":
    main()
