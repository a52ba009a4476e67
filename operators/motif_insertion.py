"""Motif insertion: put a small connected sub-graph (a motif) on one edge of a genome.

A motif is given as node labels and directed edges between label positions, in the text form
that ``evo motifs`` prints, for example ``A=conv/relu B=maxpool/identity; A->B``. A label is
``operation/activation`` or ``operation/activation/merge``. The operator draws one motif and one
edge ``source -> target`` of the genome, and builds fresh nodes with the motif's operations,
activations, merges and edges. The motif nodes without an input inside the motif read
``source``. The last motif node without an output inside the motif (in topological order)
feeds ``target``; any other such node becomes one more input of that last node, so no motif
node is left dead. Hyperparameters (widths, kernels, ...) are drawn from the search space,
because a motif fixes only operations and activations.

Without a motif, or with none whose operations and activations the space allows, the
operator does not apply. The engine passes motifs with ``MotifInsertion.with_motifs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from genomes import MERGES, Node
from operators.base import NotApplicable, Operator, pick
from operators.mutations import HEAD, edges_into_live_nodes, shapes_of

NODE_PATTERN = re.compile(r"([A-Z])=(\S+)")
EDGE_PATTERN = re.compile(r"([A-Z])->([A-Z])")


class MotifError(ValueError):
    """A motif description that cannot be read or is not a small connected acyclic graph."""


@dataclass(frozen=True)
class MotifSpec:
    """A motif: node labels and edges as (source position, target position) pairs."""

    labels: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.labels:
            raise MotifError("a motif needs at least one node")
        for label in self.labels:
            parts = label.split("/")
            if len(parts) not in (2, 3) or not all(parts) or (len(parts) == 3 and parts[2] not in MERGES):
                raise MotifError(f"motif node label {label!r} is invalid; use operation/activation[/merge], "
                                 f"with merge one of {', '.join(MERGES)}")
        for source, target in self.edges:
            if not (0 <= source < len(self.labels) and 0 <= target < len(self.labels)) or source == target:
                raise MotifError(f"motif edge {source}->{target} is invalid for {len(self.labels)} nodes")
        self.topological_order()
        if len(self.labels) > 1 and not self._connected():
            raise MotifError(f"motif {self.describe()!r} is not connected")

    def _connected(self) -> bool:
        reached, frontier = {0}, [0]
        while frontier:
            node = frontier.pop()
            for source, target in self.edges:
                for a, b in ((source, target), (target, source)):
                    if a == node and b not in reached:
                        reached.add(b)
                        frontier.append(b)
        return len(reached) == len(self.labels)

    def topological_order(self) -> list[int]:
        """Return positions with each node after its inputs, ties to the smaller position. Raises MotifError on a cycle."""
        remaining = {i: {s for s, t in self.edges if t == i} for i in range(len(self.labels))}
        order: list[int] = []
        while remaining:
            ready = sorted(i for i, inputs in remaining.items() if not inputs)
            if not ready:
                raise MotifError(f"motif edges {list(self.edges)} contain a cycle")
            order.append(ready[0])
            del remaining[ready[0]]
            for inputs in remaining.values():
                inputs.discard(ready[0])
        return order

    def describe(self) -> str:
        nodes = " ".join(f"{chr(ord('A') + i)}={label}" for i, label in enumerate(self.labels))
        links = ", ".join(f"{chr(ord('A') + a)}->{chr(ord('A') + b)}" for a, b in self.edges)
        return f"{nodes}; {links}"


def parse_motif(text: str) -> MotifSpec:
    """Read a motif from its text form, ``A=conv/relu B=maxpool/identity; A->B``."""
    nodes_part, _, edges_part = str(text).partition(";")
    found = NODE_PATTERN.findall(nodes_part)
    letters = [letter for letter, _ in found]
    if not found or letters != [chr(ord("A") + i) for i in range(len(found))]:
        raise MotifError(f"motif {text!r} is invalid; name the nodes A, B, C, ... in order, "
                         f"for example 'A=conv/relu B=maxpool/identity; A->B'")
    edges = []
    for source, target in EDGE_PATTERN.findall(edges_part):
        if source not in letters or target not in letters:
            raise MotifError(f"motif {text!r} has an edge {source}->{target} to a node that is not listed")
        edges.append((letters.index(source), letters.index(target)))
    return MotifSpec(tuple(label for _, label in found), tuple(edges))


def as_motif(motif: Any) -> MotifSpec:
    """Accept a MotifSpec, its text form, or any object with ``labels`` and ``edges``."""
    if isinstance(motif, MotifSpec):
        return motif
    if isinstance(motif, str):
        return parse_motif(motif)
    return MotifSpec(tuple(motif.labels), tuple(tuple(edge) for edge in motif.edges))


class MotifInsertion(Operator):
    """Insert one of the given motifs on a random edge of the parent (see the module docstring)."""

    name = "insert_motif"

    def __init__(self, motifs: Iterable[Any] = ()):
        self.motifs: tuple[MotifSpec, ...] = tuple(as_motif(m) for m in motifs)

    def with_motifs(self, motifs: Iterable[Any]) -> MotifInsertion:
        """Return an operator of the same name that draws from ``motifs``."""
        return MotifInsertion(motifs)

    def propose(self, parents, rng, space, new_id):
        (genome,) = parents
        if not self.motifs:
            raise NotApplicable("no motif given; pass motifs with MotifInsertion.with_motifs")
        usable = [m for m in self.motifs if self._fits_space(m, space)]
        if not usable:
            raise NotApplicable(f"none of the {len(self.motifs)} motifs uses only operations and activations "
                                f"of the search space")
        room = space.max_nodes - len(genome)
        usable = [m for m in usable if len(m.labels) <= room]
        if not usable:
            raise NotApplicable(f"no motif fits in the {room} nodes left below max_nodes = {space.max_nodes}")
        motif = pick(rng, usable)
        outputs, _ = shapes_of(genome, space)
        target, position = pick(rng, edges_into_live_nodes(genome))
        source = genome.output if target == HEAD else genome.node(target).inputs[position]
        new_nodes = self._build(motif, source, outputs[source][0], rng, space, new_id)
        exit_id = new_nodes[-1].id
        if target == HEAD:
            return genome.replace_nodes((*genome.nodes, *new_nodes), output=exit_id)
        node = genome.node(target)
        inputs = list(node.inputs)
        inputs[position] = exit_id
        child = genome.with_node(node.replace(inputs=tuple(inputs)))
        return child.replace_nodes((*child.nodes, *new_nodes))

    @staticmethod
    def _fits_space(motif: MotifSpec, space) -> bool:
        for label in motif.labels:
            op, activation = label.split("/")[:2]
            if op not in space.operations or activation not in space.activations:
                return False
        return True

    @staticmethod
    def _build(motif: MotifSpec, source: int, channels: int, rng, space, new_id) -> list[Node]:
        """Make the motif's nodes in topological order; the last one is the exit that feeds the target."""
        order = motif.topological_order()
        ids = {position: new_id() for position in order}
        sinks = [p for p in order if not any(s == p for s, _ in motif.edges)]
        exit_position = sinks[-1]
        nodes: list[Node] = []
        for position in order:
            parts = motif.labels[position].split("/")
            op, activation = parts[0], parts[1]
            inputs = [ids[s] for s, t in motif.edges if t == position]
            if not inputs:
                inputs = [source]
            if position == exit_position:
                inputs += [ids[p] for p in sinks if p != exit_position]
            merge = parts[2] if len(parts) == 3 else "add"
            entry_channels = channels if inputs == [source] else None
            nodes.append(Node(ids[position], op, space.sample_params(op, rng, entry_channels), activation,
                              merge, tuple(inputs)))
        # The exit goes last, so the caller can find it at the end of the list.
        nodes.sort(key=lambda node: node.id == ids[exit_position])
        return nodes

