"""The Genome value: an immutable DAG of nodes between the network input and the classifier head.

A node merges its inputs (``add`` or ``concat``), applies one operation, then one activation.
Node ids are positive integers; id ``0`` (``INPUT``) stands for the network input after the stem.
The genome names the node whose output feeds the head, and the head kind: ``flatten`` or ``gap``
(global average pooling over the spatial axes), followed by a linear classifier that the decoder
sizes from the task.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from genomes.errors import InvalidGenomeError
from genomes.ops import ACTIVATIONS, MERGES, OPERATIONS

INPUT = 0
HEADS = ("flatten", "gap")
FORMAT_VERSION = 1


# Resolved parameters by (operation, frozen parameters), shared by equal nodes. Only parameters
# whose values are all exact ints go in, because 8.0 == 8 and True == 1 would otherwise find the
# resolution of a valid node for an invalid one. The cache is emptied when it reaches the limit.
_RESOLVED: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, int]] = {}
RESOLVED_CACHE_LIMIT = 512

# The value that Genome._memoized finds for a key it has not stored.
_MISSING = object()


def _freeze_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    # dict and tuple are tested first because isinstance against typing.Mapping is slow.
    if isinstance(params, dict):
        items = params.items()
    elif isinstance(params, tuple):
        items = params
    else:
        items = params.items() if isinstance(params, Mapping) else params
    return tuple(sorted((str(key), value) for key, value in items))


def _resolve(op: str, params: tuple[tuple[str, Any], ...]) -> dict[str, int]:
    """Resolve the parameters through the shared cache. The dict is shared, so callers must not change it."""
    if not all(type(value) is int for _, value in params):
        return OPERATIONS[op].resolve(dict(params))
    key = (op, params)
    resolved = _RESOLVED.get(key)
    if resolved is None:
        resolved = OPERATIONS[op].resolve(dict(params))
        if len(_RESOLVED) >= RESOLVED_CACHE_LIMIT:
            _RESOLVED.clear()
        _RESOLVED[key] = resolved
    return resolved


@dataclass(frozen=True)
class Node:
    """One vertex of the DAG. ``inputs`` keeps its order, which matters for ``concat``.

    A node keeps its resolved parameters and its shape plans, once computed, in private
    attributes that are not fields, so equality, hashing and repr ignore them and pickling
    drops them.
    """

    id: int
    op: str
    params: tuple[tuple[str, Any], ...] = ()
    activation: str = "identity"
    merge: str = "add"
    inputs: tuple[int, ...] = (INPUT,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _freeze_params(self.params))
        object.__setattr__(self, "inputs", tuple(self.inputs))

    @property
    def param_dict(self) -> Mapping[str, Any]:
        return MappingProxyType(dict(self.params))

    def resolved_params(self) -> dict[str, int]:
        """Parameters with the operation's defaults filled in (the node must have a known op)."""
        return dict(self._resolved())

    def _resolved(self) -> dict[str, int]:
        # The dict is shared with other nodes and calls, so callers must not change it.
        resolved = self.__dict__.get("_resolved_params")
        if resolved is None:
            resolved = _resolve(self.op, self.params)
            object.__setattr__(self, "_resolved_params", resolved)
        return resolved

    def _cached_plan(self, shapes: tuple) -> Any:
        """Return the shape plan cached by ``_cache_plan`` for these input shapes, or None."""
        cached = self.__dict__.get("_plan")
        if cached is not None and cached[0] == shapes:
            return cached[1]
        return None

    def _cache_plan(self, shapes: tuple, plan: Any) -> None:
        # One plan per node: a node almost always receives the same input shapes, and every
        # object cached here adds to the work of the garbage collector.
        object.__setattr__(self, "_plan", (shapes, plan))

    def _checked(self) -> bool:
        """Return whether the checks of this node that need no other node have passed before."""
        return "_checked_alone" in self.__dict__

    def _mark_checked(self) -> None:
        object.__setattr__(self, "_checked_alone", True)

    def _canonical_label(self, is_output: bool) -> Any:
        """Return the label that ``_keep_canonical_label`` stored for this output flag, or None."""
        return self.__dict__.get("_output_label" if is_output else "_inner_label")

    def _keep_canonical_label(self, is_output: bool, label: Any) -> None:
        object.__setattr__(self, "_output_label" if is_output else "_inner_label", label)

    def _inside(self, space: Any) -> bool:
        """Return whether the node passed the per-node checks of this search space object before."""
        return self.__dict__.get("_inside_space") is space

    def _mark_inside(self, space: Any) -> None:
        # One space per node: a campaign checks against a single space.
        object.__setattr__(self, "_inside_space", space)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    def replace(self, **changes: Any) -> Node:
        fields = {"id": self.id, "op": self.op, "params": self.params, "activation": self.activation,
                  "merge": self.merge, "inputs": self.inputs}
        if not changes.keys() <= fields.keys():
            fields.update(changes)
            return Node(**fields)  # raises the TypeError that names the unknown field
        fields.update(changes)
        # What __init__ and __post_init__ do, without freezing parameters that are frozen already.
        if "params" in changes:
            fields["params"] = _freeze_params(fields["params"])
        if "inputs" in changes:
            fields["inputs"] = tuple(fields["inputs"])
        node = object.__new__(Node)
        node.__dict__.update(fields)
        return node

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "params": dict(self.params),
                "activation": self.activation, "merge": self.merge, "inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Node:
        if not isinstance(data, Mapping):
            raise InvalidGenomeError(f"a node must be a JSON object, got {type(data).__name__}: {data!r}")
        unknown = set(data) - {"id", "op", "params", "activation", "merge", "inputs"}
        if unknown:
            raise InvalidGenomeError(f"node {data.get('id')!r}: unknown field(s) {sorted(unknown)}")
        if not isinstance(data.get("params", {}), Mapping):
            raise InvalidGenomeError(f"node {data.get('id')!r}: 'params' must be a JSON object")
        if not isinstance(data.get("inputs", []), (list, tuple)):
            raise InvalidGenomeError(f"node {data.get('id')!r}: 'inputs' must be a list of node ids")
        try:
            return cls(id=data["id"], op=data["op"], params=data.get("params", {}),
                       activation=data.get("activation", "identity"), merge=data.get("merge", "add"),
                       inputs=tuple(data.get("inputs", (INPUT,))))
        except KeyError as missing:
            raise InvalidGenomeError(f"node {data.get('id')!r}: missing field {missing}") from None


