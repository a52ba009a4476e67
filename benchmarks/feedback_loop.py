"""Worth of the feedback loop: hypervolume with transfer and adaptive operators against a cold start.

A thin wrapper around ``evo bench feedback`` (logic in evo/bench_mnist1d.py), kept so that the
command recorded in docs/benchmarks.md keeps working. Arguments are passed through:

    python benchmarks/feedback_loop.py --seeds 0,1,2 --workers 2 --out feedback.md
"""

import sys

from evo.cli import main

if __name__ == "__main__":
    main(["bench", "feedback", *sys.argv[1:]], prog_name="evo")
