"""Eight reader processes poll a database while a campaign writes it."""

from __future__ import annotations

import json
import subprocess
import sys

from populations import Store

READERS = 8

# Runs in its own process: polls with the CLI commands and pandas until the campaign is
# finished, and prints the number of polls and every error message as JSON.
READER_SCRIPT = r"""
import json, sys, time, traceback
import pandas as pd
from click.testing import CliRunner
from evo.cli import main
from populations import Store

path, out, with_report = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
polls, errors, generations = 0, [], set()
runner = CliRunner()
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    try:
        with Store(path, readonly=True) as store:
            with store.snapshot():
                summary = store.summary(1)
                committed = store.db.execute(
                    "SELECT COUNT(*) FROM individuals WHERE generation <= COALESCE("
                    "(SELECT MAX(number) FROM generations), -1)").fetchone()[0]
                # Read in the same snapshot as the summary: a commit between two reads would
                # make their counts differ without either read seeing half a generation.
                frame = pd.read_sql_query("SELECT * FROM latest_evaluation", store.db.conn)
            # A reader sees whole generations only: every individual belongs to one.
            if summary["individuals"] != committed:
                errors.append(f"half a generation: {summary['individuals']} individuals, {committed} committed")
            if len(frame) != summary["individuals"]:
                errors.append(f"{len(frame)} evaluated of {summary['individuals']} individuals")
            generations.add(summary["generation"])
        commands = [["status", path], ["status", path, "--json"]]
        if summary["generation"] is not None:
            commands.append(["front", path])
        for command in commands:
            result = runner.invoke(main, ["--quiet", *command])
            if result.exit_code != 0:
                errors.append(f"{command[0]}: {result.output.strip()[-300:]}")
        if with_report and summary["generation"] is not None:
            result = runner.invoke(main, ["--quiet", "report", path, "--out", out])
            if result.exit_code != 0:
                errors.append(f"report: {result.output.strip()[-300:]} {result.exception!r}")
        polls += 1
        if summary["status"] == "finished":
            break
        time.sleep(0.2)
    except Exception as error:
        if "not found" in str(error) or "no campaign" in str(error) or "empty" in str(error):
            time.sleep(0.05)
            continue
        errors.append(traceback.format_exc(limit=3))
print(json.dumps({"polls": polls, "errors": errors, "generations": sorted(g for g in generations if g is not None)}))
"""


def test_eight_readers_while_campaign_writes(tmp_path):
    db = tmp_path / "smoke.sqlite"
    campaign = subprocess.Popen(
        [sys.executable, "-c", "from evo.cli import main; main()", "--quiet", "run", "--preset", "smoke",
         "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    readers = [
        subprocess.Popen([sys.executable, "-c", READER_SCRIPT, str(db), str(tmp_path / f"report{index}.html"),
                          "1" if index == 0 else "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(READERS)
    ]
    try:
        _, campaign_errors = campaign.communicate(timeout=300)
        outputs = [reader.communicate(timeout=300) for reader in readers]
    finally:
        for process in [campaign, *readers]:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert campaign.returncode == 0, campaign_errors[-2000:]
    for (output, errors), reader in zip(outputs, readers):
        assert reader.returncode == 0, errors[-2000:]
        result = json.loads(output)
        assert result["errors"] == []
        assert result["polls"] > 0
        assert result["generations"][-1] == 2


def test_status_after_raised_generations(tmp_path):
    from click.testing import CliRunner

    from evo.cli import main

    db = tmp_path / "smoke.sqlite"
    runner = CliRunner()
    assert runner.invoke(main, ["--quiet", "run", "--preset", "smoke", "--db", str(db), "--generations", "0"]).exit_code == 0
    assert runner.invoke(main, ["--quiet", "resume", str(db), "--generations", "1"]).exit_code == 0

    result = runner.invoke(main, ["status", str(db), "--json", "--watch", "--interval", "0.1", "--count", "3"])
    summary = json.loads(result.output)

    assert result.exit_code == 0, result.output
    assert summary["generation"] == 1
    assert summary["progress"] is None
    assert summary["eta_seconds"] is None
    assert len(summary["hypervolume_trend"]) == 2
    with Store(db, readonly=True) as store:
        states = list(store.generations(1)["state"])
    assert [state["target_generations"] for state in states] == [0, 1]
