"""Trained network weights in the population database, for Lamarckian inheritance.

The `weights` table has one row per individual whose trained weights were kept. The
`data` column contains the bytes of a NumPy .npz archive (fitness.inheritance.state_to_bytes),
which is read back with allow_pickle=False, so a database never carries pickled code.
The table is created on first use with CREATE TABLE IF NOT EXISTS, so files written
before it existed stay readable and need no schema migration.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

WEIGHTS_FORMAT = "npz"

WEIGHTS_TABLE_SQL = """CREATE TABLE IF NOT EXISTS weights (
    individual_id INTEGER PRIMARY KEY REFERENCES individuals(id),
    genome_hash TEXT NOT NULL,
    format TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
)"""


class WeightsNotFoundError(LookupError):
    """No stored weights for an individual."""


def _connection(db: sqlite_utils.Database | sqlite3.Connection) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


def ensure_weights_table(db: sqlite_utils.Database | sqlite3.Connection) -> None:
    """Create the weights table if the file does not have it yet; safe to call repeatedly."""
    _connection(db).execute(WEIGHTS_TABLE_SQL)


def has_weights_table(db: sqlite_utils.Database | sqlite3.Connection) -> bool:
    """Return whether the file has the weights table, without creating it."""
    row = _connection(db).execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'weights'"
    ).fetchone()
    return row is not None


def save_weights(
    db: sqlite_utils.Database | sqlite3.Connection,
    individual_id: int,
    genome_hash: str,
    data: bytes,
) -> None:
    """Store (or replace) the .npz weight bytes of an individual, creating the table if needed.

    The caller commits, so the weights can share the generation's transaction.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError(
            f"weights of individual {individual_id} must be non-empty .npz bytes, "
            f"got {type(data).__name__}"
        )
    ensure_weights_table(db)
    _connection(db).execute(
        "INSERT OR REPLACE INTO weights (individual_id, genome_hash, format, size, data)"
        " VALUES (?, ?, ?, ?, ?)",
        [individual_id, genome_hash, WEIGHTS_FORMAT, len(data), bytes(data)],
    )


def load_weights(db: sqlite_utils.Database | sqlite3.Connection, individual_id: int) -> bytes:
    """Return the stored .npz weight bytes of an individual.

    Raises WeightsNotFoundError when the individual has none, or the file has no weights
    table yet.
    """
    if not has_weights_table(db):
        raise WeightsNotFoundError(
            f"no weights stored for individual {individual_id}: the database has no weights "
            f"table. Run a campaign with Lamarckian inheritance to store weights"
        )
    row = _connection(db).execute(
        "SELECT format, data FROM weights WHERE individual_id = ?", [individual_id]
    ).fetchone()
    if row is None:
        raise WeightsNotFoundError(f"no weights stored for individual {individual_id}")
    stored_format, data = row
    if stored_format != WEIGHTS_FORMAT:
        raise WeightsNotFoundError(
            f"weights of individual {individual_id} are in format {stored_format!r}, "
            f"expected {WEIGHTS_FORMAT!r}"
        )
    return bytes(data)


def weights_by_hash(
    db: sqlite_utils.Database | sqlite3.Connection, genome_hash: str
) -> bytes | None:
    """Return the latest stored weights of any individual with this genome hash, or None."""
    if not has_weights_table(db):
        return None
    row = _connection(db).execute(
        "SELECT data FROM weights WHERE genome_hash = ? AND format = ?"
        " ORDER BY individual_id DESC LIMIT 1",
        [genome_hash, WEIGHTS_FORMAT],
    ).fetchone()
    return None if row is None else bytes(row[0])
