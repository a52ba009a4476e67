"""SQL schema of the population database: tables, indexes, views and fixed value sets.

The tables and their key columns are user-facing (people query the file with SQL,
pandas and Datasette), so changes to them go through a new SCHEMA_VERSION and a
migration in the store.
"""

from __future__ import annotations

import re

from sqlite_utils.db import quote_identifier

SCHEMA_VERSION = 2

# Stored in the `meta` table under APPLICATION_KEY. A SQLite file without this row was
# written by another program, and the store refuses to touch it.
APPLICATION_KEY = "application"
APPLICATION_NAME = "evonas-population"

# Also written to the SQLite header field `application_id` (bytes 68-71), which tools
# such as `file` read. The value is the ASCII code of "EVNS".
SQLITE_APPLICATION_ID = 0x45564E53

CAMPAIGN_STATUSES = ("running", "finished", "stopped")
EVALUATION_STATUSES = ("ok", "failed", "diverged", "timeout", "rejected", "oom", "cached")

# Evaluations with these statuses carry valid objective values. A `cached` evaluation
# copies the values of an earlier `ok` evaluation of the same genome and task.
SCORED_STATUSES = ("ok", "cached")

DIRECTIONS = ("maximize", "minimize")

# Objectives that every new database starts with: name -> (direction, unit). They match
# fitness.OBJECTIVES, so the engine's declare_objective() calls for them change nothing.
DEFAULT_OBJECTIVES = {
    "accuracy": ("maximize", "fraction"),
    "params": ("minimize", "parameters"),
    "flops": ("minimize", "FLOPs"),
    "latency": ("minimize", "ms"),
}

# Columns of `evaluations` that are not objectives, in table order. Objective columns
# follow them, one REAL column each, in the order they were added.
EVALUATION_COLUMNS = (
    "id",
    "individual_id",
    "status",
    "metrics",
    "error",
    "seconds",
    "task_key",
    "created_at",
)

# An objective name becomes a column name, and the views put it next to these names.
OBJECTIVE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED_NAMES = frozenset(
    EVALUATION_COLUMNS
    + ("evaluation_id", "campaign_id", "generation", "genome_hash", "number", "rowid")
)

TABLES_SQL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    schema_version INTEGER NOT NULL
);

-- AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, so an id stays
-- used even if its row is deleted by hand.
CREATE TABLE individuals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    genome TEXT NOT NULL,
    genome_hash TEXT NOT NULL,
    generation INTEGER NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX individuals_genome_hash ON individuals(genome_hash);
CREATE INDEX individuals_campaign_id ON individuals(campaign_id);

CREATE TABLE lineage (
    child_id INTEGER NOT NULL REFERENCES individuals(id),
    parent_id INTEGER NOT NULL REFERENCES individuals(id),
    operator TEXT NOT NULL,
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX lineage_parent_id ON lineage(parent_id);

CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    individual_id INTEGER NOT NULL REFERENCES individuals(id),
    status TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    seconds REAL,
    task_key TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX evaluations_individual_id ON evaluations(individual_id);

CREATE TABLE generations (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    number INTEGER NOT NULL,
    members TEXT NOT NULL,
    front TEXT NOT NULL,
    hypervolume REAL,
    finished_at TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (campaign_id, number)
);

-- One row per objective column of `evaluations`. A NULL direction means that the
-- column was added by an evaluation before anyone declared the objective.
CREATE TABLE objectives (
    name TEXT PRIMARY KEY,
    direction TEXT CHECK (direction IN ('maximize', 'minimize')),
    unit TEXT
);
"""

# Engine-side tables added in schema version 2. Readers' views never read them, so a
# reader sees an evaluation only once the generation that contains it is committed.
#
# staged_evaluations: each evaluation of the generation in progress, written as soon as it
# finishes, so that a resume after a kill reuses it instead of running it again. The
# generation commit deletes the campaign's staged rows in the same transaction.
#
# generation_progress: one row per campaign while a generation is being evaluated, for
# `evo status`: how many evaluations the generation plans and how many workers run them.
ENGINE_TABLES_SQL = """
CREATE TABLE IF NOT EXISTS staged_evaluations (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    generation INTEGER NOT NULL,
    individual_id INTEGER NOT NULL,
    genome_hash TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, individual_id)
);

CREATE TABLE IF NOT EXISTS generation_progress (
    campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id),
    number INTEGER NOT NULL,
    planned INTEGER NOT NULL,
    workers INTEGER NOT NULL,
    started_at TEXT NOT NULL
);
"""

# Migration from schema version N - 1 to N, keyed by N. Each runs in one transaction
# together with the update of `meta.schema_version`, so a kill leaves the old version.
MIGRATIONS = {
    2: ENGINE_TABLES_SQL,
}

# Versions that a read-only Store opens without migrating: their user-facing tables and
# views are the same as in SCHEMA_VERSION, and only engine-side tables are missing.
READABLE_VERSIONS = (1, 2)

VIEW_NAMES = ("latest_evaluation", "current_front")


def latest_evaluation_view_sql(objectives: list[str]) -> str:
    """Build the CREATE VIEW statement of `latest_evaluation` for these objective columns.

    The view has one row per evaluated individual. Status, metrics, error, seconds,
    task_key and created_at come from the individual's latest evaluation (highest id).
    Each objective column contains the latest non-NULL value of that objective among the
    individual's `ok` and `cached` evaluations. A later evaluation that measured only
    some objectives, or that failed, therefore never hides an earlier measurement.
    """
    scored = ", ".join(f"'{status}'" for status in SCORED_STATUSES)
    objective_columns = "".join(
        f",\n    (SELECT v.{column} FROM evaluations AS v"
        f" WHERE v.individual_id = e.individual_id AND v.{column} IS NOT NULL"
        f" AND v.status IN ({scored}) ORDER BY v.id DESC LIMIT 1) AS {column}"
        for column in map(quote_identifier, objectives)
    )
    return f"""CREATE VIEW latest_evaluation AS
SELECT
    e.individual_id,
    i.campaign_id,
    i.generation,
    i.genome_hash,
    e.id AS evaluation_id,
    e.status{objective_columns},
    e.metrics,
    e.error,
    e.seconds,
    e.task_key,
    e.created_at
FROM evaluations AS e
JOIN individuals AS i ON i.id = e.individual_id
WHERE e.id = (SELECT MAX(m.id) FROM evaluations AS m WHERE m.individual_id = e.individual_id)"""


def current_front_view_sql(objectives: list[str]) -> str:
    """Build the CREATE VIEW statement of `current_front` for these objective columns.

    The view lists, for every campaign, the members of the front stored with its
    last committed generation, in stored order, with their `latest_evaluation` values.
    """
    objective_columns = "".join(
        f",\n    l.{column}" for column in map(quote_identifier, objectives)
    )
    return f"""CREATE VIEW current_front AS
SELECT
    g.campaign_id,
    g.number AS generation,
    i.id AS individual_id,
    i.genome_hash,
    l.status{objective_columns}
FROM generations AS g
JOIN json_each(g.front) AS f
JOIN individuals AS i ON i.id = f.value
LEFT JOIN latest_evaluation AS l ON l.individual_id = i.id
WHERE g.number = (SELECT MAX(n.number) FROM generations AS n WHERE n.campaign_id = g.campaign_id)
ORDER BY g.campaign_id, f.key"""


def view_sql(name: str, objectives: list[str]) -> str:
    """Build the CREATE VIEW statement of the named view."""
    if name == "latest_evaluation":
        return latest_evaluation_view_sql(objectives)
    if name == "current_front":
        return current_front_view_sql(objectives)
    raise KeyError(name)
