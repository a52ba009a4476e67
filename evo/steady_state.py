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

Constraints and weight inheritance mean what they mean in the generational loop. Every
ranking (parent tournaments, the aging tournament, survivor truncation, the stored front)
uses Campaign._members, so a feasible member beats an infeasible one. With
``inherit_weights`` a child's job carries its first parent's trained weights, and each
commit stores the weights of the children that joined. A resume submits the children that
were in flight again with the same parent weights, read from the database when that parent
has left the population since.
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
        self.inherit = self.search.inherit_weights

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

    def _restored_parents(self) -> dict[int, Individual]:
        """Load the first parents of the children in flight that have left the population, with their weights.

        Such a parent was committed no later than the commit that stored the child in
        flight, because joins follow the order of making. So its weights are in the file
        if its evaluation was ok, or under its genome hash if it was a cached repeat.
        """
        campaign = self.campaign
        members = {ind.id for ind in campaign.population}
        former_ids = {child.parents[0] for child in self.in_flight if child.parents} - members
        if not former_ids:
            return {}
        rows = campaign.store.individuals(campaign.campaign_id).set_index("id")
        parents = []
        for parent_id in sorted(former_ids):
            row = rows.loc[parent_id]
            genome = row["genome"] if isinstance(row["genome"], dict) else json.loads(row["genome"])
            parents.append(Individual(int(parent_id), Genome.from_dict(genome), row["genome_hash"],
                                      int(row["generation"]), row["origin"]))
        campaign._load_weights(parents)
        without_weights = [parent.id for parent in parents if parent.id not in campaign.weights]
        if without_weights:
            log.info("no stored weights for parents %s, so their children in flight train from scratch",
                     without_weights)
        return {parent.id: parent for parent in parents}

    def _drop_unneeded_weights(self) -> None:
        """Keep only the weights that a later step can read: those of members, and of children not committed.

        A child in flight carries its parent's weights in its job, and a resume reads a
        parent that has left the population from the database, so a dead parent's weights
        are not needed in memory.
        """
        campaign = self.campaign
        needed = {ind.id for ind in campaign.population}
        needed.update(child.id for child in self.joined)
        needed.update(child.id for child in self.in_flight)
        campaign.weights = {ind_id: data for ind_id, data in campaign.weights.items() if ind_id in needed}

    def _in_flight_state(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "slot": self.slots[c.id], "genome": c.genome.to_dict(), "genome_hash": c.genome_hash,
                 "generation": c.generation, "origin": c.origin, "parents": list(c.parents), "operator": c.operator}
                for c in self.in_flight]

    # -- making children ------------------------------------------------------------------------

    def _members(self, individuals) -> list[Member]:
        return self.campaign._members(individuals)

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

    def _submit(self, child: Individual, former_parents: dict[int, Individual] | None = None) -> None:
        """Reuse a scored or staged evaluation of the child, or hand its job to the executor.

        former_parents are parents that have left the population, which a resume loads so
        that children in flight inherit the weights they inherited before the kill.
        """
        campaign = self.campaign
        reuse = campaign.known.get(child.genome_hash) or campaign._stored_evaluation(child.genome_hash)
        if reuse is not None and reuse.get("status") in SCORED:
            self.finished[child.id] = {**reuse, "status": "cached", "seconds": 0.0}
            if self.inherit:
                campaign._reuse_weights(child, campaign.population + self.joined)
            return
        staged = campaign.staged.get((child.id, child.genome_hash))
        # Staged records carry no weights, so an inheriting campaign trains such a child again,
        # with the same seed and parent weights, which gives the same result.
        if staged is not None and not (self.inherit and staged.get("status") == "ok"):
            self.finished[child.id] = staged
            return
        parents = {ind.id: ind for ind in campaign.population}
        parents.update(former_parents or {})
        self.executor.submit(Job(child.id, child.genome.to_dict(), campaign.config.task.to_dict(),
                                 campaign.config.budget.to_dict(), derived_seed(campaign.config.seed, child.id),
                                 campaign.objective_names, inherit=campaign._inheritance(child, parents),
                                 keep_weights=self.inherit))

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
        front_members = first_front(members)
        front = [m.id for m in front_members]
        volume = hypervolume(members, campaign.reference, front_members)
        children = [child for child in self.joined if child.generation == number]
        self.joined = [child for child in self.joined if child.generation != number]
        # Campaign._commit keeps only the members' weights, but finished children in flight
        # still need theirs when they join.
        in_flight_weights = {child.id: campaign.weights[child.id] for child in self.in_flight
                             if child.id in campaign.weights}
        campaign._commit(number, children, front, volume, None,
                         extra_state={"in_flight": self._in_flight_state(), "slots_used": slots_used,
                                      "next_individual_id": next_id})
        campaign.weights.update(in_flight_weights)
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
        former_parents = self._restored_parents() if self.inherit else {}
        for child in self.in_flight:
            self._submit(child, former_parents)
        self._drop_unneeded_weights()
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
                    weights = record.pop("weights", None)
                    if weights is not None:
                        campaign.weights[key] = weights
                    self.finished[key] = record
                    child = next(c for c in self.in_flight if c.id == key)
                    campaign.store.stage_evaluation(campaign.campaign_id, child.generation, key, child.genome_hash,
                                                    record)
                    log.debug("evaluation of individual %d finished and staged: %s", key, record.get("status"))
                    pause_point("evaluation_staged")
                self.in_flight.pop(0)
                oldest.record = self.finished.pop(oldest.id)
                self._join(oldest)
                if self.inherit:
                    self._drop_unneeded_weights()
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
