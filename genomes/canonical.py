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
from hashlib import sha256
from typing import Any

from genomes.genome import INPUT, Genome, Node
from genomes.ops import OPERATIONS

MAX_LEAVES = 32

# JSON text and digest of node labels, shared by every genome. It is emptied when it reaches
# the limit. An entry takes roughly 800 bytes (an estimate from sys.getsizeof), so the cache
# stays below about 0.4 MB. The campaign of benchmarks/engine_memory.py (smoke preset,
# population 8) adds about one entry per generation, so a larger limit made the engine's
# memory grow for thousands of generations before it levelled off.
_LABELS: dict[tuple, tuple[str, str]] = {}
LABEL_CACHE_LIMIT = 512


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _label(genome: Genome, node_id: int) -> tuple:
    # A tuple, so it can key _LABELS. json.dumps writes tuples as arrays, so the JSON text is
    # the one of the list form [op, [[key, value], ...], activation, merge, is_output].
    node = genome.node(node_id)
    params = node._resolved() if node.op in OPERATIONS else dict(node.params)
    merge = node.merge if len(node.inputs) > 1 else None
    return (node.op, tuple(sorted(params.items())), node.activation, merge, node_id == genome.output)


def _node_label(genome: Genome, node: Node) -> tuple[str, str]:
    """Return the JSON text and digest of the node's label, which the node keeps.

    The label reads nothing from the genome but whether the node is its output, so the node
    keeps one label for each case and a child reuses the labels of the nodes it shares.
    """
    is_output = node.id == genome.output
    known = node._canonical_label(is_output)
    if known is None:
        known = _label_text_and_digest(_label(genome, node.id))
        node._keep_canonical_label(is_output, known)
    return known


def _label_text_and_digest(label: tuple) -> tuple[str, str]:
    # In a valid genome the resolved parameter values are ints (never bools) and the names come
    # from fixed vocabularies, so equal labels have equal JSON texts.
    known = _LABELS.get(label)
    if known is None:
        text = json.dumps(label, sort_keys=True, default=str)
        known = (text, hashlib.sha256(text.encode()).hexdigest())
        if len(_LABELS) >= LABEL_CACHE_LIMIT:
            _LABELS.clear()
        _LABELS[label] = known
    return known


def _refined_color(color: str, in_signature: list[str], outs: list[tuple[str, int]]) -> str:
    """Return ``_digest([color, in_signature, outs])``, writing the JSON text directly.

    Colours are hex digests, so no character needs escaping, and the text matches what
    json.dumps writes with its default separators.
    """
    inputs = '"' + '", "'.join(in_signature) + '"' if in_signature else ""
    readers = ", ".join([f'["{reader}", {position}]' for reader, position in outs])
    return sha256(f'["{color}", [{inputs}], [{readers}]]'.encode()).hexdigest()


INPUT_COLOR = _digest("input")


