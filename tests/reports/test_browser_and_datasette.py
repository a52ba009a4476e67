"""The HTML report in headless Chromium, and the database in Datasette's in-process client."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess

import pytest

from reports import write_report

SECTION_IDS = ("summary", "config", "fronts", "hypervolume", "best", "lineage", "operators", "motifs", "rules")

# Appended to a copy of the report: logs an error for every image the browser could not decode.
IMAGE_CHECK = (
    '<script>window.addEventListener("load", () => { for (const image of document.images) {'
    ' if (!image.complete || image.naturalWidth === 0) { console.error("image not decoded: " + image.alt); }'
    ' else { console.log("image decoded"); } } });</script>'
)

# Chromium's log line for a console message: ...:INFO:CONSOLE:<line>] "<text>", source: <url> (<line>)
CONSOLE_LINE = re.compile(r':CONSOLE[:(]\d+\)?\] "(?P<text>.*)", source: ')

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Debian's chromium package is not installed (.ci/run installs it): apt-get install -y chromium")


def _open_in_chromium(page, profile):
    """Load a local HTML file in headless Chromium; return (rendered DOM, console messages)."""
    result = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    messages = [match["text"] for match in CONSOLE_LINE.finditer(result.stderr)]
    return result.stdout, messages


@pytest.fixture(scope="module")
def smoke_report(smoke_db, tmp_path_factory):
    (path,) = write_report(smoke_db, tmp_path_factory.mktemp("report") / "report.html", shapes=((1, 8, 8), 10))
    return path


def test_console_check_sees_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img alt="x" src="data:image/png;base64,AAAA">'
                    f'<script>console.error("planted error")</script>{IMAGE_CHECK}</body></html>', encoding="utf-8")

    _, messages = _open_in_chromium(page, tmp_path / "profile")

    assert "planted error" in messages
    assert "image not decoded: x" in messages


def test_report_in_chromium(smoke_report, tmp_path):
    checked = tmp_path / "checked.html"
    checked.write_text(smoke_report.read_text(encoding="utf-8").replace("</body>", IMAGE_CHECK + "</body>"),
                       encoding="utf-8")

    dom, plain_messages = _open_in_chromium(smoke_report, tmp_path / "profile-plain")
    _, checked_messages = _open_in_chromium(checked, tmp_path / "profile-checked")

    assert plain_messages == []
    assert [m for m in checked_messages if m != "image decoded"] == []
    assert checked_messages.count("image decoded") == smoke_report.read_text(encoding="utf-8").count("<img ")
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in dom


def test_datasette_serves_views(smoke_db):
    datasette_app = pytest.importorskip("datasette.app", reason="the datasette extra is not installed")

    async def fetch():
        datasette = datasette_app.Datasette([str(smoke_db)], settings={"default_page_size": 500})
        name = smoke_db.stem
        front = await datasette.client.get(f"/{name}/current_front.json?_shape=array")
        latest = await datasette.client.get(f"/{name}/latest_evaluation.json?_shape=array")
        individuals = await datasette.client.get(f"/{name}/individuals.json?_shape=array&_size=max")
        return front, latest, individuals

    front, latest, individuals = asyncio.run(fetch())

    assert front.status_code == 200
    assert latest.status_code == 200
    members = front.json()
    assert members
    assert {"individual_id", "accuracy", "flops"} <= set(members[0])
    assert len(latest.json()) == len(individuals.json())
