"""Opening a population database file: identity checks, schema creation, connection settings.

A file is checked through a read-only connection before any read-write connection
exists, so a file of another program, or a damaged one, is rejected without a single
byte of it changing.
"""

from __future__ import annotations

import logging
import os
import shlex
import sqlite3
from pathlib import Path

import sqlite_utils

from .errors import (
    DamagedStoreError,
    ForeignDatabaseError,
    SchemaVersionError,
    StoreError,
    StoreNotFoundError,
)
from .schema import (
    APPLICATION_KEY,
    APPLICATION_NAME,
    DEFAULT_OBJECTIVES,
    ENGINE_TABLES_SQL,
    MIGRATIONS,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    SQLITE_APPLICATION_ID,
    TABLES_SQL,
)

logger = logging.getLogger(__name__)


def _connect(path: Path, *, readonly: bool, timeout: float) -> sqlite3.Connection:
    if readonly:
        connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout)
    else:
        connection = sqlite3.connect(str(path), timeout=timeout)
    # sqlite3.connect(timeout=) already installs the busy handler; the pragma states it
    # in SQL so that a reader of the connection can check it.
    connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    if readonly and _needs_immutable(connection, path):
        connection.close()
        connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True, timeout=timeout)
    return connection


# Files already warned about, so that each open (inspection, then reading) warns once.
_warned_immutable: set[Path] = set()


def _needs_immutable(connection: sqlite3.Connection, path: Path) -> bool:
    """Whether a read-only connection fails only because the file's folder is read-only.

    A reader of a file in WAL mode needs its `-shm` file, which SQLite cannot create in a
    read-only folder. An engine cannot write the file there, so reading it as immutable is
    safe, except that commits still in a `-wal` file beside it stay unseen.

    NOTE: a read-only mount of a folder that is writable through another path is the
    exception. An engine writing through that path is not seen, and the reader may read
    stale or inconsistent pages.
    """
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as error:
        if "unable to open" not in str(error) or os.access(path.parent, os.W_OK):
            return False
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0 and path not in _warned_immutable:
            _warned_immutable.add(path)
            logger.warning("%s lies in a read-only folder, so it is read without its write-ahead log %s; "
                           "the commits still in that log are not shown", path, wal)
        logger.debug("%s lies in a read-only folder; reading it as immutable", path)
        return True
    except sqlite3.DatabaseError:
        return False  # damaged or not SQLite: _read_schema_version reports it
    return False


def _unreadable(path: Path, error: sqlite3.DatabaseError, message: str) -> DamagedStoreError:
    """Return the error for a file that SQLite cannot read, naming a file that is not SQLite at all.

    The header is not read with open(): closing any descriptor of the file would drop every
    POSIX lock this process holds on it, those of SQLite's other connections included.
    """
    if "file is not a database" in str(error):
        return DamagedStoreError(
            f"{path} is not a SQLite database (SQLite does not recognise its header), "
            "so it is damaged or not a population database. The file was left unchanged. "
            "Check the path, or restore the file from a backup."
        )
    return DamagedStoreError(message)


def _read_schema_version(connection: sqlite3.Connection, path: Path) -> int | None:
    """Return the schema version stored in an existing file, or None if it has no tables.

    Raises ForeignDatabaseError for a SQLite file of another program, and
    DamagedStoreError when SQLite cannot read the file.
    """
    try:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise _unreadable(
            path, error,
            f"{path} cannot be read as a SQLite database ({error}). The file was left unchanged. "
            "Restore it from a backup, or start a new campaign with another --db path."
        ) from error
    if not tables:
        return None

    foreign = ForeignDatabaseError(
        f"{path} is a SQLite database of another program, not an evonas population database. "
        "The file was left unchanged. Choose another path for the population database."
    )
    if "meta" not in tables:
        raise foreign
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as error:
        raise foreign from error
    if meta.get(APPLICATION_KEY) != APPLICATION_NAME:
        raise foreign

    try:
        return int(meta["schema_version"])
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedStoreError(
            f"{path} is a population database without a valid schema_version in its meta table. "
            "The file was left unchanged. Restore it from a backup."
        ) from error


def _check_schema_version(version: int, path: Path, *, readonly: bool) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} uses schema version {version}, but this version of evonas reads up to "
            f"version {SCHEMA_VERSION}. Upgrade evonas to open it."
        )
    if readonly and version in READABLE_VERSIONS:
        return
    missing = [step for step in range(version + 1, SCHEMA_VERSION + 1) if step not in MIGRATIONS]
    if missing:
        raise SchemaVersionError(
            f"{path} uses schema version {version}, and no upgrade to version {SCHEMA_VERSION} exists."
        )
    if readonly:
        raise SchemaVersionError(
            f"{path} uses schema version {version}, which must be upgraded to version {SCHEMA_VERSION} "
            f"before it can be read. Open it for writing once, for example with `evo resume {shlex.quote(str(path))}`, "
            "which upgrades it in place."
        )


