"""Tables built from the population database, as pandas DataFrames."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

# Metrics shown next to the objectives: test accuracy is never used for selection, so it is
# reported apart from the validation accuracy in the `accuracy` column.
FRONT_METRICS = ("test_accuracy", "params", "flops")


def front_table(store, campaign_id: int, generation: int | None = None,
                objectives: Sequence[str] | None = None) -> pd.DataFrame:
    """Build the Pareto front of a generation (default: the last), one row per member.

    Columns: individual_id, generation created, origin, the objectives, then the metrics in
    ``FRONT_METRICS`` not already shown. Raises LookupError when nothing is committed yet and
    ValueError for an objective the database does not hold.
    """
    front = store.front(campaign_id, generation)
    if front.empty:
        when = "yet" if generation is None else f"for generation {generation}"
        raise LookupError(f"campaign {campaign_id} in {store.path} has no committed front {when}")
    campaign = store.campaign(campaign_id)
    names = list(objectives) if objectives else list(campaign["config"]["search"]["objectives"])
    unknown = [n for n in names if n not in front.columns]
    if unknown:
        raise ValueError(f"objective(s) {unknown} not in {store.path}; stored: {store.objective_names()}")

    individuals = store.individuals(campaign_id).set_index("id")
    latest = store.evaluations(campaign_id, latest=True).set_index("individual_id")
    rows = []
    for _, member in front.iterrows():
        ind_id = int(member["individual_id"])
        metrics = latest.loc[ind_id, "metrics"] if ind_id in latest.index else {}
        row = {"individual_id": ind_id, "generation": int(individuals.loc[ind_id, "generation"]),
               "origin": individuals.loc[ind_id, "origin"]}
        row.update({name: member[name] for name in names})
        for metric in FRONT_METRICS:
            if metric not in names:
                row[metric] = (metrics or {}).get(metric)
        rows.append(row)
    table = pd.DataFrame(rows)
    first = names[0]
    declared = store.objectives().get(first)
    ascending = declared is None or declared.direction != "maximize"
    return table.sort_values(first, ascending=ascending).reset_index(drop=True)
