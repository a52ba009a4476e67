"""``evo status DB [--watch]``: progress of a campaign, read while it runs.

Every number comes from committed generations, except the progress of the generation in
progress, which the engine writes to ``generation_progress`` and ``staged_evaluations``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import click

# Hypervolume values shown in the trend line, newest last.
TREND_LENGTH = 8


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def campaign_status(store, campaign: dict) -> dict[str, Any]:
    """Return Store.summary() plus progress, hypervolume_trend and eta_seconds.

    progress: the generation in progress (Store.progress()) with `running`, the number of
    evaluations that workers are running now, estimated as min(workers, planned - done).
    eta_seconds is an estimate: the mean time per committed generation times the
    generations left, minus the time the current generation has run. None before two
    generations are committed.
    """
    campaign_id = campaign["id"]
    summary = store.summary(campaign_id)
    generations = store.generations(campaign_id)
    progress = store.progress(campaign_id)
    if progress is not None:
        progress["running"] = max(0, min(progress["workers"], progress["planned"] - progress["done"]))
    summary["progress"] = progress
    summary["hypervolume_trend"] = [
        None if value != value else float(value) for value in generations["hypervolume"].tail(TREND_LENGTH)
    ]

    # A resume may raise the number of generations, and each commit stores the current one.
    target = int(campaign["config"].get("search", {}).get("generations", 0))
    if len(generations):
        target = int(generations["state"].iloc[-1].get("target_generations", target))
    finished_at = [_timestamp(text) for text in generations["finished_at"]]
    summary["eta_seconds"] = None
    if summary["status"] == "running" and len(finished_at) >= 2:
        per_generation = (finished_at[-1] - finished_at[0]) / (len(finished_at) - 1)
        left = target - int(generations["number"].iloc[-1])
        elapsed = time.time() - finished_at[-1]
        summary["eta_seconds"] = max(0.0, left * per_generation - elapsed)
    return summary


def _format_duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _print_status(summary: dict[str, Any]) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in summary["evaluations"].items() if v)
    click.echo(f"campaign     {summary['name']} ({summary['status']})")
    click.echo(f"generation   {summary['generation']}")
    click.echo(f"individuals  {summary['individuals']}")
    extra_rows = summary["evaluation_rows"] - sum(summary["evaluations"].values())
    rows = f" (and {extra_rows} earlier {'row' if extra_rows == 1 else 'rows'}: rungs or re-evaluations)" if extra_rows else ""
    click.echo(f"evaluations  {counts or 'none'}{rows}")
    progress = summary["progress"]
    if progress is not None:
        click.echo(f"in progress  generation {progress['number']}: {progress['done']} of {progress['planned']} done, "
                   f"{progress['running']} running, {progress['failed']} failed")
    if summary["hypervolume"] is not None:
        click.echo(f"hypervolume  {summary['hypervolume']:.4f}")
    trend = [value for value in summary["hypervolume_trend"] if value is not None]
    if len(trend) > 1:
        click.echo(f"trend        {' '.join(f'{value:.4f}' for value in trend)}")
    for name, best in summary["best"].items():
        click.echo(f"best {name:<9}  {best['value']:.6g} (individual {best['individual_id']})")
    if summary["eta_seconds"] is not None:
        click.echo(f"time left    about {_format_duration(summary['eta_seconds'])} (estimate)")


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--campaign", "campaign_name", help="Campaign name, when the file contains several.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--watch", is_flag=True, help="Refresh until the campaign stops running (Ctrl-C to quit).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.option("--count", type=click.IntRange(min=1), help="With --watch, stop after this many refreshes.")
def status(db, campaign_name, as_json, watch, interval, count) -> None:
    """Generation, evaluations done / running / failed, best per objective, hypervolume trend."""
    # Imported here because evo.cli imports this module to register the command.
    from evo.cli import _open_store, _pick_campaign

    refreshes = 0
    while True:
        with _open_store(db) as store:
            campaign = _pick_campaign(store, campaign_name)
            summary = campaign_status(store, campaign)
        if watch and not as_json:
            click.clear()
        if as_json:
            click.echo(json.dumps(summary, indent=None if watch else 2, default=str))
        else:
            _print_status(summary)
        refreshes += 1
        if not watch or summary["status"] != "running" or (count is not None and refreshes >= count):
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
