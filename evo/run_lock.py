"""The run lock: an exclusive ``flock`` on ``DB.lock`` that a running engine holds.

The engine takes the lock before it opens the campaign and keeps it until ``Campaign.run()``
returns or raises. The kernel drops the lock when the process exits, even on SIGKILL, so a
reader can tell a live campaign from one whose engine died: the campaign row still reads
`running`, but no process has the lock.

The lock file contains the holder's PID, host name, campaign name and start time as JSON.
The file is left in place after a run, emptied, because removing it would let a second
engine lock a new file while a third still holds the old one.

NOTE: ``flock`` is local to one machine. On a network file system (NFS, SMB), engines on
two hosts may both take the lock, and readers on another host may see it as free.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Readers take the lock for a moment to test it, so an engine retries for this many
# seconds before it concludes that another engine holds the lock.
ACQUIRE_TIMEOUT = 1.0
RETRY_INTERVAL = 0.02


class CampaignRunningError(RuntimeError):
    """Another engine holds the run lock of the database."""


def lock_path(db_path: str | os.PathLike[str]) -> Path:
    """Return the lock file of a database: the database path with `.lock` appended."""
    path = Path(db_path)
    return path.with_name(path.name + ".lock")


def _read_holder(descriptor: int) -> dict[str, Any]:
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 4096).decode("utf-8", errors="replace")
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (its PID is not written yet)"
    return (f"PID {holder.get('pid', '?')} on host {holder.get('host', '?')}"
            f" (campaign {holder.get('campaign', '?')!r}, started {holder.get('started_at', '?')})")


class RunLock:
    """The held run lock of one database; ``release()`` or leaving the ``with`` block frees it."""

    def __init__(self, db_path: str | os.PathLike[str], campaign: str):
        self.path = lock_path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._descriptor: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._take(db_path)
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "campaign": campaign,
                      "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            os.ftruncate(self._descriptor, 0)
            os.pwrite(self._descriptor, json.dumps(holder).encode(), 0)
        except BaseException:
            os.close(self._descriptor)
            self._descriptor = None
            raise
        log.debug("run lock %s taken by PID %d", self.path, os.getpid())

    def _take(self, db_path: str | os.PathLike[str]) -> None:
        deadline = time.monotonic() + ACQUIRE_TIMEOUT
        while True:
            try:
                fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(RETRY_INTERVAL)
        holder = _read_holder(self._descriptor)
        stop = f"kill {holder['pid']}" if "pid" in holder else "kill PID"
        raise CampaignRunningError(
            f"{db_path} is in use by another engine: {_describe(holder)}. "
            f"Wait for it to finish, stop it (Ctrl-C there, or {stop} on that host), or use another --db"
        )

    def release(self) -> None:
        """Empty the lock file and free the lock; calling it again does nothing."""
        if self._descriptor is None:
            return
        try:
            os.ftruncate(self._descriptor, 0)
        finally:
            # Closing the descriptor frees the flock.
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def lock_holder(db_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return whether an engine holds the run lock of a database, and who.

    Keys: `held` (True, False, or None when the lock file cannot be read), and, when held,
    the `pid`, `host`, `campaign` and `started_at` that the holder wrote. A missing lock
    file means that no engine runs, because an engine creates it before it starts. Opens
    the file read-only, so it works in a read-only folder.
    """
    try:
        descriptor = os.open(lock_path(db_path), os.O_RDONLY)
    except FileNotFoundError:
        return {"held": False}
    except OSError as error:
        log.warning("cannot read the run lock %s: %s", lock_path(db_path), error)
        return {"held": None}
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return {"held": True, **_read_holder(descriptor)}
        except OSError as error:
            # Some network file systems do not support flock at all.
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            log.warning("cannot test the run lock %s: %s", lock_path(db_path), error)
            return {"held": None}
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return {"held": False}
    finally:
        os.close(descriptor)
