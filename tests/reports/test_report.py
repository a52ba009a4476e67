"""The HTML report and the folder report."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from populations import Store, StoreNotFoundError
from reports import ReportError, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTION_IDS = ("summary", "config", "fronts", "hypervolume", "best", "lineage", "operators", "motifs", "rules")


def _embedded_images(text):
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def test_html_report_self_contained(db_path, tmp_path, last_front):
    (path,) = write_report(db_path, tmp_path / "report.html", campaign="scored")

    text = path.read_text(encoding="utf-8")
    images = _embedded_images(text)
    assert len(images) >= 6
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in text
    assert "Pareto front of generation 1" in text
    assert "<tr><th>individual_id</th>" in text
    front_ids = re.findall(r'<tr><td class="number">(\d+)</td><td>hash-', text)
    assert [int(i) for i in front_ids] == last_front
    assert "src=\"http" not in text


def test_html_escapes_database_strings(db_path, tmp_path, script_name):
    (path,) = write_report(db_path, tmp_path / "report.html", campaign=2)

    text = path.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in text
    assert script_name not in text


def test_html_report_without_generations(db_path, tmp_path):
    (path,) = write_report(db_path, tmp_path / "empty.html", campaign=2)

    text = path.read_text(encoding="utf-8")
    assert "No generation committed yet" in text
    assert "none committed" in text
    assert len(_embedded_images(text)) >= 2
    assert "No scored individual yet" in text


def test_default_campaign_is_latest(db_path, tmp_path):
    (path,) = write_report(db_path, tmp_path / "report.html")

    assert "<h1>Campaign report: failed</h1>" in path.read_text(encoding="utf-8")


def test_folder_report(db_path, tmp_path, last_front):
    out = tmp_path / "report"

    paths = write_report(db_path, out, campaign=1)

    assert paths == [out / "front.png", out / "hypervolume.png", out / "front.csv"]
    assert (out / "front.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (out / "hypervolume.png").read_bytes().startswith(PNG_SIGNATURE)
    front = pd.read_csv(out / "front.csv")
    assert list(front["individual_id"]) == last_front
    assert list(front["accuracy"]) == [0.72, 0.70, 0.80, 0.90]


def test_folder_report_without_generations(db_path, tmp_path):
    out = tmp_path / "report"

    write_report(db_path, out, campaign=2)

    front = pd.read_csv(out / "front.csv")
    assert front.empty
    assert "individual_id" in front.columns


def test_report_errors(db_path, tmp_path):
    with pytest.raises(ReportError, match="campaign 'nope' not found .* Campaigns there: 'scored'"):
        write_report(db_path, tmp_path / "r.html", campaign="nope")
    with pytest.raises(StoreNotFoundError):
        write_report(tmp_path / "missing.db", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(ReportError, match="notes.txt is a file"):
        write_report(db_path, tmp_path / "notes.txt")


def test_report_of_file_without_campaigns(tmp_path):
    Store(tmp_path / "new.db").close()

    with pytest.raises(ReportError, match="contains no campaign yet"):
        write_report(tmp_path / "new.db", tmp_path / "r.html")


def test_html_escapes_operator_and_origin(tmp_path, script_name):
    path = tmp_path / "hostile.db"
    genome = {"format": 1, "output": 1, "head": "flatten",
              "nodes": [{"id": 1, "op": "linear", "params": {"width": 4}, "activation": "relu",
                         "merge": "add", "inputs": [0]}]}
    with Store(path) as store:
        campaign = store.create_campaign("hostile", {"search": {"objectives": ["accuracy", "flops"]}}, seed=0)
        for generation, individual_id in ((0, 1), (1, 2)):
            store.commit_generation(
                campaign, generation,
                individuals=[{"id": individual_id, "genome": genome, "genome_hash": f"h{individual_id}",
                              "generation": generation, "origin": script_name}],
                lineage=[{"child_id": 2, "parent_id": 1, "operator": script_name}] if generation else [],
                evaluations=[{"individual_id": individual_id, "status": "ok",
                              "objectives": {"accuracy": 0.5 + 0.1 * generation, "flops": 100.0}}],
                members=[individual_id], front=[individual_id], hypervolume=None, state={},
            )

    (report,) = write_report(path, tmp_path / "report.html")

    text = report.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in text
