"""Ctrl-C in a terminal: the whole process group gets SIGINT, and the run stops quietly and fully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from campaign_helpers import wait_for_commit


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("executor", ["process", "dask-local:2"])
def test_ctrl_c_stops_every_process_without_tracebacks(tmp_path, executor):
    if executor.startswith("dask"):
        pytest.importorskip("distributed")
    path = tmp_path / "interrupted.sqlite"
    # A session of its own stands for the terminal's foreground group, which Ctrl-C signals whole.
    process = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", "--preset", "smoke", "--executor", executor, "--workers", "2",
         "--population", "8", "--generations", "500", "--db", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_commit(path, process)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert process.returncode == 130
    assert "evo resume" in stderr
    assert "Traceback" not in stderr
    assert "worker died" not in stderr
    assert "CancelledError" not in stderr
    assert not group_alive(process.pid), "a worker of the interrupted campaign is still running"
