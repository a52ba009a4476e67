"""Canonical hash: equal for genomes that differ only in node ids or node order.

Only live nodes count (dead nodes compute nothing). A node is labelled by its operation, its
parameters with defaults filled in, its activation and, when it has several inputs, its merge.
Input order matters for ``concat`` (it fixes the channel order) and not for ``add``.

The nodes are ordered by colour refinement (Weisfeiler-Lehman on the directed graph, with input
and output neighbourhoods). Nodes that refinement cannot tell apart are individualised one at a
time and the smallest resulting encoding wins. Two leaves with the same encoding reveal an
automorphism. The search skips each branch that a known automorphism maps onto an explored one
(automorphism pruning, as in nauty), so k identical parallel branches cost about k * k / 2 leaves
instead of k!. The search takes no new branch after ``MAX_LEAVES`` leaves. Refinement can
leave non-automorphic nodes tied (identical nodes wired as one ring and as two smaller rings look
alike to it), and then only a search that reaches every distinct branch is independent of node ids.

NOTE: a genome whose search reaches ``MAX_LEAVES`` while non-automorphic nodes are still tied can
get a hash that depends on node ids. The ring genomes in tests/genomes/test_canonical.py, up to
25 nodes, hash the same under every relabelling tried.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from genomes.genome import INPUT, Genome
from genomes.ops import OPERATIONS

MAX_LEAVES = 32


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _label(genome: Genome, node_id: int) -> list[Any]:
    node = genome.node(node_id)
    params = node.resolved_params() if node.op in OPERATIONS else dict(node.params)
    merge = node.merge if len(node.inputs) > 1 else None
    return [node.op, sorted(params.items()), node.activation, merge, node_id == genome.output]


def _in_signature(genome: Genome, node_id: int, colors: dict[int, str]) -> list[str]:
    node = genome.node(node_id)
    sig = [colors[s] for s in node.inputs]
    return sig if node.merge == "concat" and len(sig) > 1 else sorted(sig)


class _Canonicaliser:
    def __init__(self, genome: Genome):
        self.genome = genome
        self.ids = sorted(genome.ids)
        self.out_edges: dict[int, list[tuple[int, int]]] = {INPUT: []}
        for nid in self.ids:
            self.out_edges.setdefault(nid, [])
        for node in genome.nodes:
            ordered = node.merge == "concat" and len(node.inputs) > 1
            for position, src in enumerate(node.inputs):
                self.out_edges[src].append((node.id, position if ordered else -1))
        self.leaves = 0
        # The node order of the first leaf with each encoding. A later leaf with the same encoding
        # gives an automorphism (node id -> node id), which lets the search skip symmetric branches.
        self.leaf_orders: dict[str, list[int]] = {}
        self.automorphisms: list[dict[int, int]] = []

    def refine(self, colors: dict[int, str]) -> dict[int, str]:
        classes = len(set(colors.values()))
        for _ in range(len(self.ids) + 1):
            updated = {INPUT: colors[INPUT]}
            for nid in self.ids:
                outs = sorted([colors[dst], pos] for dst, pos in self.out_edges[nid])
                updated[nid] = _digest([colors[nid], _in_signature(self.genome, nid, colors), outs])
            new_classes = len(set(updated.values()))
            colors = updated
            if new_classes == classes:
                break
            classes = new_classes
        return colors

    def encode(self, colors: dict[int, str]) -> str:
        order = sorted(self.ids, key=lambda nid: colors[nid])
        index = {nid: i + 1 for i, nid in enumerate(order)}
        index[INPUT] = 0
        rows = []
        for nid in order:
            node = self.genome.node(nid)
            inputs = [index[s] for s in node.inputs]
            if not (node.merge == "concat" and len(inputs) > 1):
                inputs.sort()
            rows.append([_label(self.genome, nid), inputs])
        return _digest([rows, index[self.genome.output], self.genome.head])

    def search(self, colors: dict[int, str], fixed: tuple[int, ...] = ()) -> str:
        colors = self.refine(colors)
        groups: dict[str, list[int]] = {}
        for nid in self.ids:
            groups.setdefault(colors[nid], []).append(nid)
        ties = [members for color, members in sorted(groups.items()) if len(members) > 1]
        if not ties:
            self.leaves += 1
            encoding = self.encode(colors)
            self._record_leaf(encoding, sorted(self.ids, key=lambda nid: colors[nid]))
            return encoding
        best = None
        explored: list[int] = []
        for member in ties[0]:
            if best is not None and self.leaves >= MAX_LEAVES:
                break
            # An automorphism that fixes the nodes individualised so far maps the branch of an
            # explored member onto the branch of its image, so both give the same encodings.
            if member in self._orbit(explored, fixed):
                continue
            explored.append(member)
            split = dict(colors)
            split[member] = _digest([colors[member], "individualised"])
            candidate = self.search(split, (*fixed, member))
            best = candidate if best is None or candidate < best else best
        return best

    def _record_leaf(self, encoding: str, order: list[int]) -> None:
        first = self.leaf_orders.setdefault(encoding, order)
        if first != order:
            self.automorphisms.append(dict(zip(first, order)))

    def _orbit(self, members: list[int], fixed: tuple[int, ...]) -> set[int]:
        """Nodes reached from ``members`` by the known automorphisms that fix every node in ``fixed``."""
        generators = [g for g in self.automorphisms if all(g[nid] == nid for nid in fixed)]
        reached = set(members)
        frontier = list(members)
        while frontier:
            nid = frontier.pop()
            for generator in generators:
                image = generator[nid]
                if image not in reached:
                    reached.add(image)
                    frontier.append(image)
        return reached


def canonical_hash(genome: Genome) -> str:
    """Hex SHA-256 of the canonical form of the live part of a valid genome."""
    live = genome.validate().pruned()
    canon = _Canonicaliser(live)
    colors = {INPUT: _digest("input")}
    colors.update({nid: _digest(_label(live, nid)) for nid in canon.ids})
    return canon.search(colors)