class _Canonicaliser:
    def __init__(self, genome: Genome):
        self.genome = genome
        index = genome._index
        self.ids = sorted(index)
        out_edges: dict[int, list[tuple[int, int]]] = {INPUT: []}
        for nid in self.ids:
            out_edges[nid] = []
        # Whether the order of a node's inputs counts: it does for a concat of several.
        self.ordered: dict[int, bool] = {}
        for node in genome.nodes:
            inputs = node.inputs
            if len(inputs) == 1:
                self.ordered[node.id] = False
                out_edges[inputs[0]].append((node.id, -1))
                continue
            ordered = self.ordered[node.id] = node.merge == "concat"
            for position, src in enumerate(inputs):
                out_edges[src].append((node.id, position if ordered else -1))
        # Per node, in id order: id, inputs, whether their order counts, out-edges as
        # (reader, position) pairs.
        self.rows = []
        self.inputs: dict[int, tuple[int, ...]] = {}
        self.labels: dict[int, tuple[str, str]] = {}
        for nid in self.ids:
            node = index[nid]
            inputs = self.inputs[nid] = node.inputs
            self.rows.append((nid, inputs, self.ordered[nid], out_edges[nid]))
            self.labels[nid] = _node_label(genome, node)
        self.leaves = 0
        # The node order of the first leaf with each encoding. A later leaf with the same encoding
        # gives an automorphism (node id -> node id), which lets the search skip symmetric branches.
        self.leaf_orders: dict[str, list[int]] = {}
        self.automorphisms: list[dict[int, int]] = []

    def initial_colors(self) -> dict[int, str]:
        colors = {INPUT: INPUT_COLOR}
        for nid in self.ids:
            colors[nid] = self.labels[nid][1]
        return colors

    def refine(self, colors: dict[int, str]) -> dict[int, str]:
        return self._refine(colors)[0]

    def _refine(self, colors: dict[int, str]) -> tuple[dict[int, str], int]:
        """Return the refined colours and how many distinct colours they have, the input's included."""
        classes = len(set(colors.values()))
        for _ in range(len(self.ids) + 1):
            updated = {INPUT: colors[INPUT]}
            for nid, inputs, ordered, out_edges in self.rows:
                if len(inputs) == 1:
                    in_signature = [colors[inputs[0]]]
                else:
                    in_signature = [colors[s] for s in inputs]
                    if not ordered:
                        in_signature.sort()
                if len(out_edges) == 1:
                    reader, position = out_edges[0]
                    outs = [(colors[reader], position)]
                else:
                    outs = sorted([(colors[dst], pos) for dst, pos in out_edges])
                updated[nid] = _refined_color(colors[nid], in_signature, outs)
            new_classes = len(set(updated.values()))
            colors = updated
            if new_classes == classes:
                break
            classes = new_classes
        return colors, classes

    def encode(self, colors: dict[int, str]) -> str:
        """Return ``_digest([rows, output index, head])`` with one ``[label, inputs]`` row per node.

        The JSON text is assembled from the cached label texts. Indices are plain ints, so the
        text matches what json.dumps writes for the same value.
        """
        return self._encode(sorted(self.ids, key=colors.__getitem__))

    def _encode(self, order: list[int]) -> str:
        """Return the encoding of ``encode`` for the node ids sorted by colour."""
        index = {nid: i for i, nid in enumerate(order, 1)}
        index[INPUT] = 0
        rows = []
        for nid in order:
            inputs = self.inputs[nid]
            if len(inputs) == 1:
                text = str(index[inputs[0]])
            else:
                positions = [index[s] for s in inputs]
                if not self.ordered[nid]:
                    positions.sort()
                text = ", ".join(map(str, positions))
            rows.append(f"[{self.labels[nid][0]}, [{text}]]")
        text = f"[[{', '.join(rows)}], {index[self.genome.output]}, {json.dumps(self.genome.head)}]"
        return sha256(text.encode()).hexdigest()

    def search(self, colors: dict[int, str], fixed: tuple[int, ...] = ()) -> str:
        colors, classes = self._refine(colors)
        if classes == len(colors):
            # Every colour differs, so no node ties with another.
            ties = []
        else:
            groups: dict[str, list[int]] = {}
            for nid in self.ids:
                groups.setdefault(colors[nid], []).append(nid)
            ties = [members for color, members in sorted(groups.items()) if len(members) > 1]
        if not ties:
            self.leaves += 1
            order = sorted(self.ids, key=colors.__getitem__)
            encoding = self._encode(order)
            self._record_leaf(encoding, order)
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
    """Hex SHA-256 of the canonical form of the live part of a valid genome.

    The genome keeps the hash, so later calls on the same object return it at once.
    """
    return genome._memoized("canonical_hash", lambda: _compute_hash(genome))


def _compute_hash(genome: Genome) -> str:
    live = genome.validate().pruned()
    canon = _Canonicaliser(live)
    return canon.search(canon.initial_colors())
