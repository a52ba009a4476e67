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
                -- Rows carry their depth, so a cycle written by hand would repeat forever. No
                -- path without a cycle has more steps than the table has links.
                WHERE w.depth < coalesce(?, (SELECT COUNT(*) FROM lineage))
            )
            SELECT MIN(depth) AS depth, child_id, parent_id, operator
            FROM walk GROUP BY child_id, parent_id
            ORDER BY depth, child_id, parent_id""",
        [*ids, depth],
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
    threads, because each full walk writes its start into the graph (see `_with_level_markers`).
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
        # Row i of `up` lists the parents of individual i, and row i of `down` its children.
        # The walks only follow the stored column indices, so the summed weights are unused.
        up = _compact(csr_array((weights, (children, parents)), shape=(size, size)))
        down = _compact(csr_array((weights, (parents, children)), shape=(size, size)))
        longest_path = _longest_path_length(up, down)
        if longest_path is None:
            # No walk from one start visits an individual twice, so it has at most size - 1 levels.
            log.warning("the lineage of %s contains a cycle; full ancestry queries will be slower", self.path)
            longest_path = size - 1
        self._size = size
        self._up = _with_level_markers(up, longest_path)
        self._down = _with_level_markers(down, longest_path)
        self._version = version
        self.build_seconds = time.perf_counter() - started
        log.info("built the lineage index of %s: %d links, %d ids, longest path %d links, in %.2f s",
                 self.path, len(links), size - 1, longest_path, self.build_seconds)

    @property
    def size(self) -> int:
        """Largest individual id covered by the index, plus one."""
        return self._size

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
                # Depths never decrease along the rows, so the rows within the limit come first.
                # The copies let the full result go instead of living on under two views.
                end = int(np.searchsorted(depths, depth, side="right"))
                ids, depths = ids[:end].copy(), depths[:end].copy()
        # The arrays are new for each query, so the frame may own them without a copy.
        return pd.DataFrame({"individual_id": ids, "depth": depths}, copy=False)

    def _level_walk(self, graph: csr_array, start: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
        # One step per level: gather the neighbours of the whole frontier, drop those seen.
        # The walk starts at an individual and individuals link only to individuals, so the
        # level markers after them in `graph` are never reached.
        seen = np.zeros(self.size, dtype=bool)
        seen[start] = True
        found_ids, found_depths = [], []
        frontier = np.array([start], dtype=np.int64)
        for level in range(1, depth + 1):
            neighbours = _row_entries(graph, frontier)
            if neighbours.size == 0:
                break
            neighbours = _sorted_unique(neighbours)
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
        # The search starts at the first level marker, whose row lists `start` and then the
        # second marker (see _with_level_markers). The result begins: marker 0, start,
        # marker 1, the individuals at depth 1, marker 2, the individuals at depth 2, ...
        first_marker = self.size
        graph.indices[graph.indptr[first_marker]] = start
        order = breadth_first_order(graph, first_marker, directed=True, return_predecessors=False)
        is_marker = order >= first_marker
        marker_positions = np.flatnonzero(is_marker)
        if marker_positions[-1] != order.size - 1:
            raise RuntimeError(f"the walk from individual {start} went deeper than the "
                               f"{graph.shape[0] - first_marker - 2} levels the index marks; rebuild the index")
        # Position 1 is the start itself, and the frame returns 64-bit ids.
        ids = order[~is_marker][1:].astype(np.int64)
        counts = np.diff(marker_positions[1:]) - 1
        depths = np.repeat(np.arange(1, counts.size + 1, dtype=np.int64), counts)
        return ids, depths


def _row_entries(graph: csr_array, rows: np.ndarray) -> np.ndarray:
    """Return the column indices stored in the given rows of `graph`, row after row."""
    starts, ends = graph.indptr[rows], graph.indptr[rows + 1]
    counts = ends - starts
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
    return graph.indices[offsets]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Return the distinct values, sorted, as np.unique does, but by sorting.

    NumPy 2.4's np.unique hashes the values: 110 us for 1,900 random int32 ids, where np.sort
    took 4 us (2-core Xeon VM). The walks call this once per level.
    """
    values = np.sort(values)
    first = np.empty(values.size, dtype=bool)
    first[:1] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return values[first]


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


def _longest_path_length(up: csr_array, down: csr_array) -> int | None:
    """Return the number of links on the longest path of the lineage, or None if it has a cycle.

    Kahn's topological sort, one layer per round: a round places every individual whose
    parents are all placed. The number of rounds after the first is the longest path.
    """
    waiting = np.diff(up.indptr).astype(np.int64)  # parents of each individual not yet placed
    frontier = np.flatnonzero(waiting == 0)
    placed = frontier.size
    length = 0
    while True:
        children = _row_entries(down, frontier)
        if children.size == 0:
            break
        np.subtract.at(waiting, children, 1)
        # A child with two parents in the frontier is listed twice.
        frontier = _sorted_unique(children[waiting[children] == 0])
        if frontier.size == 0:
            break
        placed += frontier.size
        length += 1
    return length if placed == waiting.size else None


def _with_level_markers(graph: csr_array, levels: int) -> csr_array:
    """Return `graph` with `levels + 2` marker nodes appended, for breadth-first searches.

    Marker k has id ``size + k``. Marker 0 links to a start (written into its row before each
    search) and to marker 1, and each further marker but the last links to the next one. A
    breadth-first search from marker 0 queues the start and marker 1. From then on it takes
    marker k off the queue after the last individual at depth k - 1 and before the first at
    depth k, so it queues marker k + 1 right behind the individuals at depth k. In the search
    order, marker k thus comes just before depth k, and marker k + 1 just after it. A walk of
    up to `levels` steps, which the longest path bounds, ends before the last marker.
    """
    size = graph.shape[0]
    # Marker 0 lists a placeholder start (0, rewritten per search) and marker 1. Markers 1
    # to `levels` each list the next marker, and the last marker lists nothing.
    marker_entries = np.concatenate(([0], np.arange(size + 1, size + levels + 2)))
    marker_counts = np.concatenate(([2], np.ones(levels, dtype=np.int64), [0]))
    indptr = np.concatenate((graph.indptr, graph.indptr[-1] + np.cumsum(marker_counts)))
    indices = np.concatenate((graph.indices, marker_entries))
    total = size + levels + 2
    fits = total < np.iinfo(np.int32).max and indices.size < np.iinfo(np.int32).max
    dtype = np.int32 if fits else np.int64
    data = np.ones(indices.size, dtype=np.float64)
    return csr_array((data, indices.astype(dtype), indptr.astype(dtype)), shape=(total, total))


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
