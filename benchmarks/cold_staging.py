"""Cost of staging finished evaluations with warm and with cold CPU caches.

The engine stages evaluations between training runs, which evict the caches that its
Python code and SQLite use. This script stages batches of 8 records (the metrics of a
smoke evaluation) into a real file. It does so in three settings: back to back (warm),
after a sweep over 32 MB of memory, and after 60 training steps of a small network. It
prints the median time of a batch in each.

    python benchmarks/cold_staging.py [--batches 60] [--size 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from populations import Store
from populations.records import encode_metrics

METRICS = {"params": 2682, "flops": 97088, "device": "cpu", "steps": 60,
           "loss_curve": [[step, 2.3301751613616943 - step * 0.001] for step in range(1, 51)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--size", type=int, default=8, help="evaluations staged per batch")
    options = parser.parse_args()

    memory = np.ones(32 * 2**20 // 8)
    torch.set_num_threads(1)
    network = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    inputs, labels = torch.randn(32, 64), torch.randint(0, 10, (32,))

    def train() -> None:
        for _ in range(60):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(network(inputs), labels).backward()
            optimizer.step()

    def sweep() -> None:
        np.add(memory, 1.0, out=memory)

    settings = {"warm": None, "after a 32 MB sweep": sweep, "after 60 training steps": train}
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "staging.sqlite") as store:
        campaign_id = store.create_campaign("cold-staging", {}, 1)
        key = 0
        for label, before in settings.items():
            times = []
            for _ in range(options.batches):
                batch = []
                for _ in range(options.size):
                    key += 1
                    record = {"status": "ok", "objectives": {"accuracy": 0.5, "flops": 97088.0},
                              "metrics": encode_metrics(METRICS), "error": None, "seconds": 0.04}
                    batch.append((key, f"hash-{key}", record))
                if before is not None:
                    before()
                started = time.perf_counter()
                store.stage_evaluations(campaign_id, 0, batch)
                times.append(time.perf_counter() - started)
            print(f"{label:<26} median {statistics.median(times) * 1e6:6.0f} us per batch of {options.size}")


if __name__ == "__main__":
    main()
