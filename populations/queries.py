"""Read-side queries for analysis: lineage steps, family trees and fronts of every generation.

Each function takes an open Store (read-only is enough) and returns a pandas DataFrame.
The walks over the lineage are recursive SQL run inside SQLite, so a family tree costs
one query however many individuals the file holds. For the whole ancestry of a late
individual in a large file, ``lineage_index(store)`` keeps the lineage in memory as sparse
arrays and returns the distinct ancestors (or descendants) with their depth in milliseconds.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order
from sqlite_utils.db import quote_identifier

from .store import Store

log = logging.getLogger(__name__)

# Depth limits up to this use a level-by-level walk in NumPy, whose cost grows with the
# depth. Deeper or unlimited walks use SciPy's breadth-first search in C, whose cost grows
# with the number of individuals in the file. The crossover point is an estimate from
# benchmarks/engine_lineage.py on 1,000,000 individuals.
LEVEL_WALK_MAX_DEPTH = 64


def _objective_columns(store: Store, alias: str, prefix: str) -> str:
    return "".join(
        f", {alias}.{quote_identifier(name)} AS {quote_identifier(prefix + name)}"
        for name in store.objective_names()
    )


def _as_float(store: Store, frame: pd.DataFrame, prefixes: Iterable[str]) -> pd.DataFrame:
    # A column that is NULL in every row comes back as object dtype; objectives are floats.
    for prefix in prefixes:
        for name in store.objective_names():
            column = prefix + name
            if column in frame.columns:
                frame[column] = frame[column].astype(float)
    return frame


def lineage_steps(store: Store, campaign_id: int) -> pd.DataFrame:
    """Return one row per parent-child link of a campaign, with both ends' latest objectives.

    Columns: child_id, parent_id, operator, generation (the child's), in_front (1 when the
    child was in the stored front of any committed generation, else 0), then
    ``parent_<objective>`` and ``child_<objective>`` for every objective column. Values
    come from the `latest_evaluation` view, so they are NaN for an individual without
    an `ok` or `cached` evaluation.
    """
    parent_columns = _objective_columns(store, "pe", "parent_")
    child_columns = _objective_columns(store, "ce", "child_")
    frame = store._frame(
        f"""WITH front_members AS (
                SELECT DISTINCT f.value AS individual_id
                FROM generations AS g JOIN json_each(g.front) AS f
                WHERE g.campaign_id = :campaign
            )
            SELECT l.child_id, l.parent_id, l.operator, c.generation,
                   (l.child_id IN (SELECT individual_id FROM front_members)) AS in_front
                   {parent_columns}{child_columns}
            FROM lineage AS l
            JOIN individuals AS c ON c.id = l.child_id
            LEFT JOIN latest_evaluation AS pe ON pe.individual_id = l.parent_id
            LEFT JOIN latest_evaluation AS ce ON ce.individual_id = l.child_id
            WHERE c.campaign_id = :campaign
            ORDER BY l.child_id, l.parent_id""",
        {"campaign": campaign_id},
    )
    return _as_float(store, frame, ("parent_", "child_"))


def family(
    store: Store, individual_ids: Iterable[int], depth: int | None = None, *, descendants: bool = False
) -> pd.DataFrame:
    """Return the lineage links above (or below) a set of individuals, each link once.

    The walk starts from every id at once, so the family tree of a whole front is one
    query. Columns: depth (the fewest steps from any start), child_id, parent_id and
    operator. `depth` limits the steps (None: no limit).
    """
    start, step = ("parent_id", "child_id") if descendants else ("child_id", "parent_id")
    ids = [int(individual_id) for individual_id in individual_ids]
    placeholders = ", ".join("?" for _ in ids) or "NULL"
    return store._frame(
        f"""WITH RECURSIVE walk(child_id, parent_id, operator, depth) AS (
                SELECT child_id, parent_id, operator, 1 FROM lineage WHERE {start} IN ({placeholders})
                UNION
                SELECT l.child_id, l.parent_id, l.operator, w.depth + 1
                FROM lineage AS l JOIN walk AS w ON l.{start} = w.{step}
                WHERE ? IS NULL OR w.depth < ?
            )
            SELECT MIN(depth) AS depth, child_id, parent_id, operator
            FROM walk GROUP BY child_id, parent_id
            ORDER BY depth, child_id, parent_id""",
        [*ids, depth, depth],
    )


def individual_values(store: Store, individual_ids: Iterable[int]) -> pd.DataFrame:
    """Return generation, origin and latest objectives of the given individuals, by id.

    Individuals without a scored evaluation keep NaN objectives. Unknown ids are left out.
    """
    ids = sorted({int(individual_id) for individual_id in individual_ids})
    columns = _objective_columns(store, "l", "")
    frame = store._frame(
        f"""SELECT i.id AS individual_id, i.generation, i.origin, i.genome_hash, l.status {columns}
            FROM json_each(?) AS wanted
            JOIN individuals AS i ON i.id = wanted.value
            LEFT JOIN latest_evaluation AS l ON l.individual_id = i.id
            ORDER BY i.id""",
        [json.dumps(ids)],
    )
    return _as_float(store, frame, ("",))


def fronts(store: Store, campaign_id: int) -> pd.DataFrame:
    """Return the stored front of every committed generation, one row per (generation, member).

    Columns: generation, individual_id, then the member's latest objectives.
    """
    columns = _objective_columns(store, "l", "")
    frame = store._frame(
        f"""SELECT g.number AS generation, f.value AS individual_id {columns}
            FROM generations AS g
            JOIN json_each(g.front) AS f
            LEFT JOIN latest_evaluation AS l ON l.individual_id = f.value
            WHERE g.campaign_id = ?
            ORDER BY g.number, f.key""",
        [campaign_id],
    )
    return _as_float(store, frame, ("",))


def scored_genomes(store: Store, campaign_id: int) -> pd.DataFrame:
    """Return every individual with a scored latest evaluation: id, genome_hash, genome JSON text, objectives.

    The genome stays JSON text so callers can parse each distinct genome once.
    """
    columns = _objective_columns(store, "l", "")
    frame = store._frame(
        f"""SELECT i.id AS individual_id, i.generation, i.genome_hash, i.genome {columns}
            FROM latest_evaluation AS l
            JOIN individuals AS i ON i.id = l.individual_id
            WHERE l.campaign_id = ? AND l.status IN ('ok', 'cached')
            ORDER BY i.id""",
        [campaign_id],
    )
    return _as_float(store, frame, ("",))


class LineageIndex:
    """The lineage of a Store as two CSR adjacency arrays (child to parents, parent to children).

    Built from the lineage table in one read (``build_seconds`` records how long), then
    queried in memory. Each query first compares the table's last rowid and the largest
    individual id with those at build time, and rebuilds when either grew, so an index kept
    open beside a running campaign also returns its new generations. Not safe to share between
    threads, because queries reuse one scratch array.
    """

    def __init__(self, store: Store) -> None:
        # A weak reference, so that the cache in lineage_index() lets a closed Store go.
        self._store = weakref.ref(store)
        self.path = store.path
        self.build_seconds = 0.0
        self._version: tuple[int, int] | None = None
        self._build()

    @property
    def store(self) -> Store:
        """The Store this index reads."""
        store = self._store()
        if store is None:
            raise LookupError(f"the Store of {self.path} was garbage-collected; build a new index from an open Store")
        return store

    def _read_version(self) -> tuple[int, int]:
        connection = self.store.db.conn
        last_link = connection.execute("SELECT coalesce(max(rowid), 0) FROM lineage").fetchone()[0]
        last_id = connection.execute("SELECT coalesce(max(id), 0) FROM individuals").fetchone()[0]
        return int(last_link), int(last_id)

    def _build(self) -> None:
        started = time.perf_counter()
        version = self._read_version()
        rows = self.store.db.conn.execute("SELECT child_id, parent_id FROM lineage").fetchall()
        links = np.array(rows, dtype=np.int64).reshape(-1, 2)
        size = max(version[1], int(links.max(initial=0))) + 1
        children, parents = links[:, 0], links[:, 1]
        weights = np.ones(len(links), dtype=np.float64)
        # Row i of `_up` lists the parents of individual i, and row i of `_down` its children.
        # The walks only follow the stored column indices, so the summed weights are unused.
        self._up = _compact(csr_array((weights, (children, parents)), shape=(size, size)))
        self._down = _compact(csr_array((weights, (parents, children)), shape=(size, size)))
        self._scratch = np.zeros(size, dtype=np.int32)  # SciPy's BFS uses int32 node ids too
        self._version = version
        self.build_seconds = time.perf_counter() - started
        log.info("built the lineage index of %s: %d links, %d ids, in %.2f s",
                 self.path, len(links), size - 1, self.build_seconds)

    @property
    def size(self) -> int:
        """Largest individual id covered by the index, plus one."""
        return self._up.shape[0]

    def refresh(self) -> bool:
        """Rebuild the index when the lineage or the individuals grew; return True if it did."""
        if self._read_version() == self._version:
            return False
        self._build()
        return True

    def ancestors(self, individual_id: int, depth: int | None = None) -> pd.DataFrame:
        """Return the distinct ancestors of an individual, each once, with its smallest depth.

        Columns: individual_id, depth (1 for the individual's own parents). Rows are ordered
        by depth; within one depth the order is unspecified. `depth` limits the steps (None:
        no limit). An individual with no lineage, or an unknown id, gives an empty frame.
        """
        return self._walk(individual_id, depth, upward=True)

    def descendants(self, individual_id: int, depth: int | None = None) -> pd.DataFrame:
        """Return the distinct descendants of an individual, each once, with its smallest depth.

        Same columns and order as `ancestors`, with depth 1 for the individual's own children.
        """
        return self._walk(individual_id, depth, upward=False)

    def _walk(self, individual_id: int, depth: int | None, *, upward: bool) -> pd.DataFrame:
        if isinstance(individual_id, bool) or not isinstance(individual_id, (int, np.integer)) or individual_id < 0:
            raise ValueError(f"individual id {individual_id!r} is invalid; use an integer >= 0")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1):
            raise ValueError(f"depth {depth!r} is invalid; use an integer >= 1, or None for no limit")
        self.refresh()
        graph = self._up if upward else self._down
        if individual_id >= self.size:
            ids, depths = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        elif depth is not None and depth <= LEVEL_WALK_MAX_DEPTH:
            ids, depths = self._level_walk(graph, int(individual_id), int(depth))
        else:
            ids, depths = self._search_walk(graph, int(individual_id))
            if depth is not None:
                keep = depths <= depth
                ids, depths = ids[keep], depths[keep]
        return pd.DataFrame({"individual_id": ids, "depth": depths})

    def _level_walk(self, graph: csr_array, start: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
        # One step per level: gather the neighbours of the whole frontier, drop those seen.
        seen = np.zeros(self.size, dtype=bool)
        seen[start] = True
        found_ids, found_depths = [], []
        frontier = np.array([start], dtype=np.int64)
        for level in range(1, depth + 1):
            starts, ends = graph.indptr[frontier], graph.indptr[frontier + 1]
            counts = ends - starts
            total = int(counts.sum())
            if total == 0:
                break
            offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
            neighbours = np.unique(graph.indices[offsets])
            fresh = neighbours[~seen[neighbours]].astype(np.int64)
            if fresh.size == 0:
                break
            seen[fresh] = True
            found_ids.append(fresh)
            found_depths.append(np.full(fresh.size, level, dtype=np.int64))
            frontier = fresh
        if not found_ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(found_ids), np.concatenate(found_depths)

    def _search_walk(self, graph: csr_array, start: int) -> tuple[np.ndarray, np.ndarray]:
        order, predecessors = breadth_first_order(graph, start, directed=True, return_predecessors=True)
        if order.size <= 1:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        # Breadth-first search appends a node when its predecessor leaves the queue, so the
        # predecessors' positions in `order` never decrease. Each level is therefore the run of
        # nodes whose predecessor lies in the previous level.
        count = order.size
        positions = self._scratch
        positions[order] = np.arange(count, dtype=positions.dtype)
        predecessor_positions = positions[predecessors[order[1:]]]
        # The next level ends after the last node whose predecessor lies before the current
        # level's end. The scalar has the array's dtype, or searchsorted would copy the array.
        as_position = predecessor_positions.dtype.type
        boundaries = [1]
        while boundaries[-1] < count:
            boundaries.append(1 + int(predecessor_positions.searchsorted(as_position(boundaries[-1]))))
        depths = np.repeat(np.arange(1, len(boundaries), dtype=np.int64), np.diff(boundaries))
        return order[1:].astype(np.int64), depths


def _compact(graph: csr_array) -> csr_array:
    """Return `graph` with sorted, merged entries and 32-bit indices where the ids fit.

    SciPy's breadth-first search reads 32-bit indices in about two thirds of the time it
    needs for 64-bit ones on a graph of a million individuals.
    """
    graph.sum_duplicates()
    graph.sort_indices()
    if graph.shape[0] >= np.iinfo(np.int32).max or graph.nnz >= np.iinfo(np.int32).max:
        return graph
    return csr_array((graph.data, graph.indices.astype(np.int32), graph.indptr.astype(np.int32)),
                     shape=graph.shape)


_indexes: weakref.WeakKeyDictionary[Store, LineageIndex] = weakref.WeakKeyDictionary()


def lineage_index(store: Store) -> LineageIndex:
    """Return the lineage index of an open Store, building it on the first call.

    Later calls with the same Store object return the same index, so the build is paid once.
    """
    index = _indexes.get(store)
    if index is None:
        index = LineageIndex(store)
        _indexes[store] = index
    return index
