"""The Store class: the one entry point to a population database file."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import sqlite_utils
from sqlite_utils.db import quote_identifier

from . import records
from .errors import DatabaseLockedError, RecordNotFoundError, StoreError
from .opening import open_reader, open_writer
from .records import Objective
from .schema import (
    EVALUATION_COLUMNS,
    EVALUATION_STATUSES,
    SCHEMA_VERSION,
    RESERVED_NAMES,
    SCORED_STATUSES,
    VIEW_NAMES,
    view_sql,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0


def _decode_json_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].map(lambda text: None if text is None else json.loads(text))
    return frame


def _staged_text(record: Mapping[str, Any]) -> str:
    """Encode a staged record, splicing in metrics that records.encode_metrics encoded already.

    The keys keep the record's order. NumPy scalars are written as numbers, as in committed
    rows. A record with NaN or infinity is written in Python's JSON dialect, which keeps them.
    """
    metrics = record.get("metrics")
    encoded = isinstance(metrics, records.EncodedJSON)
    # Fragment takes only an exact str or bytes, not the EncodedJSON subclass.
    text = records.fast_json({**record, "metrics": orjson.Fragment(str(metrics))} if encoded else record)
    if text is not None:
        return text

    def encode(value: Any) -> str:
        return json.dumps(value, default=records.plain_json_value)

    if not encoded:
        return encode(record)
    if not all(isinstance(key, str) for key in record):
        return encode({**record, "metrics": json.loads(metrics)})
    parts = (f"{encode(key)}: {value if key == 'metrics' else encode(value)}" for key, value in record.items())
    return "{" + ", ".join(parts) + "}"


class Store:
    """A population database: campaigns, individuals, lineage, evaluations and generations.

    One process (the engine) writes, and any number of processes read at the same
    time because the file uses SQLite's WAL journal mode. Open with ``readonly=True``
    to read (the connection uses ``mode=ro``, so it cannot change the file), or
    without it to write, which creates the file and its folder when missing.

    NOTE: nothing stops a second writer process. Two engines on one file would take
    the same ids from next_individual_id(), and the later commit would fail.

    Every connection waits up to ``timeout`` seconds for a lock held by another
    process before raising ``sqlite3.OperationalError: database is locked``.

    Raises StoreNotFoundError (read-only, missing file), ForeignDatabaseError (a SQLite
    file of another program), DamagedStoreError (not SQLite, or malformed) and
    SchemaVersionError. In each of those cases the file is left byte-for-byte unchanged.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = DEFAULT_TIMEOUT):
        self.path = Path(path)
        self.readonly = readonly
        self.timeout = timeout
        if readonly:
            self._db = open_reader(self.path, timeout)
        else:
            self._db, _ = open_writer(self.path, timeout)
            try:
                self._sync_views()
            except BaseException:
                self._db.close()
                raise

    # --- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Close the connection. The Store cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "read-write"
        return f"<Store {str(self.path)!r} {mode}>"

    @property
    def db(self) -> sqlite_utils.Database:
        """The sqlite-utils Database of this store, for ad-hoc queries.

        Writes through it bypass the checks of the Store methods, so use those instead.
        """
        return self._db

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Store]:
        """Run the reads inside the block on one consistent snapshot of the file.

        Without it, each query reads the file as of its own start, so two queries may
        straddle a generation that the writer commits in between.
        """
        with self._transaction():
            yield self

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Run the block in one transaction, and name a lock held too long by another connection."""
        try:
            with self._db.atomic():
                yield
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            raise DatabaseLockedError(
                f"{self.path} stayed locked by another connection for longer than {self.timeout:g} s "
                f"({error}). Close the program that holds a write transaction on it (a sqlite3 shell, "
                f"a script, a second engine), then continue with: evo resume {shlex.quote(str(self.path))}"
            ) from error

    def _require_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only. Open the Store without readonly=True to write.")

    # --- objectives ---------------------------------------------------------------

    def objective_names(self) -> list[str]:
        """Return the objective columns of `evaluations`, in table order."""
        return [name for name in self._db["evaluations"].columns_dict if name not in EVALUATION_COLUMNS]

    def objectives(self) -> dict[str, Objective]:
        """Return every objective column with its declared direction and unit, in table order."""
        declared = {row["name"]: row for row in self._db.query("SELECT name, direction, unit FROM objectives")}
        result = {}
        for name in self.objective_names():
            row = declared.get(name, {})
            result[name] = Objective(name, row.get("direction"), row.get("unit"))
        return result

    def declare_objective(self, name: str, direction: str, unit: str | None = None) -> None:
        """Record the direction (and unit) of an objective, adding its column if missing.

        Declaring the same direction and unit again does nothing. A direction or unit
        that contradicts an earlier declaration raises StoreError, because campaigns
        in one file share the objective columns. An undeclared unit may be set later.
        """
        self._require_writable()
        records.validate_objective_name(name)
        records.validate_direction(direction)
        with self._transaction():
            self._ensure_objective_columns([name])
            # The column may predate the objectives row if someone added it by hand.
            self._db.execute("INSERT OR IGNORE INTO objectives (name) VALUES (?)", [name])
            current = self._db["objectives"].get(name)
            for field, value in (("direction", direction), ("unit", unit)):
                if value is not None and current[field] is not None and current[field] != value:
                    raise StoreError(
                        f"objective {name!r} is already declared with {field} {current[field]!r} "
                        f"in {self.path}, not {value!r}. Use another objective name."
                    )
            self._db["objectives"].update(
                name, {"direction": direction, "unit": unit if unit is not None else current["unit"]}
            )

    def _ensure_objective_columns(self, names: Sequence[str]) -> None:
        """Add a REAL column (and an undeclared `objectives` row) for each new objective name.

        ALTER TABLE ADD COLUMN leaves every existing row as it was, with NULL in the new
        column. Call inside a transaction, so the columns vanish if the caller rolls back.
        """
        existing = set(self.objective_names())
        missing = [name for name in names if name not in existing]
        if not missing:
            return
        for name in missing:
            records.validate_objective_name(name)
            self._db["evaluations"].add_column(name, float)
            self._db.execute(
                "INSERT OR IGNORE INTO objectives (name, direction, unit) VALUES (?, NULL, NULL)", [name]
            )
            logger.info("added objective column %s to %s", name, self.path)
        self._sync_views()

    def _sync_views(self) -> None:
        """Recreate each view whose stored SQL differs from the SQL for the current objectives."""
        objectives = self.objective_names()
        stored = {
            row["name"]: row["sql"]
            for row in self._db.query("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
        }
        expected = {name: view_sql(name, objectives) for name in VIEW_NAMES}
        if all(stored.get(name) == sql for name, sql in expected.items()):
            return
        with self._transaction():
            # current_front reads latest_evaluation, so drop in reverse order of creation.
            for name in reversed(VIEW_NAMES):
                self._db.execute(f"DROP VIEW IF EXISTS {quote_identifier(name)}")
            for name in VIEW_NAMES:
                self._db.execute(expected[name])

    # --- campaigns ----------------------------------------------------------------

    def create_campaign(self, name: str, config: Mapping[str, Any], seed: int) -> int:
        """Insert a campaign with status `running` and return its id.

        Raises StoreError if the file already has a campaign with this name.
        """
        self._require_writable()
        if not isinstance(name, str) or not name:
            raise StoreError(f"campaign name must be a non-empty string, got {name!r}")
        row = {
            "name": name,
            "config": records.encode_json(records.require_mapping(config, "campaign config"), "campaign config"),
            "seed": records.require_int(seed, "campaign seed"),
            "created_at": records.utc_now(),
            "status": "running",
            "schema_version": SCHEMA_VERSION,
        }
        try:
            with self._transaction():
                table = self._db["campaigns"].insert(row)
        except sqlite3.IntegrityError as error:
            raise StoreError(
                f"a campaign named {name!r} already exists in {self.path}. "
                "Continue it, or choose another name."
            ) from error
        logger.info("created campaign %s (id %d) in %s", name, table.last_pk, self.path)
        return int(table.last_pk)

    def campaign(self, name_or_id: str | int) -> dict | None:
        """Return the campaign with this name (str) or id (int), config decoded, or None."""
        column = "name" if isinstance(name_or_id, str) else "id"
        rows = list(self._db.query(f"SELECT * FROM campaigns WHERE {column} = ?", [name_or_id]))
        if not rows:
            return None
        row = rows[0]
        row["config"] = json.loads(row["config"])
        return row

    def campaigns(self) -> list[dict]:
        """Return every campaign, oldest first, config decoded."""
        rows = list(self._db.query("SELECT * FROM campaigns ORDER BY id"))
        for row in rows:
            row["config"] = json.loads(row["config"])
        return rows

    def set_campaign_status(self, campaign_id: int, status: str) -> None:
        """Set a campaign's status to `running`, `finished` or `stopped`."""
        self._require_writable()
        records.validate_campaign_status(status)
        with self._transaction():
            self._require_campaign(campaign_id)
            self._db.execute("UPDATE campaigns SET status = ? WHERE id = ?", [status, campaign_id])

    def _require_campaign(self, campaign_id: int) -> None:
        found = self._db.execute("SELECT 1 FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
        if found is None:
            raise RecordNotFoundError(f"campaign id {campaign_id!r} not found in {self.path}")

    # --- writing a generation -----------------------------------------------------

    def next_individual_id(self) -> int:
        """Return the lowest id that no individual of the file has ever used.

        That is the highest id ever inserted plus 1 (1 for an empty file), even if the
        row with the highest id was deleted by hand since.
        """
        row = self._db.execute(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM individuals), 0),"
            " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'individuals'), 0))"
        ).fetchone()
        return int(row[0]) + 1

    def commit_generation(
        self,
        campaign_id: int,
        number: int,
        *,
        individuals: Sequence[Mapping[str, Any]],
        lineage: Sequence[Mapping[str, Any]],
        evaluations: Sequence[Mapping[str, Any]],
        members: Sequence[int],
        front: Sequence[int],
        hypervolume: float | None,
        state: Mapping[str, Any],
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Write one generation in a single transaction: all of it, or nothing.

        individuals: dicts with id (from next_individual_id), genome (dict or JSON
            text), genome_hash, generation and origin. Every id must be unused.
        lineage: dicts with child_id, parent_id and operator.
        evaluations: dicts with individual_id, status, objectives (name to float or
            None), and optionally metrics (dict), error, seconds and task_key. An
            objective without a column gets one.
        members, front: ids of the population and of its Pareto front after this
            generation. Every id must exist in the file once this generation is written.
        state: whatever the engine needs to resume from this generation, as JSON data.
        before_commit: called inside the transaction once every row is written, just
            before COMMIT. Fault-injection tests use it to kill the process there.

        The campaign's staged evaluations and generation_progress row of this generation
        and earlier ones are deleted in the same transaction, because this commit now
        contains their results.

        Raises StoreError (and writes nothing) if a record is invalid, an id is
        already used, a link or evaluation names an unknown individual, or the
        generation is already committed.
        """
        self._require_writable()
        number = records.require_int(number, "generation number")
        now = records.utc_now()
        individual_rows = [
            records.individual_row(record, campaign_id, now, index) for index, record in enumerate(individuals)
        ]
        link_rows = records.lineage_rows(lineage)
        evaluation_rows, objective_names = records.evaluation_rows(evaluations, now)
        member_ids = records.int_list(members, "members")
        front_ids = records.int_list(front, "front")
        generation_row = {
            "campaign_id": campaign_id,
            "number": number,
            "members": records.encode_json(member_ids, "members"),
            "front": records.encode_json(front_ids, "front"),
            "hypervolume": records.optional_number(hypervolume, "hypervolume"),
            "finished_at": now,
            "state": records.encode_json(records.require_mapping(state, "generation state"), "generation state"),
        }

        described = f"generation {number} of campaign {campaign_id} in {self.path}"
        try:
            with self._transaction():
                self._require_campaign(campaign_id)
                self._require_unused_ids([row["id"] for row in individual_rows])
                self._ensure_objective_columns(objective_names)
                self._insert_rows("individuals", individual_rows)
                self._insert_rows("lineage", link_rows)
                self._insert_rows("evaluations", evaluation_rows)
                self._require_known_ids(member_ids + front_ids)
                try:
                    self._db["generations"].insert(generation_row)
                except sqlite3.IntegrityError as error:
                    raise StoreError(
                        f"{described} is already committed, so nothing of this commit was written. "
                        "Resume from Store.last_generation() instead."
                    ) from error
                self._clear_staged(campaign_id, number)
                if before_commit is not None:
                    before_commit()
        except sqlite3.IntegrityError as error:
            raise StoreError(
                f"{described} was not written because SQLite rejected it ({error}). Check that "
                "every lineage parent and every evaluated individual exists, and that no id repeats."
            ) from error
        logger.debug(
            "committed %s: %d individuals, %d evaluations",
            described,
            len(individual_rows),
            len(evaluation_rows),
        )

    def _insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the keys of the first row, in one executemany() call.

        The rows from records.py hold only numbers, text and None, so they need none of the
        conversions of sqlite-utils' insert_all(), which takes about three times as long.
        """
        if not rows:
            return
        columns = list(rows[0])
        self._db.conn.executemany(
            f"INSERT INTO {quote_identifier(table)} ({', '.join(map(quote_identifier, columns))})"
            f" VALUES ({', '.join('?' * len(columns))})",
            [[row[column] for column in columns] for row in rows],
        )

    def _require_unused_ids(self, ids: Sequence[int]) -> None:
        if len(set(ids)) != len(ids):
            raise StoreError(f"individual ids repeat within one generation: {sorted(ids)}")
        lowest_free = self.next_individual_id()
        used = sorted(individual_id for individual_id in ids if individual_id < lowest_free)
        if used:
            raise StoreError(
                f"individual ids {used} are already used in {self.path}. "
                f"Take new ids from Store.next_individual_id() (now {lowest_free})."
            )

    def _require_known_ids(self, ids: Sequence[int]) -> None:
        unknown = [
            row[0]
            for row in self._db.execute(
                "SELECT DISTINCT value FROM json_each(?) WHERE value NOT IN (SELECT id FROM individuals)",
                [json.dumps(ids)],
            )
        ]
        if unknown:
            raise StoreError(f"members or front name individuals that do not exist: {sorted(unknown)}")

    # --- the generation in progress -----------------------------------------------
    #
    # Rows written here are the engine's scratch space between two commits: readers'
    # views and every read method above ignore them, so no reader sees half a generation.

    def stage_evaluation(
        self, campaign_id: int, generation: int, individual_id: int, genome_hash: str, record: Mapping[str, Any]
    ) -> None:
        """Store one finished evaluation of the uncommitted generation, committed at once.

        A resume after a kill reads it back with staged_evaluations() instead of running
        the evaluation again. Staging the same individual twice keeps the later record.
        """
        self.stage_evaluations(campaign_id, generation, [(individual_id, genome_hash, record)])

    def stage_evaluations(
        self, campaign_id: int, generation: int, staged: Sequence[tuple[int, str, Mapping[str, Any]]]
    ) -> None:
        """Store finished evaluations of the uncommitted generation in one transaction.

        staged: (individual_id, genome_hash, record) tuples. One transaction for several
        evaluations saves a commit per evaluation. Otherwise it works like stage_evaluation().
        A record's metrics may be the text of records.encode_metrics(), which is then
        stored as it is and read back as the dict.
        """
        self._require_writable()
        generation = records.require_int(generation, "generation number")
        now = records.utc_now()
        rows = [
            (
                campaign_id,
                generation,
                records.require_int(individual_id, "individual_id"),
                str(genome_hash),
                # Python's JSON dialect keeps NaN and infinity, so the engine reads back exactly
                # the record it staged. Only the engine reads this column.
                _staged_text(records.require_mapping(record, "staged evaluation")),
                now,
            )
            for individual_id, genome_hash, record in staged
        ]
        if not rows:
            return
        with self._transaction():
            self._db.conn.executemany(
                "INSERT OR REPLACE INTO staged_evaluations"
                " (campaign_id, generation, individual_id, genome_hash, record, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def staged_evaluations(self, campaign_id: int, generation: int | None = None) -> dict[tuple[int, str], dict]:
        """Return the staged records of an uncommitted generation (None: of every generation),
        by (individual id, genome hash)."""
        if "staged_evaluations" not in self._db.table_names():
            return {}
        rows = self._db.execute(
            "SELECT individual_id, genome_hash, record FROM staged_evaluations"
            " WHERE campaign_id = ? AND (? IS NULL OR generation = ?)",
            [campaign_id, generation, generation],
        ).fetchall()
        return {(int(ind_id), digest): json.loads(record) for ind_id, digest, record in rows}

    def _clear_staged(self, campaign_id: int, number: int) -> None:
        # Rows of later generations belong to children still in flight (asynchronous algorithms).
        self._db.execute("DELETE FROM staged_evaluations WHERE campaign_id = ? AND generation <= ?",
                         [campaign_id, number])
        self._db.execute("DELETE FROM generation_progress WHERE campaign_id = ? AND number <= ?",
                         [campaign_id, number])

    def start_generation(self, campaign_id: int, number: int, *, planned: int, workers: int) -> None:
        """Record that generation `number` is being evaluated: `planned` evaluations on `workers`."""
        self._require_writable()
        row = {
            "campaign_id": campaign_id,
            "number": records.require_int(number, "generation number"),
            "planned": records.require_int(planned, "planned evaluations"),
            "workers": records.require_int(workers, "workers"),
            "started_at": records.utc_now(),
        }
        with self._transaction():
            self._db["generation_progress"].insert(row, replace=True)

    def progress(self, campaign_id: int) -> dict | None:
        """Return the generation in progress, or None between generations.

        Keys: number, planned, workers, started_at, and done and failed (evaluations
        staged so far, and those of them whose status is not `ok`). A file of schema
        version 1, read without upgrading, has no such record and returns None.
        """
        if "generation_progress" not in self._db.table_names():
            return None
        with self.snapshot():
            rows = list(self._db.query("SELECT * FROM generation_progress WHERE campaign_id = ?", [campaign_id]))
            if not rows:
                return None
            progress = rows[0]
            staged = [
                json.loads(record)
                for (record,) in self._db.execute(
                    "SELECT record FROM staged_evaluations WHERE campaign_id = ? AND generation = ?",
                    [campaign_id, progress["number"]],
                )
            ]
        progress["done"] = len(staged)
        progress["failed"] = sum(1 for record in staged if record.get("status") not in SCORED_STATUSES)
        return progress

    # --- reading generations ------------------------------------------------------

    def last_generation(self, campaign_id: int) -> dict | None:
        """Return the last committed generation (members, front, state decoded), or None."""
        rows = list(
            self._db.query(
                "SELECT * FROM generations WHERE campaign_id = ? ORDER BY number DESC LIMIT 1",
                [campaign_id],
            )
        )
        if not rows:
            return None
        row = rows[0]
        for column in ("members", "front", "state"):
            row[column] = json.loads(row[column])
        return row

    def generations(self, campaign_id: int) -> pd.DataFrame:
        """Return the committed generations of a campaign, in order, JSON columns decoded."""
        frame = self._frame("SELECT * FROM generations WHERE campaign_id = ? ORDER BY number", [campaign_id])
        return _decode_json_columns(frame, ("members", "front", "state"))

    # --- reading individuals, lineage and evaluations -----------------------------

    def _frame(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> pd.DataFrame:
        if not isinstance(params, Mapping):
            params = list(params)
        return pd.read_sql_query(sql, self._db.conn, params=params)

    def _objective_frame(self, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        # A column that is NULL in every row comes back as object dtype with None;
        # objectives are always float, with NaN for "not measured".
        frame = self._frame(sql, params)
        for name in self.objective_names():
            if name in frame.columns:
                frame[name] = frame[name].astype(float)
        return frame

    @staticmethod
    def _campaign_filter(campaign_id: int | None, column: str) -> tuple[str, list[Any]]:
        if campaign_id is None:
            return "", []
        return f"WHERE {column} = ?", [campaign_id]

    def individuals(self, campaign_id: int | None = None) -> pd.DataFrame:
        """Return the individuals of one campaign (or of the file), by id, genomes decoded."""
        where, params = self._campaign_filter(campaign_id, "campaign_id")
        frame = self._frame(f"SELECT * FROM individuals {where} ORDER BY id", params)
        return _decode_json_columns(frame, ("genome",))

    def genome(self, individual_id: int) -> dict:
        """Return the decoded genome of an individual, or raise RecordNotFoundError."""
        row = self._db.execute("SELECT genome FROM individuals WHERE id = ?", [individual_id]).fetchone()
        if row is None:
            raise RecordNotFoundError(f"individual id {individual_id!r} not found in {self.path}")
        return json.loads(row[0])

    def lineage(self, campaign_id: int | None = None) -> pd.DataFrame:
        """Return the parent-child links whose child belongs to the campaign (or all links)."""
        where, params = self._campaign_filter(campaign_id, "i.campaign_id")
        return self._frame(
            "SELECT l.child_id, l.parent_id, l.operator FROM lineage AS l"
            f" JOIN individuals AS i ON i.id = l.child_id {where} ORDER BY l.child_id, l.parent_id",
            params,
        )

    def _lineage_walk(self, individual_id: int, depth: int | None, *, upward: bool) -> pd.DataFrame:
        # The lineage is a DAG (crossover has two parents), so one ancestor can be
        # reached along many paths. UNION drops repeated (link, depth) rows, which keeps
        # the walk polynomial, and the outer query keeps each link at its smallest depth.
        start, step = ("child_id", "parent_id") if upward else ("parent_id", "child_id")
        return self._frame(
            f"""WITH RECURSIVE walk(child_id, parent_id, operator, depth) AS (
                SELECT child_id, parent_id, operator, 1 FROM lineage WHERE {start} = :start
                UNION
                SELECT l.child_id, l.parent_id, l.operator, w.depth + 1
                FROM lineage AS l JOIN walk AS w ON l.{start} = w.{step}
                -- Rows carry their depth, so a cycle written by hand would repeat forever. No
                -- path without a cycle has more steps than the table has links.
                WHERE w.depth < coalesce(:depth, (SELECT COUNT(*) FROM lineage))
            )
            SELECT MIN(w.depth) AS depth, w.child_id, w.parent_id, w.operator,
                   i.generation, i.origin, i.genome_hash
            FROM walk AS w JOIN individuals AS i ON i.id = w.{step}
            GROUP BY w.child_id, w.parent_id
            ORDER BY depth, w.{start}, w.{step}""",
            {"start": individual_id, "depth": depth},
        )

    def ancestors(self, individual_id: int, depth: int | None = None) -> pd.DataFrame:
        """Return the lineage links above an individual, up to `depth` steps (None: all).

        One row per link: depth (1 for the individual's own parents), child_id,
        parent_id, operator, and the parent's generation, origin and genome_hash.
        With crossover a late individual can have hundreds of thousands of links, which
        takes seconds here. `populations.queries.lineage_index(store).ancestors()` returns
        each distinct ancestor once, with its smallest depth, from arrays in memory.
        """
        return self._lineage_walk(individual_id, depth, upward=True)

    def descendants(self, individual_id: int, depth: int | None = None) -> pd.DataFrame:
        """Return the lineage links below an individual, up to `depth` steps (None: all).

        One row per link: depth (1 for the individual's own children), child_id,
        parent_id, operator, and the child's generation, origin and genome_hash.
        """
        return self._lineage_walk(individual_id, depth, upward=False)

    def evaluations(self, campaign_id: int | None = None, *, latest: bool = False) -> pd.DataFrame:
        """Return evaluations with one column per objective, metrics decoded.

        With latest=False, every evaluation row, each joined with its individual's
        campaign_id, generation and genome_hash. With latest=True, one row per
        individual from the `latest_evaluation` view, whose objective columns hold
        the latest value measured for each objective.
        """
        if latest:
            where, params = self._campaign_filter(campaign_id, "campaign_id")
            sql = f"SELECT * FROM latest_evaluation {where} ORDER BY individual_id"
            frame = self._objective_frame(sql, params)
        else:
            where, params = self._campaign_filter(campaign_id, "i.campaign_id")
            frame = self._objective_frame(
                "SELECT e.*, i.campaign_id, i.generation, i.genome_hash FROM evaluations AS e"
                f" JOIN individuals AS i ON i.id = e.individual_id {where} ORDER BY e.id",
                params,
            )
        return _decode_json_columns(frame, ("metrics",))

    def front(self, campaign_id: int, generation: int | None = None) -> pd.DataFrame:
        """Return the stored Pareto front of a generation (default: the last committed one).

        One row per front member, in stored order, with the member's genome_hash,
        latest status and latest objective values (see `evaluations(latest=True)`).
        Empty when the campaign has no committed generation.
        """
        if generation is None:
            return self._objective_frame("SELECT * FROM current_front WHERE campaign_id = ?", [campaign_id])
        objective_columns = "".join(f", l.{quote_identifier(name)}" for name in self.objective_names())
        return self._objective_frame(
            f"""SELECT g.campaign_id, g.number AS generation, i.id AS individual_id,
                       i.genome_hash, l.status{objective_columns}
            FROM generations AS g
            JOIN json_each(g.front) AS f
            JOIN individuals AS i ON i.id = f.value
            LEFT JOIN latest_evaluation AS l ON l.individual_id = i.id
            WHERE g.campaign_id = ? AND g.number = ?
            ORDER BY f.key""",
            [campaign_id, generation],
        )

    def evaluation_for_hash(self, genome_hash: str, task_key: str) -> dict | None:
        """Return the latest `ok` evaluation of any individual with this genome hash and task key.

        Searches every campaign in the file. The dict has the evaluation's columns
        (objectives gathered in an `objectives` dict, metrics decoded) plus the
        individual's campaign_id. Returns None when no such evaluation exists.
        """
        # The engine calls this for every new child, and usually finds nothing. A plain cursor
        # costs about half of what sqlite-utils' query() costs for that empty result.
        cursor = self._db.conn.execute(
            "SELECT e.*, i.campaign_id FROM evaluations AS e"
            " JOIN individuals AS i ON i.id = e.individual_id"
            " WHERE i.genome_hash = ? AND e.task_key = ? AND e.status = 'ok'"
            " ORDER BY e.id DESC LIMIT 1",
            [genome_hash, task_key],
        )
        values = cursor.fetchone()
        if values is None:
            return None
        row = dict(zip((column[0] for column in cursor.description), values))
        objectives = {name: row.pop(name) for name in self.objective_names()}
        row["objectives"] = objectives
        row["metrics"] = json.loads(row["metrics"])
        return row

    def scored_evaluation(self, campaign_id: int, genome_hash: str) -> dict | None:
        """Return the evaluation that scored this genome hash first in a campaign, or None.

        Looks at the campaign's individuals with this hash in id order and returns the
        `latest_evaluation` row of the first one whose latest status is `ok` or `cached`.
        Its objectives are gathered in an `objectives` dict (None for not measured), and
        its metrics are decoded. The lookup goes through the index on genome_hash, so its cost
        does not grow with the number of individuals in the file.
        """
        scored = ", ".join(f"'{status}'" for status in SCORED_STATUSES)
        # INDEXED BY: without statistics, SQLite may pick the campaign_id index instead
        # and scan every individual of the campaign.
        cursor = self._db.execute(
            "SELECT l.* FROM individuals AS i INDEXED BY individuals_genome_hash"
            " JOIN latest_evaluation AS l ON l.individual_id = i.id"
            f" WHERE i.genome_hash = ? AND i.campaign_id = ? AND l.status IN ({scored})"
            " ORDER BY i.id LIMIT 1",
            [genome_hash, campaign_id],
        )
        values = cursor.fetchone()
        if values is None:
            return None
        # The view's columns other than the reserved names are its objective columns.
        row = dict(zip((column[0] for column in cursor.description), values))
        row["objectives"] = {name: row.pop(name) for name in list(row) if name not in RESERVED_NAMES}
        row["metrics"] = json.loads(row["metrics"])
        return row

    # --- summary ------------------------------------------------------------------

    def summary(self, campaign_id: int) -> dict:
        """Return a campaign's progress from one consistent snapshot of the file.

        Keys:

        - campaign_id, name, status, seed, created_at: from the campaign row.
        - generation, hypervolume: of the last committed generation, None before the first.
        - individuals: the number of individuals.
        - evaluations: the number of evaluated individuals per status of their latest
          evaluation, with every known status.
        - evaluation_rows: the number of evaluation rows. It is larger than the sum of
          `evaluations` when individuals have several: one per successive-halving rung, or
          a later ``evo evaluate``.
        - best: per declared objective, the value, individual_id and direction of the
          best latest value among `ok` and `cached` evaluations. Objectives without a
          declared direction, or without any value, are left out.
        """
        with self.snapshot():
            campaign = self.campaign(campaign_id)
            if campaign is None:
                raise RecordNotFoundError(f"campaign id {campaign_id!r} not found in {self.path}")
            last = self._db.execute(
                "SELECT number, hypervolume FROM generations WHERE campaign_id = ? ORDER BY number DESC LIMIT 1",
                [campaign_id],
            ).fetchone()
            individual_count = self._db.execute(
                "SELECT COUNT(*) FROM individuals WHERE campaign_id = ?", [campaign_id]
            ).fetchone()[0]
            status_counts = dict.fromkeys(EVALUATION_STATUSES, 0)
            status_counts.update(
                self._db.execute(
                    "SELECT e.status, COUNT(*) FROM evaluations AS e"
                    " JOIN (SELECT MAX(v.id) AS id FROM evaluations AS v"
                    "       JOIN individuals AS i ON i.id = v.individual_id"
                    "       WHERE i.campaign_id = ? GROUP BY v.individual_id) AS latest ON latest.id = e.id"
                    " GROUP BY e.status",
                    [campaign_id],
                ).fetchall()
            )
            evaluation_rows = self._db.execute(
                "SELECT COUNT(*) FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id"
                " WHERE i.campaign_id = ?", [campaign_id]).fetchone()[0]
            best = self._best_values(campaign_id)
        return {
            "campaign_id": campaign["id"],
            "name": campaign["name"],
            "status": campaign["status"],
            "seed": campaign["seed"],
            "created_at": campaign["created_at"],
            "generation": None if last is None else last[0],
            "hypervolume": None if last is None else last[1],
            "individuals": individual_count,
            "evaluations": status_counts,
            "evaluation_rows": evaluation_rows,
            "best": best,
        }

    def _best_values(self, campaign_id: int) -> dict[str, dict]:
        best = {}
        for objective in self.objectives().values():
            if objective.direction is None:
                continue
            column = quote_identifier(objective.name)
            order = "DESC" if objective.direction == "maximize" else "ASC"
            row = self._db.execute(
                f"SELECT {column}, individual_id FROM latest_evaluation"
                f" WHERE campaign_id = ? AND {column} IS NOT NULL"
                f" ORDER BY {column} {order}, individual_id LIMIT 1",
                [campaign_id],
            ).fetchone()
            if row is not None:
                best[objective.name] = {
                    "value": row[0],
                    "individual_id": row[1],
                    "direction": objective.direction,
                }
        return best