@dataclass(frozen=True)
class Genome:
    """An immutable network description. Build variants with ``replace_nodes`` or ``with_node``.

    Values derived from the genome (validity, topological order, live ids, the pruned copy, the
    canonical hash, shape plans) are computed once and kept in ``_memo``, which is not a field.
    Methods hand out copies of the mutable ones.
    """

    nodes: tuple[Node, ...]
    output: int
    head: str = "flatten"

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        # The node index is an attribute, not a field, so that dataclasses.asdict() and
        # fields() see only the genome's own data.
        object.__setattr__(self, "_index", MappingProxyType({n.id: n for n in self.nodes}))
        object.__setattr__(self, "_memo", {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and deepcopy rebuild the genome from its fields. The index is a mappingproxy,
        # which cannot be pickled, and the memo is derived, so neither is copied.
        return (type(self), (self.nodes, self.output, self.head))

    def _memoized(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Return the value kept under ``key``, computing and keeping it on the first call.

        An exception from ``compute`` propagates and nothing is kept, so the next call raises
        again. Keep only immutable values, or values that callers receive as copies.
        """
        # get() with a marker, because a KeyError raised and caught on every miss costs more.
        value = self._memo.get(key, _MISSING)
        if value is _MISSING:
            value = self._memo[key] = compute()
        return value

    # -- access ---------------------------------------------------------------------------------

    def node(self, node_id: int) -> Node:
        try:
            return self._index[node_id]
        except KeyError:
            raise InvalidGenomeError(f"node {node_id} is not in the genome") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes)

    def next_id(self) -> int:
        return max(self.ids, default=INPUT) + 1

    def edges(self) -> list[tuple[int, int]]:
        """Return every (source, target) pair, the input included as source 0, in node order."""
        return [(src, n.id) for n in self.nodes for src in n.inputs]

    def consumers(self) -> dict[int, list[int]]:
        """For each source id (the input included), the ids of the nodes that read it."""
        readers: dict[int, list[int]] = {INPUT: []}
        for n in self.nodes:
            readers.setdefault(n.id, [])
        for src, dst in self.edges():
            readers.setdefault(src, []).append(dst)
        return readers

    # -- structure ------------------------------------------------------------------------------

    def validate(self) -> Genome:
        """Check the graph and return self; raise InvalidGenomeError naming the node or edge at fault."""
        if "valid" in self._memo:
            return self
        changed = self._memo.get("valid_but")
        if changed is not None:
            # with_node left the ids, the edges, the output, the head and every other node as in
            # a valid genome. So only the changed node can fail, with the error that the full
            # check below would raise first.
            self._validate_node(changed, self._index)
            self._memo["valid"] = True
            return self
        if not self.nodes:
            raise InvalidGenomeError("the genome has no nodes; add at least one node")
        seen: set[int] = set()
        for n in self.nodes:
            if isinstance(n.id, bool) or not isinstance(n.id, int) or n.id <= INPUT:
                raise InvalidGenomeError(f"node id {n.id!r} is invalid; ids are integers >= 1")
            if n.id in seen:
                raise InvalidGenomeError(f"node id {n.id} is used twice; ids must be unique")
            seen.add(n.id)
        for n in self.nodes:
            self._validate_node(n, seen)
        if self.output not in seen:
            raise InvalidGenomeError(
                f"output node {self.output!r} is missing; the output must name one of the nodes {sorted(seen)}"
            )
        if self.head not in HEADS:
            raise InvalidGenomeError(f"head {self.head!r} is unknown; use one of {list(HEADS)}")
        self._memoized("order", self._topological_order)
        self._memo["valid"] = True
        return self

    @staticmethod
    def _validate_node(n: Node, ids: set[int]) -> None:
        if n._checked():
            # Every check but the dangling one passed before and needs no other node. The inputs
            # are checked in the same order as below, so the same error comes first.
            for src in n.inputs:
                if src != INPUT and src not in ids:
                    raise InvalidGenomeError(f"edge {src} -> {n.id} is dangling: node {src} does not exist")
            return
        if n.op not in OPERATIONS:
            raise InvalidGenomeError(
                f"node {n.id}: unknown operation {n.op!r}; known operations: {sorted(OPERATIONS)}"
            )
        try:
            n._resolved()
        except ValueError as error:
            raise InvalidGenomeError(f"node {n.id}: {error}") from None
        if n.activation not in ACTIVATIONS:
            raise InvalidGenomeError(
                f"node {n.id}: unknown activation {n.activation!r}; known: {sorted(ACTIVATIONS)}"
            )
        if n.merge not in MERGES:
            raise InvalidGenomeError(f"node {n.id}: unknown merge {n.merge!r}; use one of {list(MERGES)}")
        if not n.inputs:
            raise InvalidGenomeError(f"node {n.id} has no inputs; connect it to the input (0) or a node")
        for src in n.inputs:
            if isinstance(src, bool) or not isinstance(src, int):
                raise InvalidGenomeError(f"node {n.id}: input {src!r} is not a node id; use an integer")
            if src == n.id:
                raise InvalidGenomeError(f"edge {src} -> {n.id} is a self-loop; a node cannot read itself")
            if src != INPUT and src not in ids:
                raise InvalidGenomeError(
                    f"edge {src} -> {n.id} is dangling: node {src} does not exist"
                )
        n._mark_checked()

    def topological_order(self) -> list[int]:
        """Node ids with every node after its inputs; ties go to the smaller id.

        Raises InvalidGenomeError naming the nodes on a cycle.
        """
        return list(self._memoized("order", self._topological_order))

    def _topological_order(self) -> tuple[int, ...]:
        # Kahn's algorithm with a min-heap. Each node counts its distinct sources other than the
        # input, and each source lists its distinct readers.
        pending: dict[int, int] = {}
        readers: dict[int, set[int]] = {}
        for n in self.nodes:
            if len(n.inputs) == 1:
                # The common case, without building a set of sources.
                src = n.inputs[0]
                if src == INPUT:
                    pending[n.id] = 0
                else:
                    pending[n.id] = 1
                    readers.setdefault(src, set()).add(n.id)
                continue
            sources = set(n.inputs)
            sources.discard(INPUT)
            pending[n.id] = len(sources)
            for src in sources:
                readers.setdefault(src, set()).add(n.id)
        ready = [nid for nid, count in pending.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            nid = heapq.heappop(ready)
            order.append(nid)
            for reader in readers.get(nid, ()):
                pending[reader] -= 1
                if pending[reader] == 0:
                    heapq.heappush(ready, reader)
        if len(order) < len(self.nodes):
            stuck = sorted(set(pending) - set(order))
            for nid in stuck:
                for src in self.node(nid).inputs:
                    if src != INPUT and src not in self:
                        raise InvalidGenomeError(f"edge {src} -> {nid} is dangling: node {src} does not exist")
            raise InvalidGenomeError(f"cycle through nodes {self._find_cycle(stuck)}; the graph must be acyclic")
        return tuple(order)

    def _find_cycle(self, candidates: list[int]) -> str:
        # Walk backwards along inputs inside the stuck set until a node repeats.
        stuck = set(candidates)
        path: list[int] = []
        current = candidates[0]
        while current not in path:
            path.append(current)
            current = next(s for s in self.node(current).inputs if s in stuck)
        cycle = path[path.index(current):][::-1]
        return " -> ".join(str(nid) for nid in cycle + [cycle[0]])

    def live_ids(self) -> set[int]:
        """Ids of the nodes that have a path to the output."""
        return set(self._memoized("live", self._live_ids))

    def _live_ids(self) -> frozenset[int]:
        return frozenset(self.live_ids_with_inputs(None, ()))

    def live_ids_with_inputs(self, node_id: int | None, inputs: tuple[int, ...]) -> set[int]:
        """Return the live ids the genome would have if node ``node_id`` read ``inputs`` instead.

        With ``node_id`` None, these are the live ids themselves, computed afresh.
        """
        index = self._index
        live: set[int] = set()
        stack = [self.output]
        while stack:
            nid = stack.pop()
            if nid == INPUT or nid in live or nid not in index:
                continue
            live.add(nid)
            stack.extend(inputs if nid == node_id else index[nid].inputs)
        return live

    def pruned(self) -> Genome:
        """Return a copy without dead nodes (nodes with no path to the output), or self if none is dead."""
        live = self._memoized("live", self._live_ids)
        if len(live) == len(self.nodes):
            # Not kept in the memo, where self would make a reference cycle.
            return self
        return self._memoized("pruned", lambda: Genome(tuple(n for n in self.nodes if n.id in live),
                                                       self.output, self.head))

    # -- building variants ----------------------------------------------------------------------

    def replace_nodes(self, nodes: Iterable[Node], output: int | None = None,
                      head: str | None = None) -> Genome:
        return Genome(tuple(nodes), self.output if output is None else output,
                      self.head if head is None else head)

    def with_node(self, node: Node) -> Genome:
        """Return a copy where the node with ``node.id`` is replaced, or added when the id is new."""
        old = self._index.get(node.id)
        if old is None:
            return self.replace_nodes((*self.nodes, node))
        child = self.replace_nodes(node if n.id == node.id else n for n in self.nodes)
        if "valid" in self._memo and type(node.id) is type(old.id) and node.inputs == old.inputs \
                and all(type(new) is type(same) for new, same in zip(node.inputs, old.inputs)):
            # The ids are unique (self is valid) and the edges are the same, so the topological
            # order and the live ids are the same too. validate() then checks only the new node.
            for key in ("order", "live"):
                if key in self._memo:
                    child._memo[key] = self._memo[key]
            child._memo["valid_but"] = node
        return child

    def relabeled(self, mapping: Mapping[int, int]) -> Genome:
        """Return a copy whose node ids are renamed by ``mapping`` (ids missing from it are kept)."""
        def rename(nid: int) -> int:
            return nid if nid == INPUT else mapping.get(nid, nid)

        nodes = tuple(n.replace(id=rename(n.id), inputs=tuple(rename(s) for s in n.inputs))
                      for n in self.nodes)
        return Genome(nodes, rename(self.output), self.head)

    # -- identity and serialisation -------------------------------------------------------------

    def canonical_hash(self) -> str:
        known = self._memo.get("canonical_hash")
        if known is not None:
            return known
        from genomes.canonical import canonical_hash

        return canonical_hash(self)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "nodes": [n.to_dict() for n in self.nodes],
                "output": self.output, "head": self.head}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genome:
        if not isinstance(data, Mapping):
            raise InvalidGenomeError(f"a genome must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"format", "nodes", "output", "head"}
        if unknown:
            raise InvalidGenomeError(f"unknown genome field(s) {sorted(unknown)}")
        if data.get("format", FORMAT_VERSION) != FORMAT_VERSION:
            raise InvalidGenomeError(
                f"genome format {data['format']!r} is not supported; this version reads format {FORMAT_VERSION}"
            )
        if "nodes" not in data or "output" not in data:
            raise InvalidGenomeError("a genome needs the fields 'nodes' and 'output'")
        if not isinstance(data["nodes"], (list, tuple)):
            raise InvalidGenomeError(f"genome field 'nodes' must be a list, got {type(data['nodes']).__name__}")
        nodes = tuple(Node.from_dict(n) for n in data["nodes"])
        return cls(nodes, data["output"], data.get("head", "flatten"))

    @classmethod
    def from_json(cls, text: str) -> Genome:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidGenomeError(f"genome JSON is malformed: {error}") from None
        return cls.from_dict(data)

    def __len__(self) -> int:
        return len(self.nodes)
