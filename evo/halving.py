"""Successive halving on the training budget of a generation's children.

With ``[search] successive_halving = {rungs = R, eta = E}`` every child of a generation is
first trained for ``steps // E**(R-1)`` steps (rung 0), where ``steps`` is ``[budget] steps``.
The best ``len(rung) // E`` of them (at least one) are trained for about E times as many
steps, and so on, until rung R-1 trains for the full budget. "Best" is the order NSGA-II uses: Pareto rank
on the campaign's objectives with constraint domination, then crowding distance. Children
without finite objectives come last and are never promoted.

A promoted child trains again from scratch with the same seed (derived from the campaign seed
and its id), not from its rung's weights. So without weight inheritance its top-rung result
equals the result of a campaign without halving, and it shares that campaign's cache key. Each rung
is stored as its own evaluation row, lowest rung first, with ``rung`` and ``rung_steps`` in
its metrics and a cache key (``task_key``) that includes the rung's step budget. The latest
row of a child is therefore its highest rung, which selection and ``latest_evaluation`` use.

Each finished rung evaluation is staged at once with the child's rung history, so a resume
after a kill reuses every rung already trained. Only the generational algorithm supports
halving: the asynchronous loops have no batch of children to rank against each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from evo.config import ConfigError
from evo.executors import Job, pause_point
from evo.selection import fitness_order
from evo.messages import toml_value

if TYPE_CHECKING:
    from evo.campaign import Campaign, Individual

log = logging.getLogger(__name__)

SETTING_KEYS = ("rungs", "eta")
MAX_RUNGS = 10
SCORED = ("ok", "cached")


def parse_settings(value: Any, algorithm: str) -> dict[str, int]:
    """Validate ``[search] successive_halving`` and return it as ``{"rungs": R, "eta": E}``.

    An empty table (the default) turns halving off and returns {}.
    """
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"[search] successive_halving = {toml_value(value)} is invalid; use a table such as "
            f"{{ rungs = 3, eta = 3 }}, or leave it out to train every child on the full budget"
        )
    if not value:
        return {}
    unknown = [key for key in value if key not in SETTING_KEYS]
    if unknown:
        raise ConfigError(f"[search] successive_halving: unknown key {unknown[0]!r}. Valid keys: rungs, eta")
    missing = [key for key in SETTING_KEYS if key not in value]
    if missing:
        raise ConfigError(f"[search] successive_halving is missing {missing[0]}; for example {{ rungs = 3, eta = 3 }}")
    for key, low, high in (("rungs", 2, MAX_RUNGS), ("eta", 2, None)):
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int) or number < low or (high and number > high):
            allowed = f"an integer from {low} to {high}" if high else f"an integer of at least {low}"
            raise ConfigError(f"[search] successive_halving.{key} = {toml_value(number)} is invalid; use {allowed}")
    if algorithm != "generational":
        raise ConfigError(
            f"[search] successive_halving needs algorithm = \"generational\", not {algorithm!r}; "
            f"the asynchronous loops evaluate one child at a time, so there is no batch to halve"
        )
    return {"rungs": value["rungs"], "eta": value["eta"]}


def rung_steps(steps: int, settings: Mapping[str, int]) -> list[int]:
    """Return the training steps of each rung, lowest first. The last is ``steps`` itself."""
    rungs, eta = settings["rungs"], settings["eta"]
    return [steps // eta ** (rungs - 1 - rung) for rung in range(rungs)]


def check_budget(settings: Mapping[str, int], steps: int) -> None:
    """Raise ConfigError when the lowest rung of ``steps`` would train for less than one step."""
    lowest = rung_steps(steps, settings)[0]
    if lowest < 1:
        factor = settings["eta"] ** (settings["rungs"] - 1)
        raise ConfigError(
            f"[search] successive_halving = {{ rungs = {settings['rungs']}, eta = {settings['eta']} }} "
            f"trains the lowest rung for [budget] steps / {factor} = {steps / factor:.3g} steps; "
            f"raise [budget] steps to at least {factor} or use fewer rungs"
        )


def rung_task_key(task_key: str, rung: int, steps: list[int]) -> str:
    """Return the cache key of a rung: the campaign's key at the top rung, a key derived from it below."""
    if rung == len(steps) - 1:
        return task_key
    basis = {"task_key": task_key, "steps": steps[rung]}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def promote(campaign: Campaign, candidates: list[Individual], eta: int) -> list[Individual]:
    """Return the best ``len(candidates) // eta`` candidates (at least one) with scores, by id.

    Candidates are ranked by Pareto rank then crowding distance, ties in id order.
    """
    count = max(1, len(candidates) // eta)
    order = fitness_order(campaign._members(candidates))
    ranked = sorted(candidates, key=lambda child: (order[child.id], child.id))
    chosen = [child for child in ranked[:count] if child.record.get("status") in SCORED]
    return sorted(chosen, key=lambda child: child.id)


def evaluate_in_rungs(campaign: Campaign, children: list[Individual], number: int, executor) -> None:
    """Evaluate a generation's children by successive halving and set each child's record.

    A child's record is its highest rung's record, with the lower rungs' records in
    ``lower_rungs`` for ``rung_rows``.
    """
    settings = campaign.config.search.successive_halving
    steps = rung_steps(campaign.config.budget.steps, settings)
    history: dict[int, list[dict[str, Any]]] = {child.id: [] for child in children}
    for child in children:
        child.generation = number
        child.record = {}

    candidates = list(children)
    for rung in range(len(steps)):
        if rung > 0:
            candidates = promote(campaign, candidates, settings["eta"])
            if not candidates:
                break
        _evaluate_rung(campaign, candidates, number, rung, steps, history, executor)
        log.info("generation %d rung %d: %d %s evaluated at %d steps", number, rung, len(candidates),
                 "child" if len(candidates) == 1 else "children", steps[rung])

    for child in children:
        records = history[child.id]
        child.record = {**records[-1], "lower_rungs": records[:-1]}
        if child.record.get("status") in SCORED:
            campaign.known.setdefault(child.genome_hash, child.record)


def _evaluate_rung(campaign: Campaign, candidates: list[Individual], number: int, rung: int, steps: list[int],
                   history: dict[int, list[dict[str, Any]]], executor) -> None:
    """Score the candidates at one rung: from the cache, from staged records, or by training."""
    from evo.campaign import derived_seed

    config = campaign.config
    inherit = config.search.inherit_weights
    task_key = rung_task_key(campaign.task_key, rung, steps)
    budget = config.budget.replace(steps=steps[rung]).to_dict()
    parents = {ind.id: ind for ind in campaign.population}
    jobs = []
    for child in candidates:
        reuse = campaign._stored_evaluation(child.genome_hash, task_key)
        if reuse is not None:
            _add_rung(child, history, {**reuse, "status": "cached", "seconds": 0.0}, rung, steps)
            if inherit:
                campaign._reuse_weights(child)
            continue
        staged = campaign.staged.get((child.id, child.genome_hash))
        # Staged records carry no weights, so an inheriting campaign trains the child again,
        # with the same seed and parent and so the same result.
        if staged is not None and not inherit and len(staged.get("rungs", [])) > rung:
            _add_rung(child, history, staged["rungs"][rung], rung, steps)
            continue
        jobs.append(Job(child.id, child.genome.to_dict(), config.task.to_dict(), budget,
                        derived_seed(config.seed, child.id), campaign.objective_names,
                        inherit=campaign._inheritance(child, parents), keep_weights=inherit))

    by_id = {child.id: child for child in candidates}
    jobs = campaign.longest_first(jobs, by_id, executor)
    bar = tqdm(total=len(jobs), desc=f"generation {number} rung {rung}", unit="eval",
               disable=not campaign.progress, leave=False)
    try:
        with logging_redirect_tqdm():
            for key, record in executor.map(jobs):
                weights = record.pop("weights", None)
                if weights is not None:
                    campaign.weights[key] = weights
                child = by_id[key]
                _add_rung(child, history, record, rung, steps)
                # NOTE: the staged row of a child is replaced at each rung, so `evo status` counts a
                # generation as done once rung 0 has finished, while higher rungs may still run.
                staged_record = {**child.record, "rungs": history[key]}
                campaign.store.stage_evaluation(campaign.campaign_id, number, key, child.genome_hash, staged_record)
                log.debug("rung %d evaluation of individual %d finished and staged: %s", rung, key,
                          record.get("status"))
                pause_point("evaluation_staged")
                if record.get("status") != "ok":
                    log.info("individual %d at rung %d: %s: %s", key, rung, record.get("status"), record.get("error"))
                bar.update(1)
    finally:
        # Also on an error, so that its message starts on a line of its own.
        bar.close()


def _add_rung(child: Individual, history: dict[int, list[dict[str, Any]]], record: dict[str, Any], rung: int,
              steps: list[int]) -> None:
    """Mark a record with its rung and step budget, append it to the history and make it current."""
    record = {**record, "metrics": {**record.get("metrics", {}), "rung": rung, "rung_steps": steps[rung]}}
    history[child.id].append(record)
    child.record = record


def rung_rows(campaign: Campaign, children: list[Individual], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the evaluation rows to commit: each child's lower rungs, then its ``rows`` entry.

    ``rows`` has one row per child, in the order of ``children``, built from the child's
    highest rung. Every row gets the cache key of its rung.
    """
    steps = rung_steps(campaign.config.budget.steps, campaign.config.search.successive_halving)
    expanded = []
    for child, row in zip(children, rows):
        for lower in child.record.get("lower_rungs", []):
            scored = dataclasses.replace(child, record=lower)
            expanded.append({"individual_id": child.id, "status": lower.get("status", "failed"),
                             "objectives": {n: lower.get("objectives", {}).get(n) for n in campaign.objective_names},
                             "metrics": campaign._stored_metrics(scored), "error": lower.get("error"),
                             "seconds": lower.get("seconds", 0.0),
                             "task_key": rung_task_key(campaign.task_key, lower["metrics"]["rung"], steps)})
        rung = child.record.get("metrics", {}).get("rung", len(steps) - 1)
        expanded.append({**row, "task_key": rung_task_key(campaign.task_key, rung, steps)})
    return expanded
