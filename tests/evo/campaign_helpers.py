"""Helpers shared by the engine's tests: run a campaign in-process, read its file, kill it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from evo.campaign import Campaign
from evo.config import CampaignConfig
from populations import Store


def run_campaign(config: CampaignConfig, observers: Sequence = ()) -> dict:
    """Run a campaign in this process, without progress bars, and return its summary."""
    with Store(config.db_path) as store:
        return Campaign(config, store, progress=False, observers=list(observers)).run()


def query(path: Path | str, sql: str, parameters: Sequence = ()) -> list[tuple]:
    """Return the rows of one SQL query on a database file, as tuples."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def rows(path: Path | str, sql: str) -> list[dict]:
    """Return the rows of one SQL query on a database file, as dicts by column name."""
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql)]
    finally:
        connection.close()


def results(path: Path | str) -> list[list[tuple]]:
    """Individuals, parents, operators, objective values and fronts, without measured times."""
    return [
        query(path, "SELECT id, genome_hash, generation, origin FROM individuals ORDER BY id"),
        query(path, "SELECT child_id, parent_id, operator FROM lineage ORDER BY child_id, parent_id"),
        query(path, "SELECT individual_id, status, accuracy, flops FROM evaluations ORDER BY id"),
        query(path, "SELECT number, members, front, hypervolume FROM generations ORDER BY number"),
    ]


def wait_for_commit(path: Path, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until the campaign that `process` runs has committed a generation to `path`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the campaign ended before it could be interrupted"
        if path.exists():
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if connection.execute("SELECT COUNT(*) FROM generations").fetchone()[0]:
                    return
            except sqlite3.OperationalError:
                pass
            finally:
                connection.close()
        time.sleep(0.2)
    raise AssertionError("no generation was committed in time")


def kill_when_paused(command: Sequence[str], pause_at: str) -> tuple[str, int]:
    """Run `command` with EVONAS_PAUSE_AT=pause_at, SIGKILL it once it pauses there.

    Returns its stderr and exit status; fails when it exited before pausing.
    """
    environment = {**os.environ, "EVONAS_PAUSE_AT": pause_at}
    process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=environment)
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if f"paused at {pause_at}" in line:
                break
        paused = process.poll() is None
        process.send_signal(signal.SIGKILL)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert paused, f"the campaign exited before pausing at {pause_at}:\n{output[-3000:]}"
    return output, process.returncode


def start_paused(command: Sequence[str], pause_at: str) -> subprocess.Popen:
    """Start `command` with EVONAS_PAUSE_AT=pause_at and return it once it pauses there.

    The process stays paused, with its locks and open files, until the caller kills it.
    Fails when the process exits before pausing. A process that hangs silently before the
    pause point blocks this call.
    """
    environment = {**os.environ, "EVONAS_PAUSE_AT": pause_at}
    process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=environment)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if f"paused at {pause_at}" in line:
            return process
    process.wait()
    output = "".join(lines)
    raise AssertionError(f"the command exited before pausing at {pause_at}:\n{output[-3000:]}")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


class BackgroundCommand:
    """A command run in the background (a Dask scheduler, worker or `evo`), its stderr kept as lines."""

    def __init__(self, command: Sequence[str], env: dict | None = None):
        self.lines: list[str] = []
        self.process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        """Wait until a line of stderr contains `text`; fail when the command ends first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen; last output:\n{''.join(self.lines[-30:])}")

    def stop(self) -> None:
        """End the command with SIGTERM (SIGKILL after 20 s) and wait for it; nothing when it has ended."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
