"""Lineage of individuals: the steps that made them, and family-tree pictures.

A step is one parent-child link with the operator that made the child, and the change
of each objective from parent to child (child minus parent).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from populations import Store
from populations.queries import family, individual_values

from .errors import ReportError

LABEL_ALL_LIMIT = 60

OPERATOR_COLOURS = (
    "tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
)


def _require_individual(store: Store, individual_id: int) -> None:
    found = store.db.execute("SELECT 1 FROM individuals WHERE id = ?", [individual_id]).fetchone()
    if found is None:
        row = store.db.execute("SELECT MIN(id), MAX(id) FROM individuals").fetchone()
        known = "none" if row[0] is None else f"{row[0]} to {row[1]}"
        raise ReportError(f"individual id {individual_id} not found in {store.path}. Ids there: {known}")


def lineage_table(
    store: Store, individual_id: int, depth: int | None = None, *, descendants: bool = False
) -> pd.DataFrame:
    """Build the ancestry (or the descendants) of one individual, one row per step.

    Columns: depth, child_id, parent_id, operator, generation (of the individual farther
    from the start), then ``change_<objective>`` (child minus parent) for every objective
    that either end has, and the farther individual's own objective values. Rows are
    ordered by depth. Raises ReportError for an unknown id or a depth below 1.
    """
    if depth is not None and depth < 1:
        raise ReportError(f"depth {depth} is invalid. Give a depth of 1 or more, or none for the whole tree.")
    _require_individual(store, individual_id)
    with store.snapshot():
        links = family(store, [individual_id], depth, descendants=descendants)
        ids = set(links["child_id"]) | set(links["parent_id"]) | {individual_id}
        values = individual_values(store, ids).set_index("individual_id")
    objectives = [name for name in store.objective_names() if values[name].notna().any()]
    far_column = "child_id" if descendants else "parent_id"

    table = links[["depth", "child_id", "parent_id", "operator"]].copy()
    table["generation"] = values.loc[table[far_column], "generation"].to_numpy()
    for name in objectives:
        child = values.loc[table["child_id"], name].to_numpy()
        parent = values.loc[table["parent_id"], name].to_numpy()
        table[f"change_{name}"] = child - parent
    for name in objectives:
        table[name] = values.loc[table[far_column], name].to_numpy()
    return table.reset_index(drop=True)


def _tree_positions(nodes: pd.DataFrame, links: pd.DataFrame) -> dict[int, tuple[float, float]]:
    """Place individuals by generation (y) and by the mean x of their parents (x).

    Sorting each generation by its parents' mean position keeps families together, so
    edges stay short even with hundreds of individuals.
    """
    parents_of: dict[int, list[int]] = {}
    for child, parent in zip(links["child_id"], links["parent_id"]):
        parents_of.setdefault(int(child), []).append(int(parent))
    positions: dict[int, tuple[float, float]] = {}
    for generation, members in nodes.groupby("generation", sort=True):
        keys = []
        for individual_id in members["individual_id"]:
            placed = [positions[p][0] for p in parents_of.get(int(individual_id), []) if p in positions]
            keys.append((float(np.mean(placed)) if placed else float(individual_id) * 1e-9, int(individual_id)))
        keys.sort()
        count = len(keys)
        for rank, (_, individual_id) in enumerate(keys):
            positions[individual_id] = ((rank + 0.5) / count, float(generation))
    return positions


def family_tree_figure(
    store: Store,
    individual_ids: Iterable[int],
    *,
    depth: int | None = None,
    colour_by: str = "accuracy",
    title: str = "family tree",
    highlight: Iterable[int] = (),
) -> Figure:
    """Draw the ancestors of a set of individuals as a tree laid out by generation.

    Edges are coloured by the operator of the step, nodes by the `colour_by` objective.
    The start individuals, and those in `highlight`, get a black ring. Readable with
    several hundred individuals: ids are written next to the points only when there are
at most LABEL_ALL_LIMIT of them (otherwise next to the first LABEL_ALL_LIMIT starts).
    """
    starts = [int(individual_id) for individual_id in individual_ids]
    with store.snapshot():
        links = family(store, starts, depth)
        ids = set(links["child_id"]) | set(links["parent_id"]) | set(starts)
        nodes = individual_values(store, ids)
    positions = _tree_positions(nodes, links)

    generations = int(nodes["generation"].max() - nodes["generation"].min() + 1) if not nodes.empty else 1
    figure = Figure(figsize=(10, max(3.5, min(14.0, 0.55 * generations + 2))), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, parse_math=False)
    axes.set_ylabel("generation")
    axes.set_xticks([])
    axes.invert_yaxis()
    if nodes.empty:
        axes.text(0.5, 0.5, "no individual to draw", ha="center", va="center", transform=axes.transAxes)
        return figure

    operators = sorted(links["operator"].unique())
    colour = {name: OPERATOR_COLOURS[index % len(OPERATOR_COLOURS)] for index, name in enumerate(operators)}
    segments = [
        (positions[int(parent)], positions[int(child)])
        for child, parent in zip(links["child_id"], links["parent_id"])
    ]
    axes.add_collection(LineCollection(
        segments, colors=[colour[name] for name in links["operator"]], linewidths=0.9, alpha=0.75, zorder=1,
    ))

    xs = [positions[int(i)][0] for i in nodes["individual_id"]]
    ys = [positions[int(i)][1] for i in nodes["individual_id"]]
    size = 28 if len(nodes) < 150 else 12
    if colour_by in nodes.columns and nodes[colour_by].notna().any():
        points = axes.scatter(xs, ys, c=nodes[colour_by], cmap="viridis", s=size, zorder=2, edgecolors="none")
        figure.colorbar(points, ax=axes, label=colour_by, shrink=0.8)
    else:
        axes.scatter(xs, ys, color="0.4", s=size, zorder=2)

    ringed = set(starts) | {int(i) for i in highlight}
    ring_xy = [positions[i] for i in ringed if i in positions]
    if ring_xy:
        axes.scatter(*zip(*ring_xy), s=size * 3, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    # Ids stay legible up to a few dozen points. Past that only the starts get labels.
    labelled = list(positions) if len(positions) <= LABEL_ALL_LIMIT else starts[:LABEL_ALL_LIMIT]
    for individual_id in labelled:
        if individual_id in positions:
            x, y = positions[individual_id]
            axes.annotate(str(individual_id), (x, y), textcoords="offset points", xytext=(0, 7),
                          ha="center", fontsize=8)

    handles = [Line2D([], [], color=colour[name], label=name) for name in operators]
    if handles:
        axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize="small",
                    ncol=4, title="operator of the step")
    axes.set_xlim(0, 1)
    axes.margins(y=0.08)
    return figure


__all__ = ["family_tree_figure", "lineage_table"]
