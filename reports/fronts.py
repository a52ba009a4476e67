"""More front pictures: a pairwise matrix for several objectives, and the front's movement over generations."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib import colormaps
from matplotlib.figure import Figure

from populations import Store
from populations.queries import fronts

from .errors import ReportError
from .plots import _wants_log_scale, axis_label, nondominated_order, require_campaign


def _require_objectives(store: Store, names: Sequence[str]) -> None:
    known = store.objective_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ReportError(f"unknown objective(s) {unknown} in {store.path}. Objectives there: {', '.join(known)}")


def pairwise_front_figure(store: Store, campaign_id: int, objectives: Sequence[str]) -> Figure:
    """Draw every pair of objectives in a matrix: all scored individuals in grey, the last front in red.

    The diagonal shows a histogram of each objective over the scored individuals.
    """
    campaign = require_campaign(store, campaign_id)
    _require_objectives(store, objectives)
    with store.snapshot():
        scored = store.evaluations(campaign_id, latest=True)
        front = store.front(campaign_id)
    count = len(objectives)
    figure = Figure(figsize=(2.6 * count + 1, 2.6 * count + 0.5), dpi=100)
    grid = figure.subplots(count, count, squeeze=False)
    figure.suptitle(f"{campaign['name']}: objectives pairwise, last front in red", parse_math=False)
    for row, y in enumerate(objectives):
        for column, x in enumerate(objectives):
            axes = grid[row][column]
            if row == column:
                values = scored[x].dropna()
                axes.hist(values, bins=20, color="0.6")
            else:
                both = scored.dropna(subset=[x, y])
                axes.scatter(both[x], both[y], s=6, color="0.65")
                members = front.dropna(subset=[x, y])
                axes.scatter(members[x], members[y], s=14, color="tab:red", zorder=3)
                if _wants_log_scale(both[x]):
                    axes.set_xscale("log")
                if _wants_log_scale(both[y]):
                    axes.set_yscale("log")
            if row == count - 1:
                axes.set_xlabel(axis_label(store, x), fontsize="small")
            if column == 0:
                axes.set_ylabel(axis_label(store, y), fontsize="small")
            axes.tick_params(labelsize="x-small")
    figure.tight_layout()
    return figure


def front_movement_figure(store: Store, campaign_id: int, *, x: str = "flops", y: str = "accuracy") -> Figure:
    """Draw the stored front of every generation in two objectives, coloured from early to late.

    Each generation's front members that are non-dominated in x and y are joined by a
    line in x order, so the picture shows how the trade-off curve moved.
    """
    campaign = require_campaign(store, campaign_id)
    _require_objectives(store, [x, y])
    objectives = store.objectives()
    history = fronts(store, campaign_id).dropna(subset=[x, y])
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_subplot()
    axes.set_xlabel(axis_label(store, x))
    axes.set_ylabel(axis_label(store, y))
    axes.set_title(f"{campaign['name']}: front of each generation", parse_math=False)
    if history.empty:
        axes.text(0.5, 0.5, "no committed front with both objectives yet", ha="center", va="center",
                  transform=axes.transAxes)
        return figure

    generations = sorted(history["generation"].unique())
    palette = colormaps["viridis"]
    x_max = objectives[x].direction == "maximize"
    y_max = objectives[y].direction == "maximize"
    for index, generation in enumerate(generations):
        members = history[history["generation"] == generation]
        colour = palette(index / max(1, len(generations) - 1))
        order = nondominated_order(list(members[x]), list(members[y]), x_maximize=x_max, y_maximize=y_max)
        axes.plot(members[x].iloc[order], members[y].iloc[order], marker="o", markersize=3, linewidth=1,
                  color=colour, label=f"generation {generation}" if index in (0, len(generations) - 1) else None)
    if _wants_log_scale(history[x]):
        axes.set_xscale("log")
    if _wants_log_scale(history[y]):
        axes.set_yscale("log")
    axes.grid(True, color="0.9")
    axes.legend(fontsize="small", loc="best")
    return figure


__all__ = ["front_movement_figure", "pairwise_front_figure"]
