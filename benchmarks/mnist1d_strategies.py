"""Hypervolume of accuracy against FLOPs on MNIST-1D: the engine, random search and Optuna's NSGA-II.

A thin wrapper around ``evo bench mnist1d-strategies`` (logic in evo/bench_mnist1d.py), kept so
that the command recorded in docs/benchmarks.md keeps working. Arguments are passed through:

    python benchmarks/mnist1d_strategies.py --seeds 0,1,2 --workers 2 --out strategies.md
"""

import sys

from evo.cli import main

if __name__ == "__main__":
    main(["bench", "mnist1d-strategies", *sys.argv[1:]], prog_name="evo")
