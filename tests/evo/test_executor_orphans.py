import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign_helpers import wait_for_commit

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process parents from /proc")


def children_of(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_when_engine_is_killed(tmp_path):
    # Long evaluations, so the workers are busy training when the engine dies: an idle worker
    # would exit anyway on the closed pipe, a busy one only through its orphan watch.
    config = tmp_path / "long.toml"
    config.write_text('name = "long"\n[task]\nname = "digits"\n[budget]\nsteps = 1000000\nbatch_size = 32\n'
                      '[search]\npopulation = 4\ngenerations = 1\nseeds = ["small_mlp", "linear"]\n')
    engine = subprocess.Popen(
        [sys.executable, "-m", "evo", "--quiet", "run", str(config), "--workers", "2",
         "--db", str(tmp_path / "orphans.sqlite")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            assert engine.poll() is None, "the campaign ended before its workers started"
            workers = [pid for pid in children_of(engine.pid)
                       if "evonas" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                       or "multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
            time.sleep(0.2)
        assert len(workers) >= 2
        time.sleep(2)
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=30)

        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in workers if alive(pid)]
    finally:
        engine.kill()
        for pid in [*children_of(engine.pid), *workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_of_killed_engine_exit_quietly(tmp_path):
    # Short evaluations, so a worker is likely to finish one after the engine died and find
    # no engine to send its record to. Workers share the engine's stderr, so their output lands
    # in the same pipe, which stays open until the last of them exits.
    path = tmp_path / "killed.sqlite"
    engine = subprocess.Popen(
        [sys.executable, "-m", "evo", "--quiet", "run", "--preset", "smoke", "--executor", "process",
         "--workers", "2", "--population", "8", "--generations", "500", "--db", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_commit(path, engine)
        engine.send_signal(signal.SIGKILL)
        _, stderr = engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()

    assert engine.returncode == -signal.SIGKILL
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
