"""A campaign report: one self-contained HTML file, or a folder of PNG pictures and a CSV front."""

from __future__ import annotations

import base64
import html
import io
import math
import os
from datetime import datetime, timezone
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from populations import Store

from .errors import ReportError
from .plots import front_figure, hypervolume_figure, require_campaign, save_figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
"""


def _choose_campaign(store: Store, campaign: str | int | None) -> dict:
    if campaign is None:
        campaigns = store.campaigns()
        if not campaigns:
            raise ReportError(f"{store.path} contains no campaign yet. Run a campaign first.")
        return campaigns[-1]
    if isinstance(campaign, str):
        found = store.campaign(campaign)
        if found is None:
            names = ", ".join(repr(row["name"]) for row in store.campaigns()) or "none"
            raise ReportError(f"campaign {campaign!r} not found in {store.path}. Campaigns there: {names}")
        return found
    return require_campaign(store, campaign)


def format_value(value: Any) -> str:
    """Format a database value for a table cell: floats with 4 significant digits, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _cell(value: Any, tag: str = "td") -> str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    css = ' class="number"' if number and tag == "td" else ""
    return f"<{tag}{css}>{html.escape(format_value(value))}</{tag}>"


def html_table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    """Build an HTML table with every cell and header escaped."""
    lines = ["<table>"]
    if header is not None:
        lines.append("<tr>" + "".join(_cell(name, "th") for name in header) + "</tr>")
    for row in rows:
        lines.append("<tr>" + "".join(_cell(value) for value in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _summary_rows(store: Store, summary: dict) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("database", str(store.path)),
        ("campaign", summary["name"]),
        ("campaign id", summary["campaign_id"]),
        ("status", summary["status"]),
        ("seed", summary["seed"]),
        ("created at (UTC)", summary["created_at"]),
        ("last generation", "none committed" if summary["generation"] is None else summary["generation"]),
        ("hypervolume", summary["hypervolume"]),
        ("individuals", summary["individuals"]),
    ]
    counts = ", ".join(f"{status} {count}" for status, count in summary["evaluations"].items() if count)
    rows.append(("evaluations", counts or "none"))
    for name, best in summary["best"].items():
        value = f"{format_value(best['value'])} (individual {best['individual_id']})"
        rows.append((f"best {name} ({best['direction']})", value))
    return rows


def _png_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _front_section(front: pd.DataFrame) -> str:
    if front.empty:
        return "<p>No generation committed yet, so there is no front.</p>"
    # The heading names the generation, and objectives that no member has are noise.
    table = front.drop(columns=["campaign_id", "generation"]).dropna(axis="columns", how="all")
    rows = [[None if pd.isna(value) else value for value in record] for record in table.itertuples(index=False)]
    return html_table(list(table.columns), rows)


def _html_document(store: Store, campaign: dict, x: str, y: str) -> str:
    campaign_id = campaign["id"]
    with store.snapshot():
        summary = store.summary(campaign_id)
        front = store.front(campaign_id)
        front_image = _png_data_uri(front_figure(store, campaign_id, x=x, y=y))
        hypervolume_image = _png_data_uri(hypervolume_figure(store, campaign_id))
    name = html.escape(campaign["name"])
    generation = summary["generation"]
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    front_heading = "Pareto front" if generation is None else f"Pareto front of generation {generation}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign report: {name}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Campaign report: {name}</h1>
<h2>Summary</h2>
{html_table(None, _summary_rows(store, summary))}
<h2>{html.escape(front_heading)}</h2>
<img alt="{html.escape(f'{y} against {x} for every scored individual, front highlighted')}" src="{front_image}">
{_front_section(front)}
<h2>Hypervolume</h2>
<img alt="hypervolume per generation" src="{hypervolume_image}">
<p>Written {written} from {html.escape(str(store.path))}.</p>
</body>
</html>
"""


def write_report(
    db_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    campaign: str | int | None = None,
    x: str = "flops",
    y: str = "accuracy",
) -> list[Path]:
    """Write a report of one campaign of a population database and return the written paths.

    If out ends in `.html`, writes one self-contained HTML file (pictures embedded as
    base64 PNG, a summary table and the front as a table). Otherwise out is a folder
    (created if missing) that receives front.png, hypervolume.png and front.csv.

    campaign is a name or id, by default the most recently created campaign. x and y
    are the objectives of the front picture. The database is opened read-only, so a
    report can be made while the engine writes. A campaign without generations or
    scores gives a valid report with notes in place of the missing parts. Raises ReportError for an unknown
    campaign or objective, and populations.StoreError for a file that cannot be read.
    """
    out_path = Path(out)
    is_html = out_path.suffix.lower() == ".html"
    if not is_html and out_path.exists() and not out_path.is_dir():
        raise ReportError(f"{out_path} is a file. Give a folder, or a path ending in .html for one HTML file.")
    with Store(db_path, readonly=True) as store:
        chosen = _choose_campaign(store, campaign)
        if is_html:
            document = _html_document(store, chosen, x, y)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(document, encoding="utf-8")
            return [out_path]

        out_path.mkdir(parents=True, exist_ok=True)
        campaign_id = chosen["id"]
        with store.snapshot():
            front_path = save_figure(front_figure(store, campaign_id, x=x, y=y), out_path / "front.png")
            hypervolume_path = save_figure(hypervolume_figure(store, campaign_id), out_path / "hypervolume.png")
            csv_path = out_path / "front.csv"
            store.front(campaign_id).to_csv(csv_path, index=False)
    return [front_path, hypervolume_path, csv_path]
