"""``evo status DB [--watch]``: progress of a campaign, read while it runs.

Every number comes from committed generations, except the progress of the generation in
progress, which the engine writes to ``generation_progress`` and ``staged_evaluations``.
Whether an engine runs the campaign comes from the run lock beside the file (evo.run_lock),
because the stored status stays `running` when the engine is killed.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime
from typing import Any

import click

from evo.messages import resume_command
from evo.run_lock import lock_holder

# Hypervolume values shown in the trend line, newest last.
TREND_LENGTH = 8
# Committed generations whose durations feed the time estimate, newest last.
ESTIMATE_WINDOW = 8


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def seconds_per_generation(numbers: list[int], finished_at: list[float]) -> float | None:
    """Estimate the seconds one generation takes from the commit times of recent generations.

    A generation's own start time is not stored, so its duration is the time since the
    previous generation's commit, counted only when the two numbers are consecutive. That
    gap includes any pause before a resume, so the estimate is the lower median of the last
    ESTIMATE_WINDOW gaps, which ignores pauses as long as they are fewer than half of them.
    None with fewer than two consecutive committed generations.
    """
    gaps = [
        later - earlier
        for number, earlier, later_number, later in zip(numbers, finished_at, numbers[1:], finished_at[1:])
        if later_number == number + 1
    ]
    if not gaps:
        return None
    return statistics.median_low(gaps[-ESTIMATE_WINDOW:])


def _engine_state(store, campaign: dict) -> dict[str, Any]:
    """Return lock_holder() of the file, with `running`: whether an engine runs this campaign."""
    engine = lock_holder(store.path)
    if engine["held"] is None:
        # The lock cannot be read, so trust the stored status.
        engine["running"] = campaign["status"] == "running"
    else:
        # One engine at a time may hold the file, and it may run another campaign of it.
        engine["running"] = bool(engine["held"]) and engine.get("campaign", campaign["name"]) == campaign["name"]
    return engine


def campaign_status(store, campaign: dict) -> dict[str, Any]:
    """Return Store.summary() plus engine, stored_status, progress, hypervolume_trend and eta_seconds.

    engine: lock_holder() of the file plus `running`. status is the stored status, except that
    a campaign stored as `running` that no engine runs is reported as `stopped`;
    stored_status keeps the stored value. progress: the generation in progress
    (Store.progress()) with `running`, the number of evaluations that workers run now,
    estimated as min(workers, planned - done); None when no engine runs the campaign.
    eta_seconds: an estimate of the time left (seconds_per_generation() times the generations
    left, minus the time the current generation has run), or None when no engine runs the
    campaign or fewer than two consecutive generations are committed.
    """
    campaign_id = campaign["id"]
    # The lock is tested before the file is read: an engine that finishes in between has
    # then stored `finished`, while testing it after could show a campaign that has just
    # finished as stopped without a clean exit.
    engine = _engine_state(store, campaign)
    # Read in one snapshot, so that the generation in progress follows the last committed one.
    with store.snapshot():
        summary = store.summary(campaign_id)
        generations = store.generations(campaign_id)
        progress = store.progress(campaign_id)
    summary["engine"] = engine
    summary["stored_status"] = summary["status"]
    if summary["status"] == "running" and not engine["running"]:
        summary["status"] = "stopped"
    running = summary["status"] == "running"

    if progress is not None:
        progress["running"] = max(0, min(progress["workers"], progress["planned"] - progress["done"]))
    summary["progress"] = progress if running else None
    summary["hypervolume_trend"] = [
        None if value != value else float(value) for value in generations["hypervolume"].tail(TREND_LENGTH)
    ]

    # A resume may raise the number of generations, and each commit stores the current one.
    target = int(campaign["config"].get("search", {}).get("generations", 0))
    if len(generations):
        target = int(generations["state"].iloc[-1].get("target_generations", target))
    summary["target_generations"] = target
    numbers = [int(number) for number in generations["number"]]
    per_generation = seconds_per_generation(numbers, [_timestamp(text) for text in generations["finished_at"]])
    summary["eta_seconds"] = None
    if running and per_generation is not None:
        left = target - numbers[-1]
        elapsed = 0.0
        if progress is not None and progress["number"] == numbers[-1] + 1:
            elapsed = time.time() - _timestamp(progress["started_at"])
        summary["eta_seconds"] = max(0.0, left * per_generation - elapsed)
    return summary


def _format_duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _status_text(summary: dict[str, Any]) -> str:
    if summary["stored_status"] == "running" and summary["status"] != "running":
        return f"stopped without a clean exit; continue with {resume_command(summary['db'])}"
    engine = summary["engine"]
    if summary["status"] == "running" and engine.get("pid") is not None:
        return f"running, PID {engine['pid']} on {engine.get('host', '?')}"
    return summary["status"]


def _print_status(summary: dict[str, Any]) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in summary["evaluations"].items() if v)
    click.echo(f"campaign     {summary['name']} ({_status_text(summary)})")
    if summary["generation"] is None:
        click.echo("generation   none committed yet")
    else:
        click.echo(f"generation   {summary['generation']} of {summary['target_generations']}")
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
        summary["db"] = db
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
