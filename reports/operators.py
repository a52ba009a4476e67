"""Operator statistics: which mutations and crossovers pay off.

For each operator, over the parent-child links it made: how many children it made, how
often the child dominated its parent, how often the child entered a stored front, and
the mean change of each objective (child minus parent). A crossover child has two
parents, so it counts once per parent in the dominance rate and the mean changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sqlite_utils.db import quote_identifier

from populations import Store
from populations.queries import lineage_steps

from .plots import require_campaign


def campaign_objectives(store: Store, campaign_id: int) -> list[tuple[str, str]]:
    """Return (name, direction) of the objectives the campaign selected on.

    Those are the config's `search.objectives` when stored; otherwise every declared
    objective that has at least one value in the file.
    """
    campaign = require_campaign(store, campaign_id)
    declared = store.objectives()
    names = (campaign["config"].get("search") or {}).get("objectives")
    if not names:
        names = [
            name for name, objective in declared.items()
            if objective.direction is not None
            and store.db.execute(f"SELECT 1 FROM evaluations WHERE {quote_identifier(name)} IS NOT NULL LIMIT 1").fetchone()
        ]
    return [(name, declared[name].direction) for name in names if name in declared and declared[name].direction]


def dominates(better: np.ndarray, worse: np.ndarray, maximize: np.ndarray) -> np.ndarray:
    """Return, row by row, whether `better` Pareto-dominates `worse`.

    Both arrays are (rows, objectives). A row with NaN in either array never dominates.
    """
    signed_better = np.where(maximize, better, -better)
    signed_worse = np.where(maximize, worse, -worse)
    at_least = np.all(signed_better >= signed_worse, axis=1)
    strictly = np.any(signed_better > signed_worse, axis=1)
    finite = np.all(np.isfinite(better), axis=1) & np.all(np.isfinite(worse), axis=1)
    return at_least & strictly & finite


def steps_with_outcomes(store: Store, campaign_id: int) -> pd.DataFrame:
    """Return lineage_steps() with `dominates_parent` and ``change_<objective>`` columns added."""
    objectives = campaign_objectives(store, campaign_id)
    with store.snapshot():
        steps = lineage_steps(store, campaign_id)
    names = [name for name, _ in objectives]
    maximize = np.array([direction == "maximize" for _, direction in objectives])
    child = steps[[f"child_{name}" for name in names]].to_numpy(dtype=float)
    parent = steps[[f"parent_{name}" for name in names]].to_numpy(dtype=float)
    steps["dominates_parent"] = dominates(child, parent, maximize) if names else False
    for name in names:
        steps[f"change_{name}"] = steps[f"child_{name}"] - steps[f"parent_{name}"]
    return steps


def operator_statistics(store: Store, campaign_id: int, *, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Build one row per operator with its applications and outcomes over the whole campaign.

    Columns: operator, applications (children made), and links (parent-child links, more
    than applications for crossover). dominated_parent is the share of links whose child
    dominates the parent in the campaign's objectives. entered_front is the share of
    children in any stored front. Then ``mean_change_<objective>`` for each objective. `steps` is the
    output of steps_with_outcomes(), to reuse it; by default it is read from the store.
    """
    objectives = campaign_objectives(store, campaign_id)
    if steps is None:
        steps = steps_with_outcomes(store, campaign_id)
    columns = ["operator", "applications", "links", "dominated_parent", "entered_front"]
    columns += [f"mean_change_{name}" for name, _ in objectives]
    if steps.empty:
        return pd.DataFrame(columns=columns)
    grouped = steps.groupby("operator", sort=True)
    table = pd.DataFrame({
        "applications": grouped["child_id"].nunique(),
        "links": grouped.size(),
        "dominated_parent": grouped["dominates_parent"].mean(),
        "entered_front": steps.drop_duplicates("child_id").groupby("operator")["in_front"].mean(),
    })
    for name, _ in objectives:
        table[f"mean_change_{name}"] = grouped[f"change_{name}"].mean()
    return table.reset_index()[columns]


def operator_generations(store: Store, campaign_id: int, *, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Build one row per (generation, operator): applications and the share that dominated a parent."""
    if steps is None:
        steps = steps_with_outcomes(store, campaign_id)
    if steps.empty:
        return pd.DataFrame(columns=["generation", "operator", "applications", "dominated_parent"])
    grouped = steps.groupby(["generation", "operator"], sort=True)
    return pd.DataFrame({
        "applications": grouped["child_id"].nunique(),
        "dominated_parent": grouped["dominates_parent"].mean(),
    }).reset_index()


def operator_figure(store: Store, campaign_id: int, *, steps: pd.DataFrame | None = None) -> Figure:
    """Draw the operator statistics: outcome rates per operator, and applications per generation."""
    campaign = require_campaign(store, campaign_id)
    if steps is None:
        steps = steps_with_outcomes(store, campaign_id)
    table = operator_statistics(store, campaign_id, steps=steps)
    by_generation = operator_generations(store, campaign_id, steps=steps)

    figure = Figure(figsize=(11, 4.2), dpi=100)
    rates, usage = figure.subplots(1, 2)
    figure.suptitle(f"{campaign['name']}: operators", fontsize="medium")
    if table.empty:
        for axes in (rates, usage):
            axes.text(0.5, 0.5, "no lineage links yet", ha="center", va="center", transform=axes.transAxes)
        return figure

    positions = np.arange(len(table))
    rates.barh(positions - 0.2, table["dominated_parent"], height=0.4, label="child dominated a parent")
    rates.barh(positions + 0.2, table["entered_front"], height=0.4, label="child entered a front")
    rates.set_yticks(positions, table["operator"])
    rates.set_xlabel("share of applications")
    rates.set_xlim(0, 1)
    rates.legend(loc="lower right", fontsize="small")
    rates.grid(True, axis="x", color="0.9")

    counts = by_generation.pivot(index="generation", columns="operator", values="applications").fillna(0)
    bottom = np.zeros(len(counts))
    for operator in counts.columns:
        usage.bar(counts.index, counts[operator], bottom=bottom, label=operator)
        bottom += counts[operator].to_numpy()
    usage.set_xlabel("generation")
    usage.set_ylabel("applications")
    usage.legend(fontsize="x-small", loc="upper left")
    figure.tight_layout()
    return figure
