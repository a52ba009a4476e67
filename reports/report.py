"""A campaign report: one self-contained HTML file, or a folder of PNG pictures and a CSV front.

The HTML file embeds every picture as a data URI, so it can be mailed or archived alone.
Every string that comes from the database goes through html.escape().
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from datetime import datetime, timezone
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from genomes import Genome, GenomeError
from populations import Store
from populations.queries import individual_values

from .adaptive import operator_probabilities, operator_probability_figure
from .drawing import genome_svg
from .errors import ReportError
from .fronts import front_movement_figure, pairwise_front_figure
from .lineage import family_tree_figure, lineage_table
from .motifs import campaign_design_rules, campaign_motifs, ecdf_figure, load_campaign_genomes
from .operators import operator_figure, operator_statistics, steps_with_outcomes
from .plots import front_figure, hypervolume_figure, require_campaign, save_figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
nav a { margin-right: 0.8em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
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


SECTIONS = (
    ("summary", "Summary"),
    ("config", "Configuration"),
    ("fronts", "Pareto fronts"),
    ("hypervolume", "Hypervolume"),
    ("best", "Best individuals"),
    ("lineage", "Lineage of the best"),
    ("operators", "Operator statistics"),
    ("probabilities", "Operator probabilities"),
    ("motifs", "Motifs"),
    ("rules", "Design rules"),
)

# Tables in the report are cut to this many rows; the CLI commands print them whole.
TABLE_ROWS = 25
BEST_PICTURES = 4


def _frame_table(frame: pd.DataFrame, rows: int = TABLE_ROWS) -> str:
    if frame.empty:
        return "<p>Nothing to show yet.</p>"
    shown = frame.head(rows)
    body = [[None if pd.isna(value) else value for value in record] for record in shown.itertuples(index=False)]
    note = f"<p>First {rows} of {len(frame)} rows.</p>" if len(frame) > rows else ""
    return html_table(list(shown.columns), body) + note


def _image(figure: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_png_data_uri(figure)}">'


def _svg_image(svg: str, alt: str) -> str:
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{encoded}">'


def _section(key: str, body: str) -> str:
    title = dict(SECTIONS)[key]
    return f'<section id="{key}">\n<h2>{html.escape(title)}</h2>\n{body}\n</section>'


def _hypervolume_note(store: Store, campaign_id: int) -> str:
    last = store.last_generation(campaign_id)
    reference = (last or {}).get("state", {}).get("reference") if last else None
    text = (
        "Hypervolume of the first front in normalised objective space, with reference point "
        "(1, ..., 1). Accuracy becomes the error 1 - accuracy. A cost c with reference value r "
        "becomes log10(1 + c) / log10(1 + r), clipped at 1, so 0 is best."
    )
    if reference:
        pairs = ", ".join(f"{name} r = {format_value(value)}" for name, value in sorted(reference.items()))
        text += f" Reference values stored with the last generation: {pairs}."
    return f"<p>{html.escape(text)}</p>"


def _best_ids(store: Store, summary: dict, front: pd.DataFrame) -> list[int]:
    ids = [int(best["individual_id"]) for best in summary["best"].values()]
    ids += [int(i) for i in front.get("individual_id", [])]
    unique = list(dict.fromkeys(ids))
    return unique[:BEST_PICTURES]


def _best_section(store: Store, ids: list[int], shapes: tuple[Sequence[int], int] | None) -> str:
    if not ids:
        return "<p>No scored individual yet.</p>"
    parts = []
    values = individual_values(store, ids).set_index("individual_id")
    for individual_id in ids:
        row = values.loc[individual_id] if individual_id in values.index else None
        caption = f"individual {individual_id}"
        if row is not None:
            scores = ", ".join(
                f"{name} {format_value(row[name])}" for name in store.objective_names() if pd.notna(row[name])
            )
            caption += f" (generation {row['generation']}, {row['origin']}): {scores}"
        parts.append(f"<h3>{html.escape(caption)}</h3>")
        try:
            genome = Genome.from_json(json.dumps(store.genome(individual_id)))
            svg = genome_svg(genome, *(shapes or (None, None)), title=f"individual {individual_id}")
            parts.append(_svg_image(svg, f"genome of individual {individual_id}"))
        except (GenomeError, ValueError, TypeError, KeyError) as error:
            parts.append(f"<p>The genome cannot be drawn: {html.escape(str(error))}</p>")
    return "\n".join(parts)


def _selected_objectives(store: Store, campaign: dict, x: str, y: str) -> list[str]:
    names = (campaign["config"].get("search") or {}).get("objectives") or [y, x]
    known = store.objective_names()
    return [name for name in names if name in known]


def _probabilities_body(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>This campaign ran without adaptive operator selection ([search] adaptive_operators).</p>"
    note = ("<p>Probability of each operator within its group (mutation or crossover) in each generation, "
            "from adaptive pursuit. A child is credited when it dominates a parent or enters the front.</p>")
    last = table[table["generation"] == table["generation"].max()]
    return note + _image(operator_probability_figure(table), "operator probabilities per generation") + _frame_table(last)


def _html_document(store: Store, campaign: dict, x: str, y: str,
                   shapes: tuple[Sequence[int], int] | None = None) -> str:
    campaign_id = campaign["id"]
    with store.snapshot():
        summary = store.summary(campaign_id)
        front = store.front(campaign_id)
        front_images = [_image(front_figure(store, campaign_id, x=x, y=y),
                               f"{y} against {x} for every scored individual, front highlighted")]
        front_images.append(_image(front_movement_figure(store, campaign_id, x=x, y=y),
                                   "the front of every generation"))
        selected = _selected_objectives(store, campaign, x, y)
        if len(selected) > 2:
            front_images.append(_image(pairwise_front_figure(store, campaign_id, selected),
                                       "every pair of objectives"))
        hypervolume_image = _image(hypervolume_figure(store, campaign_id), "hypervolume per generation")
        best_ids = _best_ids(store, summary, front)
        best = _best_section(store, best_ids, shapes)
        if best_ids:
            lineage_body = _image(
                family_tree_figure(store, best_ids[:1], title=f"ancestors of individual {best_ids[0]}"),
                f"family tree of individual {best_ids[0]}",
            ) + _frame_table(lineage_table(store, best_ids[0]))
            front_ids = [int(i) for i in front["individual_id"]]
            lineage_body += _image(
                family_tree_figure(store, front_ids, title="ancestors of the last front", highlight=front_ids),
                "family tree of the last front",
            )
        else:
            lineage_body = "<p>No scored individual yet.</p>"
        steps = steps_with_outcomes(store, campaign_id)
        operators_body = _frame_table(operator_statistics(store, campaign_id, steps=steps)) + _image(
            operator_figure(store, campaign_id, steps=steps), "operator outcomes and applications per generation")
        probabilities = operator_probabilities(store, campaign_id)
        mined = load_campaign_genomes(store, campaign_id)
        motifs = campaign_motifs(store, campaign_id, mined=mined)
        rules = campaign_design_rules(store, campaign_id, mined=mined)
    motif_note = (
        f"<p>Front members: {int(mined.in_front.sum())} of {len(mined.genomes)} scored individuals"
        + (f" (a sample of {mined.sampled_from})" if mined.sampled else "")
        + ". p_value: exact one-sided permutation test (hypergeometric tail); p_adjusted: Holm's correction "
        f"over the {len(motifs)} motifs tested.</p>"
    )
    motifs_body = motif_note + _frame_table(motifs)
    rules_body = "<p>Spearman rank correlation of each feature with each objective, with 95% intervals.</p>"
    rules_body += _frame_table(rules)
    if mined.genomes:
        objective = "accuracy" if "accuracy" in mined.individuals.columns else y
        rules_body += _image(ecdf_figure(mined, motifs, objective), f"distribution of {objective} by feature")

    config_text = json.dumps(campaign["config"], indent=2, sort_keys=True, default=str)
    generation = summary["generation"]
    front_heading = "Pareto front" if generation is None else f"Pareto front of generation {generation}"
    bodies = {
        "summary": html_table(None, _summary_rows(store, summary)),
        "config": f"<details><summary>Resolved campaign config (JSON)</summary><pre>{html.escape(config_text)}</pre></details>",
        "fronts": "\n".join(front_images) + f"<h3>{html.escape(front_heading)}</h3>" + _front_section(front),
        "hypervolume": hypervolume_image + _hypervolume_note(store, campaign_id),
        "best": best,
        "lineage": lineage_body,
        "operators": operators_body,
        "probabilities": _probabilities_body(probabilities),
        "motifs": motifs_body,
        "rules": rules_body,
    }
    name = html.escape(campaign["name"])
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    contents = " ".join(f'<a href="#{key}">{html.escape(title)}</a>' for key, title in SECTIONS)
    sections = "\n".join(_section(key, bodies[key]) for key, _ in SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign report: {name}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<h1>Campaign report: {name}</h1>
<nav>{contents}</nav>
{sections}
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
    shapes: tuple[Sequence[int], int] | None = None,
) -> list[Path]:
    """Write a report of one campaign of a population database and return the written paths.

    If out ends in `.html`, writes one self-contained HTML file (pictures embedded as
    base64 PNG, a summary table and the front as a table). Otherwise out is a folder
    (created if missing) that receives front.png, hypervolume.png and front.csv.

    campaign is a name or id, by default the most recently created campaign. x and y
    are the objectives of the front picture. shapes is the task's (input_shape,
    num_classes); with it the genome pictures show each node's output shape. The database is opened read-only, so a
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
            document = _html_document(store, chosen, x, y, shapes)
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
