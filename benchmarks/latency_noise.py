"""Measure how repeatable the latency objective is: coefficient of variation over repeats.

Decodes one network and runs fitness.evaluate.measure_budget_latency on it 10 times with a
fixed thread count, as evaluate does. Prints the range of the 10 medians, their coefficient of variation
(standard deviation / mean) and the median inter-quartile range. The target is a coefficient of variation below 5%.

    python benchmarks/latency_noise.py [--genome mnist1d_cnn] [--task mnist1d]
        [--measurements 10] [--batch-sizes 1,64] [--threads 1] [--device auto]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import torch

from fitness import Budget, resolve_device, task_shapes
from fitness.evaluate import measure_budget_latency
from fitness.training import seeded_torch, torch_threads
from genomes import decode
from genomes.zoo import build_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome", default="mnist1d_cnn", help="name of a known architecture")
    parser.add_argument("--task", default="mnist1d")
    parser.add_argument("--measurements", type=int, default=10)
    parser.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--min-sample-ms", type=float, default=Budget().latency_min_sample_ms,
                        help="0 times single passes, as before this setting existed")
    parser.add_argument("--min-warmup-ms", type=float, default=Budget().latency_min_warmup_ms)
    args = parser.parse_args()

    budget = Budget(threads=args.threads, device=args.device,
                    latency_min_sample_ms=args.min_sample_ms,
                    latency_min_warmup_ms=args.min_warmup_ms)
    device = resolve_device(budget.device)
    input_shape, num_classes = task_shapes(args.task)
    with seeded_torch(0, device):
        model = decode(build_seed(args.genome, input_shape, num_classes), input_shape, num_classes)
    model.to(device)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"device {device}, threads {budget.threads}")
    print(f"network: {args.genome} on {args.task}, warm-up at least {budget.latency_warmup} "
          f"passes and {budget.latency_min_warmup_ms} ms, {budget.latency_repeats} timed samples "
          f"of at least {budget.latency_min_sample_ms} ms per measurement")
    for batch_size in (int(size) for size in args.batch_sizes.split(",")):
        medians = []
        iqrs = []
        with torch_threads(budget.threads):
            for repeat in range(args.measurements):
                latency = measure_budget_latency(model, input_shape, budget, batch_size, device, repeat)
                medians.append(latency.median_ms)
                iqrs.append(latency.iqr_ms)
        mean = statistics.fmean(medians)
        variation = statistics.stdev(medians) / mean if len(medians) > 1 else 0.0
        print(
            f"batch {batch_size:>4}: median of medians {statistics.median(medians):.4f} ms, "
            f"range {min(medians):.4f}..{max(medians):.4f} ms, "
            f"coefficient of variation {100 * variation:.2f}%, "
            f"median IQR {statistics.median(iqrs):.4f} ms"
        )


if __name__ == "__main__":
    main()
