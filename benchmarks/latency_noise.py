"""Measure how repeatable the latency objective is: coefficient of variation over repeats.

Decodes one network and runs fitness.evaluate.measure_budget_latency on it 10 times with a
fixed thread count, as evaluate does. Prints the range of the 10 medians, their coefficient of variation
(standard deviation / mean) and the median inter-quartile range. The target is a coefficient of variation below 5%.

Side by side, each measurement is also taken as the minimum of the medians of ``--blocks``
short measurements of ``latency_repeats / blocks`` samples each (the same number of timed
samples, one warm-up per block). A burst of load from other processes then slows only some
blocks, and the minimum skips them. The two methods alternate, so both see the same load.

    python benchmarks/latency_noise.py [--genome mnist1d_cnn] [--task mnist1d]
        [--measurements 10] [--batch-sizes 1,64] [--threads 1] [--device auto] [--blocks 5]
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
    parser.add_argument("--blocks", type=int, default=5,
                        help="short measurements whose minimum median is the second method's value")
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
    block_budget = budget.replace(latency_repeats=max(1, budget.latency_repeats // args.blocks))
    print(f"second method: minimum over {args.blocks} medians of {block_budget.latency_repeats} samples")
    for batch_size in (int(size) for size in args.batch_sizes.split(",")):
        medians = []
        iqrs = []
        block_minima = []
        with torch_threads(budget.threads):
            for repeat in range(args.measurements):
                latency = measure_budget_latency(model, input_shape, budget, batch_size, device, repeat)
                medians.append(latency.median_ms)
                iqrs.append(latency.iqr_ms)
                blocks = [measure_budget_latency(model, input_shape, block_budget, batch_size, device, repeat)
                          for _ in range(args.blocks)]
                block_minima.append(min(block.median_ms for block in blocks))
        print(
            f"batch {batch_size:>4}: median of medians {statistics.median(medians):.4f} ms, "
            f"range {min(medians):.4f}..{max(medians):.4f} ms, "
            f"coefficient of variation {100 * variation_of(medians):.2f}%, "
            f"median IQR {statistics.median(iqrs):.4f} ms"
        )
        print(
            f"batch {batch_size:>4}, minimum of block medians: median {statistics.median(block_minima):.4f} ms, "
            f"range {min(block_minima):.4f}..{max(block_minima):.4f} ms, "
            f"coefficient of variation {100 * variation_of(block_minima):.2f}%"
        )


def variation_of(values: list[float]) -> float:
    """Return the coefficient of variation (standard deviation / mean), 0 for one value."""
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
