"""Asynchronous algorithms: a new child as soon as a slot is free, with no generation barrier.

``steady_state`` is asynchronous NSGA-II: each child's parents win binary tournaments on
rank and crowding, and each evaluated child joins the population, which NSGA-II truncates
back to ``population``. ``aging`` is regularized evolution, from Real et al., "Regularized
Evolution for Image Classifier Architecture Search" (AAAI 2019). A parent wins a tournament
of ``tournament_size`` random members. With several objectives the winner is the best by
NSGA-II rank and crowding. Each evaluated child joins at the young end, and the oldest dies.

Determinism: up to ``concurrency`` children are in flight. Results join the population in
the order their children were made, and child ``k`` is made once children ``0 .. k -
concurrency`` have joined. So a child's parents never depend on which evaluation happened to
finish first, and serial, process and Dask runs give the same lineage. The price is that
one slow evaluation holds back the making of new children once ``concurrency`` more have
been made after it, so set ``concurrency`` above the number of workers when evaluation
times vary.

The database keeps its meaning: every ``offspring`` children that join form one committed
generation (members, front, hypervolume, state). Children in flight at a commit are stored
in the generation's state, and their finished evaluations in staged_evaluations, so a kill
loses nothing.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from evo.executors import Job, pause_point
from evo.selection import Member, first_front, hypervolume, select_parents, select_survivors
from genomes import Genome

from evo.campaign import NOVELTY_ATTEMPTS, Individual, derived_seed

if TYPE_CHECKING:
    from evo.campaign import Campaign

log = logging.getLogger(__name__)

SCORED = ("ok", "cached")


def child_rng(campaign_seed: int, index: int) -> np.random.Generator:
    """Return the generator of asynchronous child number ``index`` (0 for the first)."""
    return np.random.default_rng(np.random.SeedSequence([campaign_seed, index, 0x617379]))


class AsynchronousLoop:
    """Run the asynchronous phase of a campaign, after its generation 0."""

    def __init__(self, campaign: Campaign, executor):
        self.campaign = campaign
        self.executor = executor
        self.search = campaign.config.search
        self.per_generation = self.search.offspring_count
        self.in_flight: list[Individual] = []
        self.slots: dict[int, int] = {}
        self.finished: dict[int, dict[str, Any]] = {}
        self.joined: list[Individual] = []

    # -- state ----------------------------------------------------------------------------------

    def _restore(self) -> tuple[int, int]:
        """Load the children in flight at the last commit; return (slots used, next id)."""
        campaign = self.campaign
        state = campaign.store.last_generation(campaign.campaign_id)["state"]
        for data in state.get("in_flight", []):
            child = Individual(data["id"], Genome.from_dict(data["genome"]), data["genome_hash"], data["generation"],
                               data["origin"], tuple(data["parents"]), data["operator"])
            self.slots[child.id] = int(data["slot"])
            self.in_flight.append(child)
        slots_used = int(state.get("slots_used", 0))
        next_id = max(int(state.get("next_individual_id", 0)), campaign.store.next_individual_id())
        return slots_used, next_id

    def _in_flight_state(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "slot": self.slots[c.id], "genome": c.genome.to_dict(), "genome_hash": c.genome_hash,
                 "generation": c.generation, "origin": c.origin, "parents": list(c.parents), "operator": c.operator}
                for c in self.in_flight]

    # -- making children ------------------------------------------------------------------------

    def _members(self, individuals) -> list[Member]:
        return [Member(ind.id, ind.objectives, self.campaign.objective_names) for ind in individuals]

    def _pick_parent(self, rng: np.random.Generator) -> Individual:
        population = self.campaign.population
        if self.search.algorithm == "aging":
            size = min(self.search.tournament_size, len(population))
            sample = [population[int(i)] for i in rng.choice(len(population), size=size, replace=False)]
            winner = select_survivors(self._members(sample), 1)[0]
            return next(ind for ind in sample if ind.id == winner.id)
        by_id = {ind.id: ind for ind in population}
        return by_id[select_parents(self._members(population), 1, rng)[0].id]

    def _make_child(self, index: int, child_id: int, seen: set[str]) -> Individual | None:
        campaign = self.campaign
        rng = child_rng(campaign.config.seed, index)
        generation = 1 + index // self.per_generation
        first = self._pick_parent(rng)
        child = None
        for _ in range(NOVELTY_ATTEMPTS):
            if campaign.crossovers and rng.random() < self.search.crossover_rate:
                second = self._pick_parent(rng)
                operator = campaign.crossovers[int(rng.integers(len(campaign.crossovers)))]
                child = campaign._vary([first, second], operator, rng, child_id, generation, seen)
            else:
                child = campaign._vary([first], campaign._pick_mutation(rng), rng, child_id, generation, seen)
            if child is not None and child.genome_hash not in seen:
                break
        if child is None:
            log.debug("no operator applied to parent %d; no child number %d", first.id, index)
        return child

    def _submit(self, child: Individual) -> None:
        campaign = self.campaign
        reuse = campaign.known.get(child.genome_hash) or campaign._stored_evaluation(child.genome_hash)
        if reuse is not None and reuse.get("status") in SCORED:
            self.finished[child.id] = {**reuse, "status": "cached", "seconds": 0.0}
            return
        staged = campaign.staged.get((child.id, child.genome_hash))
        if staged is not None:
            self.finished[child.id] = staged
            return
        self.executor.submit(Job(child.id, child.genome.to_dict(), campaign.config.task.to_dict(),
                                 campaign.config.budget.to_dict(), derived_seed(campaign.config.seed, child.id),
                                 campaign.objective_names))

    # -- joining and committing -----------------------------------------------------------------

    def _join(self, child: Individual) -> None:
        campaign = self.campaign
        if child.record.get("status") in SCORED:
            campaign.known.setdefault(child.genome_hash, child.record)
        if self.search.algorithm == "aging":
            campaign.population = campaign.population[1:] + [child]
        else:
            pool = campaign.population + [child]
            by_id = {ind.id: ind for ind in pool}
            survivors = select_survivors(self._members(pool), self.search.population)
            campaign.population = [by_id[m.id] for m in survivors]
        self.joined.append(child)

    def _commit(self, number: int, slots_used: int, next_id: int, started: float) -> None:
        campaign = self.campaign
        members = self._members(campaign.population)
        front = [m.id for m in first_front(members)]
        volume = hypervolume(members, campaign.reference)
        children = [child for child in self.joined if child.generation == number]
        self.joined = [child for child in self.joined if child.generation != number]
        campaign._commit(number, children, front, volume, None,
                         extra_state={"in_flight": self._in_flight_state(), "slots_used": slots_used,
                                      "next_individual_id": next_id})
        pause_point("generation_committed")
        campaign._report(number, children, len(front), volume, time.perf_counter() - started)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, start: int) -> None:
        """Make, evaluate and join children until generation ``search.generations`` is committed.

        A slot is the place of one child in the order of making. Slot ``k`` belongs to
        generation ``1 + k // offspring``, and a slot where no operator applied stays empty.
        """
        campaign = self.campaign
        workers = getattr(self.executor, "workers", 1)
        total = self.search.generations * self.per_generation
        slots_used, next_id = self._restore()
        campaign.staged = campaign.store.staged_evaluations(campaign.campaign_id)
        seen = set(campaign.known) | set(campaign.store.individuals(campaign.campaign_id)["genome_hash"])
        seen |= {child.genome_hash for child in self.in_flight}
        for child in self.in_flight:
            self._submit(child)
        number = start
        started = time.perf_counter()
        campaign.store.start_generation(campaign.campaign_id, number, planned=self.per_generation, workers=workers)
        pause_point("generation_started")

        while number <= self.search.generations:
            # Slots before the oldest child in flight have joined the population.
            joined = self.slots[self.in_flight[0].id] if self.in_flight else slots_used
            while slots_used < total and slots_used < joined + self.search.concurrency:
                child = self._make_child(slots_used, next_id, seen)
                if child is not None:
                    seen.add(child.genome_hash)
                    self.slots[child.id] = slots_used
                    next_id += 1
                    self.in_flight.append(child)
                    self._submit(child)
                slots_used += 1
                if not self.in_flight:
                    joined = slots_used

            if joined < number * self.per_generation and self.in_flight:
                oldest = self.in_flight[0]
                while oldest.id not in self.finished:
                    key, record = self.executor.next_result()
                    self.finished[key] = record
                    child = next(c for c in self.in_flight if c.id == key)
                    campaign.store.stage_evaluation(campaign.campaign_id, child.generation, key, child.genome_hash,
                                                    record)
                    log.debug("evaluation of individual %d finished and staged: %s", key, record.get("status"))
                    pause_point("evaluation_staged")
                self.in_flight.pop(0)
                oldest.record = self.finished.pop(oldest.id)
                self._join(oldest)
                continue

            # Every slot of generation `number` has joined.
            pause_point("evaluations_done")
            self._commit(number, slots_used, next_id, started)
            number += 1
            if number <= self.search.generations:
                started = time.perf_counter()
                campaign.store.start_generation(campaign.campaign_id, number, planned=self.per_generation,
                                                workers=workers)
                pause_point("generation_started")
