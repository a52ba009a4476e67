import json
import sqlite3

import pytest
from click.testing import CliRunner

from evo.cli import main

from campaign_helpers import wait_for_commit


@pytest.fixture(scope="module")
def smoke_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "smoke.sqlite"
    result = CliRunner().invoke(main, ["--quiet", "run", "--preset", "smoke", "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *args])


def test_run_reports_where_results_are(smoke_db):
    assert smoke_db.exists()
    result = invoke("status", str(smoke_db))
    assert result.exit_code == 0
    assert "generation   2" in result.output
    assert "best accuracy" in result.output


def test_status_json(smoke_db):
    result = invoke("status", str(smoke_db), "--json")
    summary = json.loads(result.output)
    assert summary["status"] == "finished"
    assert summary["evaluations"]["ok"] + summary["evaluations"]["cached"] == summary["individuals"]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_front_formats(smoke_db, fmt):
    result = invoke("front", str(smoke_db), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "test_accuracy" in result.output


def test_front_json_matches_database(smoke_db):
    rows = json.loads(invoke("front", str(smoke_db), "--format", "json").output)
    connection = sqlite3.connect(smoke_db)
    stored = connection.execute("SELECT front FROM generations ORDER BY number DESC LIMIT 1").fetchone()[0]
    connection.close()
    assert sorted(r["individual_id"] for r in rows) == sorted(json.loads(stored))


def test_front_unknown_objective_is_user_error(smoke_db):
    result = invoke("front", str(smoke_db), "--objectives", "accuracy,beauty")
    assert result.exit_code == 1
    assert "beauty" in result.output


def test_front_of_earlier_generation(smoke_db):
    result = invoke("front", str(smoke_db), "--generation", "0")
    assert result.exit_code == 0


def test_report_folder_and_html(smoke_db, tmp_path):
    result = invoke("report", str(smoke_db), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "front.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "hypervolume.png").exists()
    result = invoke("report", str(smoke_db), "--out", str(tmp_path / "report.html"))
    assert result.exit_code == 0, result.output
    assert "<img" in (tmp_path / "report.html").read_text()


def test_missing_database_is_user_error(tmp_path):
    result = invoke("status", str(tmp_path / "nothing.sqlite"))
    assert result.exit_code == 1
    assert "nothing.sqlite" in result.output


def test_foreign_file_is_user_error_and_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database at all" * 10)
    before = path.read_bytes()
    result = invoke("front", str(path))
    assert result.exit_code == 1
    assert path.read_bytes() == before


def test_run_needs_config_or_preset():
    result = invoke("run")
    assert result.exit_code == 2


def test_bad_config_value_is_user_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\n[search]\npopulation = "many"\n')
    result = invoke("run", str(config), "--db", str(tmp_path / "x.sqlite"))
    assert result.exit_code == 1
    assert "population" in result.output


def test_resume_finished_campaign_with_more_generations(smoke_db):
    result = invoke("resume", str(smoke_db), "--generations", "3")
    assert result.exit_code == 0, result.output
    status = json.loads(invoke("status", str(smoke_db), "--json").output)
    assert status["generation"] == 3


def test_seeds_list_shows_paper_cnn():
    result = invoke("seeds", "list")
    assert result.exit_code == 0
    assert "mnist1d_cnn" in result.output
    assert "5,210" in result.output


@pytest.mark.parametrize("command", ["run", "resume", "status", "front", "report", "seeds"])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_interrupted_campaign_is_marked_stopped(tmp_path, signal_name):
    import signal
    import subprocess
    import sys

    path = tmp_path / "stopped.sqlite"
    process = subprocess.Popen([sys.executable, "-m", "evo", "--quiet", "run", "--preset", "smoke",
                                "--generations", "500", "--db", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_commit(path, process)
        process.send_signal(getattr(signal, signal_name))
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + getattr(signal, signal_name)  # 130 and 143, as a shell reports them
    assert "evo resume" in stderr
    summary = json.loads(invoke("status", str(path), "--json").output)
    assert summary["status"] == "stopped"


def test_front_shows_stored_metric_as_column(smoke_db):
    rows = json.loads(invoke("front", str(smoke_db), "--objectives", "accuracy,params", "--format", "json").output)
    assert rows
    assert all(isinstance(row["params"], int) and row["params"] > 0 for row in rows)


@pytest.mark.parametrize("objectives, message", [
    ("latency", "latency not measured in campaign 'smoke'"),
    ("", "no objective given"),
])
def test_front_rejects_unmeasured_objectives(smoke_db, objectives, message):
    result = invoke("front", str(smoke_db), "--objectives", objectives)
    assert result.exit_code == 1
    assert message in result.output


def test_front_generation_out_of_range_names_range(smoke_db):
    result = invoke("front", str(smoke_db), "--generation", "99")
    assert result.exit_code == 1
    assert "committed generations are 0 to" in result.output


@pytest.mark.parametrize("command", ["status", "front"])
def test_damaged_table_gives_one_line(smoke_db, tmp_path, command):
    import shutil

    damaged = tmp_path / "damaged.sqlite"
    connection = sqlite3.connect(smoke_db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'evaluations'").fetchone()[0]
    connection.close()
    shutil.copy(smoke_db, damaged)
    # Opening reads only sqlite_master and meta, so the damage shows up in the command's reads.
    with damaged.open("r+b") as file:
        file.seek(page_size * (root - 1))
        file.write(b"\xff" * page_size)

    result = invoke(command, str(damaged))

    assert result.exit_code == 1
    assert "the population database is damaged" in result.output
    assert "Traceback" not in result.output
