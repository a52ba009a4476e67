"""Operator probabilities of adaptive operator selection, as stored with each generation.

A campaign run with ``[search] adaptive_operators = true`` stores three entries under
``adaptive_operators`` in each generation's ``state`` JSON. ``used`` contains the probabilities
that generation drew its operators from, per group ``mutation`` and ``crossover``. ``rewards``
counts the children and credited children of each operator, and ``next`` is the state the next
generation starts from.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from populations import Store

from .plots import DPI, FIGURE_SIZE, require_campaign

PROBABILITY_COLUMNS = ["generation", "group", "operator", "probability", "children", "credited"]


def operator_probabilities(store: Store, campaign_id: int) -> pd.DataFrame:
    """Return one row per generation and operator: the probability used, children made and credited.

    The table is empty for a campaign that ran without adaptive operators.
    """
    require_campaign(store, campaign_id)
    generations = store.generations(campaign_id)
    rows = []
    for _, generation in generations.iterrows():
        state = generation["state"] if isinstance(generation["state"], dict) else {}
        stored = state.get("adaptive_operators")
        if not stored:
            continue
        rewards = stored.get("rewards") or {}
        for group, probabilities in sorted((stored.get("used") or {}).items()):
            for operator, probability in probabilities.items():
                counts = rewards.get(operator) or {}
                rows.append({"generation": int(generation["number"]), "group": group, "operator": operator,
                             "probability": float(probability), "children": int(counts.get("children", 0)),
                             "credited": int(counts.get("credited", 0))})
    return pd.DataFrame(rows, columns=PROBABILITY_COLUMNS)


def operator_probability_figure(table: pd.DataFrame, title: str = "operator probabilities") -> Figure:
    """Draw each mutation's probability per generation (crossovers, if adapted, dashed)."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    axes.set_xlabel("generation")
    axes.set_ylabel("probability of being chosen in its group")
    axes.set_title(title, parse_math=False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for (group, operator), rows in table.groupby(["group", "operator"], sort=True):
        axes.plot(rows["generation"], rows["probability"], marker="o", markersize=3,
                  linestyle="--" if group == "crossover" else "-", label=f"{operator} ({group})")
    if not table.empty:
        axes.legend(fontsize="x-small", ncol=2)
    axes.grid(True, color="0.9")
    return figure
