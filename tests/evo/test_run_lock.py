"""The run lock against real engine processes: a second engine, a SIGKILLed one, resume targets.

Each campaign runs the `evo` command line in a subprocess with the smoke preset.
EVONAS_PAUSE_AT stops it at a named pause point while it holds the lock, and the test
then sends SIGKILL, which frees the lock in the kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from evo.cli import main
from evo.run_lock import CampaignRunningError, RunLock, lock_holder, lock_path
from populations import Store

from campaign_helpers import kill_when_paused, query, start_paused

EVO = [sys.executable, "-c", "from evo.cli import main; main()"]


def evo(*arguments: str) -> list[str]:
    return [*EVO, *arguments]


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def test_run_lock_rejects_second_holder(tmp_path):
    db = tmp_path / "one.sqlite"
    with RunLock(db, "first"):
        with pytest.raises(CampaignRunningError, match=rf"PID {os.getpid()} on host {socket.gethostname()}"):
            RunLock(db, "second")
        holder = lock_holder(db)
    assert holder["held"] is True
    assert holder["pid"] == os.getpid()
    assert holder["campaign"] == "first"
    assert lock_holder(db) == {"held": False}


def test_run_lock_free_again_after_release(tmp_path):
    db = tmp_path / "one.sqlite"
    RunLock(db, "first").release()
    with RunLock(db, "second"):
        assert lock_holder(db)["campaign"] == "second"
    assert lock_path(db).read_text() == ""


def test_lock_holder_without_lock_file(tmp_path):
    assert lock_holder(tmp_path / "missing.sqlite") == {"held": False}
    assert not lock_path(tmp_path / "missing.sqlite").exists()


def test_second_engine_and_killed_engine(tmp_path):
    db = tmp_path / "campaign.sqlite"
    # Generation 0 is being evaluated and nothing is committed yet.
    first = start_paused(evo("run", "--preset", "smoke", "--db", str(db), "--generations", "50"),
                         "generation_started:1")
    try:
        before = CliRunner().invoke(main, ["status", str(db)])
        before_json = json.loads(CliRunner().invoke(main, ["status", str(db), "--json"]).output)

        second = subprocess.run(evo("run", "--preset", "smoke", "--db", str(db), "--generations", "50"),
                                capture_output=True, text=True, timeout=120)
        individuals = query(db, "SELECT COUNT(*) FROM individuals")[0][0]
    finally:
        kill(first)

    assert before.exit_code == 0, before.output
    assert f"smoke (running, PID {first.pid} on {socket.gethostname()})" in before.output
    assert "generation   none committed yet" in before.output
    assert "in progress  generation 0: 0 of 4 done" in before.output
    assert "None" not in before.output
    assert before_json["engine"]["pid"] == first.pid
    assert before_json["status"] == "running"

    assert second.returncode == 1
    assert f"in use by another engine: PID {first.pid}" in second.stderr
    assert f"kill {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    assert individuals == 0

    after = CliRunner().invoke(main, ["status", str(db)])
    assert after.exit_code == 0, after.output
    assert f"smoke (stopped without a clean exit; continue with evo resume {db})" in after.output
    assert "in progress" not in after.output
    assert "running" not in after.output
    assert "time left" not in after.output

    summary = json.loads(CliRunner().invoke(main, ["status", str(db), "--json"]).output)
    assert summary["status"] == "stopped"
    assert summary["stored_status"] == "running"
    assert summary["engine"] == {"held": False, "running": False}
    assert summary["progress"] is None
    assert summary["eta_seconds"] is None

    # A subprocess, so that a --watch that never stops fails on the timeout instead of hanging.
    watch = subprocess.run(evo("status", str(db), "--watch", "--interval", "0.2"),
                           capture_output=True, text=True, timeout=60)
    assert watch.returncode == 0, watch.stderr
    assert "stopped without a clean exit" in watch.stdout


def test_status_after_kill_past_a_commit(tmp_path):
    db = tmp_path / "campaign.sqlite"
    _, returncode = kill_when_paused(evo("run", "--preset", "smoke", "--db", str(db), "--generations", "50"),
                                     "generation_committed:2")
    assert returncode == -signal.SIGKILL
    summary = json.loads(CliRunner().invoke(main, ["status", str(db), "--json"]).output)
    assert summary["generation"] == 1
    assert summary["target_generations"] == 50
    assert summary["status"] == "stopped"
    assert summary["eta_seconds"] is None


def test_status_in_read_only_folder(tmp_path):
    source = tmp_path / "source.sqlite"
    _, returncode = kill_when_paused(evo("run", "--preset", "smoke", "--db", str(source)), "generation_committed:1")
    assert returncode == -signal.SIGKILL
    folder = tmp_path / "read-only"
    folder.mkdir()
    # A checkpointed copy without its WAL files or lock file, as a reader might receive it.
    with Store(source) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(source, folder / "copy.sqlite")
    (folder / "copy.sqlite").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = CliRunner().invoke(main, ["status", str(folder / "copy.sqlite")])
        lock_created = lock_path(folder / "copy.sqlite").exists()
    finally:
        folder.chmod(stat.S_IRWXU)
    assert result.exit_code == 0, result.output
    assert "stopped without a clean exit" in result.output
    assert not lock_created


def test_plain_resume_keeps_raised_target(tmp_path):
    db = tmp_path / "campaign.sqlite"
    # The smoke preset stores 2 generations; the resume raises the target to 5 and is killed
    # after its second commit, generation 4.
    assert subprocess.run(evo("-q", "run", "--preset", "smoke", "--db", str(db)), timeout=300).returncode == 0
    _, returncode = kill_when_paused(evo("resume", str(db), "--generations", "5"), "generation_committed:2")
    assert returncode == -signal.SIGKILL
    assert query(db, "SELECT MAX(number) FROM generations")[0][0] == 4

    result = CliRunner().invoke(main, ["-q", "resume", str(db)])
    assert result.exit_code == 0, result.output
    assert "finished at generation 5" in result.output
    assert query(db, "SELECT MAX(number) FROM generations")[0][0] == 5
    assert query(db, "SELECT status FROM campaigns")[0][0] == "finished"


def test_resume_below_last_generation_rejected(tmp_path):
    db = tmp_path / "campaign.sqlite"
    assert subprocess.run(evo("-q", "run", "--preset", "smoke", "--db", str(db)), timeout=300).returncode == 0
    result = CliRunner().invoke(main, ["resume", str(db), "--generations", "1"])
    assert result.exit_code == 1
    assert "--generations 1 is below generation 2, the last one committed" in result.output
    assert query(db, "SELECT MAX(number) FROM generations")[0][0] == 2


def test_ctrl_c_marks_stopped_before_release(tmp_path, monkeypatch):
    """Ctrl-C writes ``stopped`` while the engine still holds the lock.

    Written after the release, it could land on a campaign that a second engine has just
    resumed, and `evo status` would then call a running campaign stopped.
    """
    import evo.executors
    import evo.run_lock
    from evo.campaign import Campaign
    from evo.config import load_preset

    db = tmp_path / "smoke.sqlite"
    config = load_preset("smoke").with_overrides(db=str(db), generations=1)
    calls = []
    real_run_job = evo.executors.run_job

    def interrupt_sixth(job):
        calls.append(job.key)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real_run_job(job)

    status_at_release = []
    real_release = evo.run_lock.RunLock.release

    def release(lock):
        status_at_release.append(query(db, "SELECT status FROM campaigns")[0][0])
        real_release(lock)

    monkeypatch.setattr(evo.executors, "run_job", interrupt_sixth)
    monkeypatch.setattr(evo.run_lock.RunLock, "release", release)
    with Store(db) as store, pytest.raises(KeyboardInterrupt):
        Campaign(config, store, progress=False).run()

    assert status_at_release == ["stopped"]
    assert query(db, "SELECT number FROM generations") == [(0,)]


def test_cli_marking_skips_locked_campaign(tmp_path):
    """The CLI's fallback marking leaves a campaign alone that another engine holds."""
    from evo.cli import _mark_stopped

    db = tmp_path / "runs.sqlite"
    with Store(db) as store:
        campaign_id = store.create_campaign("smoke", {}, 1)
        store.set_campaign_status(campaign_id, "running")

    with RunLock(db, "smoke"):
        _mark_stopped(db, "smoke")
        assert query(db, "SELECT status FROM campaigns") == [("running",)]

    _mark_stopped(db, "smoke")
    assert query(db, "SELECT status FROM campaigns") == [("stopped",)]
