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
    ``FRONT_METRICS`` not already shown. ``objectives`` may also name a stored metric such as
    ``params``. Raises LookupError when the generation is not committed and ValueError for a
    name that was not measured.
    """
    campaign = store.campaign(campaign_id)
    front = store.front(campaign_id, generation)
    if front.empty:
        raise LookupError(_missing_front_message(store, campaign, generation))
    campaign_objectives = list(campaign["config"]["search"]["objectives"])
    if objectives is not None:
        names = [name.strip() for name in objectives if name.strip()]
        if not names:
            raise ValueError(f"no objective given; choose from {', '.join(campaign_objectives)}")
    else:
        names = campaign_objectives

    individuals = store.individuals(campaign_id).set_index("id")
    latest = store.evaluations(campaign_id, latest=True).set_index("individual_id")
    member_metrics = {}
    for _, member in front.iterrows():
        ind_id = int(member["individual_id"])
        metrics = latest.loc[ind_id, "metrics"] if ind_id in latest.index else {}
        member_metrics[ind_id] = metrics if isinstance(metrics, dict) else {}

    # A name is read from the objective column when the campaign selects on it, else from the
    # metrics each evaluation stores (params and flops are always there, for example).
    available = set(campaign_objectives) | {key for m in member_metrics.values() for key in m
                                            if isinstance(m[key], (int, float))}
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} not measured in campaign {campaign['name']!r}; "
            f"available: {', '.join(sorted(available))}"
        )

    rows = []
    for _, member in front.iterrows():
        ind_id = int(member["individual_id"])
        metrics = member_metrics[ind_id]
        row = {"individual_id": ind_id, "generation": int(individuals.loc[ind_id, "generation"]),
               "origin": individuals.loc[ind_id, "origin"]}
        for name in names:
            row[name] = member[name] if name in campaign_objectives else metrics.get(name)
        for metric in FRONT_METRICS:
            if metric not in names:
                row[metric] = metrics.get(metric)
        rows.append(row)
    table = pd.DataFrame(rows)
    first = names[0]
    declared = store.objectives().get(first)
    maximize = first.endswith("accuracy") if declared is None else declared.direction == "maximize"
    ascending = not maximize
    return table.sort_values(first, ascending=ascending).reset_index(drop=True)


def _missing_front_message(store, campaign: dict, generation: int | None) -> str:
    generations = store.generations(campaign["id"])
    name = campaign["name"]
    if generations.empty:
        return (f"campaign {name!r} in {store.path} has no committed generation yet; "
                f"wait for generation 0 to finish (evo status {store.path})")
    numbers = sorted(int(n) for n in generations["number"])
    number = numbers[-1] if generation is None else generation
    if number in numbers:
        statuses = store.evaluations(campaign["id"], latest=True)["status"].value_counts()
        counts = ", ".join(f"{count} {status}" for status, count in statuses.items())
        return (f"the front of generation {number} of campaign {name!r} is empty: no individual has a finite "
                f"value for every objective (latest evaluations: {counts or 'none'}); "
                f"see evo status {store.path} and the errors in the evaluations table")
    return (f"campaign {name!r} has no committed generation {number}; "
            f"committed generations are {numbers[0]} to {numbers[-1]}")
