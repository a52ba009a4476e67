"""Read-side queries for analysis: lineage steps, family trees and fronts of every generation.

Each function takes an open Store (read-only is enough) and returns a pandas DataFrame.
The walks over the lineage are recursive SQL run inside SQLite, so a family tree costs
one query however many individuals the file holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd
from sqlite_utils.db import quote_identifier

from .store import Store


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