def _execute_statements(db: sqlite_utils.Database, script: str) -> None:
    # Connection.executescript() commits the open transaction first, so run the
    # statements one at a time to keep them inside the caller's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate(db: sqlite_utils.Database, version: int, path: Path) -> None:
    """Upgrade the schema from `version` to SCHEMA_VERSION, one transaction per step."""
    for step in range(version + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            _execute_statements(db, MIGRATIONS[step])
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(step)])
        logger.info("upgraded population database %s to schema version %d", path, step)


def _inspect_existing(path: Path, timeout: float, *, readonly: bool) -> int | None:
    """Check an existing, non-empty file without writing to it, and return its schema version."""
    try:
        connection = _connect(path, readonly=True, timeout=timeout)
    except sqlite3.DatabaseError as error:
        raise _unreadable(path, error, f"{path} cannot be opened as a SQLite database ({error}).") from error
    try:
        version = _read_schema_version(connection, path)
    finally:
        connection.close()
    if version is not None:
        _check_schema_version(version, path, readonly=readonly)
    return version


def _check_integrity(path: Path, timeout: float) -> None:
    """Raise DamagedStoreError when SQLite's quick_check finds damage, before anything writes.

    quick_check reads every page: 1.5 s for a file of 128 MB on a 2-core machine, paid once
    when a campaign opens its file.
    """
    connection = _connect(path, readonly=True, timeout=timeout)
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    finally:
        connection.close()
    if problems != ["ok"]:
        raise DamagedStoreError(
            f"{path} is damaged: SQLite's integrity check reports {'; '.join(problems)}. The file was "
            f"left unchanged and no campaign will write to it. Restore it from a backup, or try to save "
            f"its rows with `sqlite3 {path} .recover | sqlite3 recovered.sqlite`."
        )


def _create_schema(db: sqlite_utils.Database, path: Path) -> None:
    with db.atomic():
        db.executescript(TABLES_SQL)
        db["meta"].insert_all(
            [
                {"key": APPLICATION_KEY, "value": APPLICATION_NAME},
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
            ]
        )
        _execute_statements(db, ENGINE_TABLES_SQL)
        db.execute(f"PRAGMA application_id = {SQLITE_APPLICATION_ID}")
        for name, (direction, unit) in DEFAULT_OBJECTIVES.items():
            db["evaluations"].add_column(name, float)
            db["objectives"].insert({"name": name, "direction": direction, "unit": unit})
    logger.info("created population database %s (schema version %d)", path, SCHEMA_VERSION)


def open_reader(path: Path, timeout: float) -> sqlite_utils.Database:
    """Open an existing population database read-only (`mode=ro`)."""
    if not path.exists():
        raise StoreNotFoundError(
            f"population database {path} not found. Check the path, "
            "or run a campaign with this --db path to create it."
        )
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a population database file.")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is empty: no campaign has written to it yet.")
    version = _inspect_existing(path, timeout, readonly=True)
    if version is None:
        raise StoreError(f"{path} is an empty SQLite database: no campaign has written to it yet.")
    connection = _connect(path, readonly=True, timeout=timeout)
    return sqlite_utils.Database(connection, execute_plugins=False)


def open_writer(path: Path, timeout: float) -> tuple[sqlite_utils.Database, bool]:
    """Open a population database for writing, creating the file and its folder if missing.

    Returns the database and whether the schema was created now. An empty file, or a
    SQLite database without tables, becomes a new population database.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder. Give a file path for the population database.")
    version = None
    if path.exists() and path.stat().st_size > 0:
        version = _inspect_existing(path, timeout, readonly=False)
        if version is not None:
            _check_integrity(path, timeout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {path.parent} for the population database ({error.strerror}). "
            "Choose a --db path in a folder you can write."
        ) from error

    try:
        db = sqlite_utils.Database(_connect(path, readonly=False, timeout=timeout), execute_plugins=False)
    except sqlite3.OperationalError as error:
        raise StoreError(
            f"cannot open {path} for writing ({error}). Check that you may write the file and its "
            "folder (SQLite also creates -wal and -shm files beside it), or choose another --db path."
        ) from error
    try:
        db.execute("PRAGMA foreign_keys = ON")
        # WAL lets readers in other processes read while the engine writes. The mode is
        # stored in the file, so this is a no-op for a file that already uses it.
        db.enable_wal()
        # In WAL mode, NORMAL skips the fsync at each commit but keeps every commit atomic.
        # A killed process loses nothing that it committed, because the operating system
        # still writes the WAL out. A power cut may lose the last commits, never consistency.
        db.execute("PRAGMA synchronous = NORMAL")
        if version is None:
            _create_schema(db, path)
        elif version < SCHEMA_VERSION:
            _migrate(db, version, path)
    except BaseException:
        db.close()
        raise
    return db, version is None
