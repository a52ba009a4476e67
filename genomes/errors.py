"""Exceptions raised by the genomes package."""


class GenomeError(ValueError):
    """Base class: a genome is malformed or does not fit the input it is applied to."""


class InvalidGenomeError(GenomeError):
    """The graph itself is broken: a cycle, a dangling input, an unknown operation, no output."""


class ShapeError(GenomeError):
    """The graph is well formed but some node cannot process the tensor shape it receives."""
