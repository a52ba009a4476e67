"""Innovation ids: node ids that name the same gene across relatives.

A node keeps its id when it is copied into a child, and every node an operator creates gets an id
from an ``InnovationCounter``. A campaign keeps one counter for its whole database and stores its
position with each generation, so ids are never reused and nodes with the same id in two genomes
descend from the same created node. Crossovers use that to align the genes of two parents.
"""

from __future__ import annotations

from typing import Callable, Iterable

from genomes.genome import INPUT, Genome

IdAllocator = Callable[[], int]


class InnovationCounter:
    """Hand out increasing node ids, starting at ``next_id``; calling it returns the next one."""

    def __init__(self, next_id: int = INPUT + 1):
        if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id <= INPUT:
            raise ValueError(f"innovation counter start {next_id!r} is invalid; use an integer >= 1")
        self.next_id = next_id

    def __call__(self) -> int:
        allocated = self.next_id
        self.next_id += 1
        return allocated

    def skip_past(self, genomes: Iterable[Genome]) -> None:
        """Move the counter beyond every id used by ``genomes``."""
        for genome in genomes:
            self.next_id = max(self.next_id, genome.next_id())

    def renumber(self, genome: Genome) -> Genome:
        """Return the genome with a fresh id for every node, in topological order."""
        mapping = {nid: self() for nid in genome.topological_order()}
        return genome.relabeled(mapping)


def local_allocator(*genomes: Genome) -> IdAllocator:
    """Return an allocator that starts after the largest id of ``genomes``.

    Its ids are unique within one child only, not across a campaign.
    """
    counter = InnovationCounter()
    counter.skip_past(genomes)
    return counter
