"""Damaged files are refused before any write; a lock held too long gives a named error."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import sqlite3
import subprocess
import sys

import pytest

from populations import DamagedStoreError, DatabaseLockedError, Store


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def filled_db(store, commit_seeds):
    """A closed population file of several pages, with committed generations."""
    for number in range(20):
        commit_seeds(number, count=5)
    path = store.path
    store.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return path


def test_damaged_page_refused_before_writing(filled_db, tmp_path):
    damaged = tmp_path / "damaged.sqlite"
    shutil.copy(filled_db, damaged)
    page_size = 4096
    pages = damaged.stat().st_size // page_size
    assert pages > 4
    with damaged.open("r+b") as file:
        file.seek(page_size * (pages - 2))
        file.write(bytes(range(256)) * (page_size // 256))
    before = digest(damaged)

    with pytest.raises(DamagedStoreError, match="is damaged: SQLite's integrity check reports"):
        Store(damaged)

    assert digest(damaged) == before


def test_lock_held_too_long_is_named(filled_db):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(filled_db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store(filled_db, timeout=0.5) as store:
            campaign_id = store.campaigns()[0]["id"]
            with pytest.raises(DatabaseLockedError, match="stayed locked by another connection for longer than 0.5 s"):
                store.set_campaign_status(int(campaign_id), "stopped")
    finally:
        holder.kill()
        holder.wait()


def run_in_read_only_folder(folder, code):
    """Run Python code in a private mount namespace where `folder` is mounted read-only."""
    script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
              f"{sys.executable} -c {shlex.quote(code)}")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)


def test_read_only_folder(filled_db, tmp_path):
    folder = tmp_path / "shelf"
    folder.mkdir()
    shutil.copy(filled_db, folder / "population.db")
    probe = run_in_read_only_folder(folder, "pass")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a read-only folder here (needs unshare and mount): {probe.stderr.strip()}")
    code = (
        "from populations import Store, StoreError\n"
        f"with Store({str(folder / 'population.db')!r}, readonly=True) as store:\n"
        "    print('generations', len(store.generations(store.campaigns()[0]['id'])))\n"
        "try:\n"
        f"    Store({str(folder / 'new.db')!r})\n"
        "except StoreError as error:\n"
        "    print('refused:', error)\n"
    )

    result = run_in_read_only_folder(folder, code)

    assert result.returncode == 0, result.stderr
    assert "generations 20" in result.stdout
    assert "refused: cannot open" in result.stdout
    assert "for writing" in result.stdout


WRITE_ONE_GENERATION = """
import sys
from populations import Store
with Store(sys.argv[1]) as store:
    campaign = store.campaigns()[0]["id"]
    first = store.next_individual_id()
    store.commit_generation(campaign, 20, individuals=[{"id": first, "genome": {"nodes": []},
        "genome_hash": "late", "generation": 20, "origin": "seed"}], lineage=[],
        evaluations=[{"individual_id": first, "status": "ok", "objectives": {"accuracy": 0.9}}],
        members=[first], front=[first], hypervolume=None, state={})
"""


def test_second_store_keeps_first_readers_lock(filled_db):
    # Closing any descriptor of a file drops every POSIX lock this process holds on it,
    # SQLite's included. A second Store that read the header with open() and close() made
    # the next writer believe it was the file's last user: it checkpointed and deleted the
    # write-ahead log under the first reader, which then saw a malformed file.
    with Store(filled_db, readonly=True) as reader:
        before = reader.summary(reader.campaigns()[0]["id"])["individuals"]
        Store(filled_db, readonly=True).close()
        Store(filled_db).close()
        subprocess.run([sys.executable, "-c", WRITE_ONE_GENERATION, str(filled_db)], check=True, timeout=120)

        wal = filled_db.with_name(filled_db.name + "-wal")
        assert wal.exists()
        assert reader.summary(reader.campaigns()[0]["id"])["individuals"] == before + 1
