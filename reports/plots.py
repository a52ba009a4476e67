"""Pictures of a campaign: the Pareto front in two objectives, and hypervolume per generation.

Figures are built with matplotlib's object API (Figure and its Agg canvas), never with
pyplot, so no display is needed and the caller's pyplot state stays untouched.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from populations import Store

from .errors import ReportError

FIGURE_SIZE = (6.4, 4.8)  # inches
DPI = 100

# An axis switches to log scale when its largest positive value is more than this
# factor above its smallest (two decades), as FLOPs and parameter counts often are.
LOG_SCALE_RATIO = 100.0


def require_campaign(store: Store, campaign_id: int) -> dict:
    """Return the campaign row, or raise ReportError naming the ids that exist."""
    campaign = store.campaign(campaign_id)
    if campaign is None:
        known = ", ".join(str(row["id"]) for row in store.campaigns()) or "none"
        raise ReportError(f"campaign id {campaign_id!r} not found in {store.path}. Campaign ids there: {known}")
    return campaign


def axis_label(store: Store, objective: str) -> str:
    """Return an axis label for an objective: its name and, when declared, its unit."""
    unit = store.objectives()[objective].unit
    return f"{objective} ({unit})" if unit else objective


def _require_objective(store: Store, name: str) -> None:
    names = store.objective_names()
    if name not in names:
        raise ReportError(f"unknown objective {name!r} in {store.path}. Objectives there: {', '.join(names)}")


def _wants_log_scale(values: pd.Series) -> bool:
    if len(values) == 0 or (values <= 0).any():
        return False
    return float(values.max()) / float(values.min()) > LOG_SCALE_RATIO


def nondominated_order(
    xs: Sequence[float], ys: Sequence[float], *, x_maximize: bool, y_maximize: bool
) -> list[int]:
    """Return the positions of the points that no other point dominates, sorted by x.

    A point dominates another when it is at least as good in both objectives and
    better in one. Of several identical points only the first is kept.
    """
    x_sign = -1.0 if x_maximize else 1.0
    y_sign = -1.0 if y_maximize else 1.0
    # Sweep in order of increasing signed x. Every earlier point is at least as good
    # in x, so a point is non-dominated only if its signed y beats all of theirs.
    order = sorted(range(len(xs)), key=lambda i: (x_sign * xs[i], y_sign * ys[i]))
    nondominated = []
    best_y = math.inf
    for position in order:
        if y_sign * ys[position] < best_y:
            nondominated.append(position)
            best_y = y_sign * ys[position]
    return sorted(nondominated, key=lambda i: xs[i])


def _empty_message(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="0.4")


def front_figure(store: Store, campaign_id: int, *, x: str = "flops", y: str = "accuracy") -> Figure:
    """Draw every scored individual of a campaign in objectives x and y, front highlighted.

    Grey points are all individuals with a value of both objectives from an `ok` or
    `cached` evaluation (see Store.evaluations(latest=True)). Coloured points are the
    front stored with the last committed generation. Its members that are
    non-dominated in x and y alone are joined by a staircase that bounds the region
    they dominate, when both directions are declared. For a campaign without scored
    individuals, the figure shows a note in place of points.
    """
    campaign = require_campaign(store, campaign_id)
    _require_objective(store, x)
    _require_objective(store, y)
    objectives = store.objectives()

    with store.snapshot():
        scored = store.evaluations(campaign_id, latest=True).dropna(subset=[x, y])
        front = store.front(campaign_id).dropna(subset=[x, y])

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    axes.set_xlabel(axis_label(store, x))
    axes.set_ylabel(axis_label(store, y))
    # parse_math=False: a campaign name with "$" must not be read as TeX.
    axes.set_title(f"{campaign['name']}: {y} against {x}", parse_math=False)

    if scored.empty:
        _empty_message(axes, "no individual has both objectives from an ok evaluation yet")
        return figure

    axes.scatter(scored[x], scored[y], s=14, color="0.65", label=f"evaluated ({len(scored)})")
    if not front.empty:
        generation = int(front["generation"].iloc[0])
        axes.scatter(
            front[x], front[y], s=36, color="tab:red", zorder=3,
            label=f"front of generation {generation} ({len(front)})",
        )
        x_direction, y_direction = objectives[x].direction, objectives[y].direction
        if x_direction is not None and y_direction is not None:
            staircase = nondominated_order(
                list(front[x]), list(front[y]),
                x_maximize=x_direction == "maximize", y_maximize=y_direction == "maximize",
            )
            # Between two front points the bound keeps the y of the point that is
            # better in x: the left one when x is minimised, the right one otherwise.
            axes.plot(
                front[x].iloc[staircase], front[y].iloc[staircase], color="tab:red", linewidth=1.2,
                drawstyle="steps-post" if x_direction == "minimize" else "steps-pre",
            )

    for values, set_scale in ((scored[x], axes.set_xscale), (scored[y], axes.set_yscale)):
        if _wants_log_scale(values):
            set_scale("log")
    axes.grid(True, color="0.9")
    axes.legend(loc="best", fontsize="small")
    return figure


def hypervolume_figure(store: Store, campaign_id: int) -> Figure:
    """Draw the hypervolume stored with each committed generation of a campaign.

    Generations committed without a hypervolume are skipped. For a campaign without
    any, the figure shows a note in place of the line.
    """
    campaign = require_campaign(store, campaign_id)
    generations = store.generations(campaign_id)
    recorded = generations.dropna(subset=["hypervolume"]) if not generations.empty else generations

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    axes.set_xlabel("generation")
    axes.set_ylabel("hypervolume of the front")
    axes.set_title(f"{campaign['name']}: hypervolume per generation", parse_math=False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if recorded.empty:
        _empty_message(axes, "no generation with a hypervolume committed yet")
        return figure

    axes.plot(recorded["number"], recorded["hypervolume"], marker="o", markersize=4, color="tab:blue")
    axes.grid(True, color="0.9")
    return figure


def save_figure(figure: Figure, out_path: str | os.PathLike[str]) -> Path:
    """Save a figure as PNG (or the format named by the file suffix) and return the path."""
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
    return path


def plot_front(
    store: Store, campaign_id: int, out_path: str | os.PathLike[str], *, x: str = "flops", y: str = "accuracy"
) -> Path:
    """Write front_figure() to out_path and return the path."""
    return save_figure(front_figure(store, campaign_id, x=x, y=y), out_path)


def plot_hypervolume(store: Store, campaign_id: int, out_path: str | os.PathLike[str]) -> Path:
    """Write hypervolume_figure() to out_path and return the path."""
    return save_figure(hypervolume_figure(store, campaign_id), out_path)
