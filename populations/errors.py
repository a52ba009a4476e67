"""Exceptions raised by the population store.

Every exception derives from StoreError, which derives from ValueError, so a caller
can catch one kind of failure or all of them. Messages name the file or the value
at fault and the next step to take.
"""

from __future__ import annotations


class StoreError(ValueError):
    """A population database could not be opened, read or written as requested."""


class StoreNotFoundError(StoreError):
    """The database file does not exist and was opened read-only, so it cannot be created."""


class ForeignDatabaseError(StoreError):
    """The file is a valid SQLite database, but another program wrote it."""


class DamagedStoreError(StoreError):
    """The file is not a SQLite database, or SQLite reports it as malformed."""


class DatabaseLockedError(StoreError):
    """Another connection held the file's write lock for longer than the Store's timeout."""


class SchemaVersionError(StoreError):
    """The file uses a schema version this version of the store cannot read or upgrade."""


class RecordNotFoundError(StoreError, LookupError):
    """A campaign or individual id does not exist in the database."""
