"""Genomes: immutable DAG descriptions of neural networks, their shapes, costs and decoding.

Public API::

    Genome, Node, INPUT                 the value types (``INPUT`` = 0 is the network input)
    Genome.validate(), .canonical_hash(), .to_json(), Genome.from_json(), .pruned()
    infer_shapes(genome, input_shape, num_classes) -> NetworkPlan
    count_parameters(...), count_flops(...)   costs from the genome alone
    decode(genome, input_shape, num_classes) -> torch.nn.Module
    SearchSpace                         limits operators respect
    InnovationCounter                   node ids unique across a campaign (innovation ids)
    zoo.SEEDS, zoo.build_seed(name, input_shape, num_classes)

``input_shape`` excludes the batch: ``(F,)`` flat, ``(C, L)`` sequence, ``(C, H, W)`` image.
"""

from genomes.errors import GenomeError, InvalidGenomeError, ShapeError
from genomes.genome import HEADS, INPUT, Genome, Node
from genomes.ops import ACTIVATIONS, MERGES, OPERATIONS
from genomes.shapes import NetworkPlan, count_flops, count_parameters, describe, infer_shapes
from genomes.space import SearchSpace
from genomes.innovation import InnovationCounter
from genomes.decode import decode

__all__ = [
    "ACTIVATIONS", "HEADS", "INPUT", "MERGES", "OPERATIONS",
    "Genome", "GenomeError", "InnovationCounter", "InvalidGenomeError", "NetworkPlan", "Node", "SearchSpace", "ShapeError",
    "count_flops", "count_parameters", "decode", "describe", "infer_shapes",
]
