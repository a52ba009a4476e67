"""The generational NSGA-II loop: seed, vary, evaluate, select, commit, repeat.

Randomness is derived, never shared: generation ``g`` draws from a generator seeded with
(campaign seed, g), and the evaluation of individual ``i`` is seeded with (campaign seed, i).
So a campaign resumed after generation ``g`` continues exactly as the uninterrupted run would,
and the number or kind of workers does not change any result.

Finished evaluations are staged in the database (``Store.stage_evaluations``) within
``stage_interval`` seconds, several in one transaction when they finish quickly, and the
generation commit moves them in. A generation interrupted by a kill is rebuilt from the
same RNG and the same ids on resume, and its staged evaluations are reused by individual id
and genome hash, so none runs twice. The evaluations that finished in the last
``stage_interval`` seconds before a kill were not staged yet, and the resume runs them
again with the same seeds, which gives the same records. Successive halving (evo.halving)
and the asynchronous loops (evo.steady_state) stage each evaluation at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import random
import sqlite3
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import orjson
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import fitness
from evo import adaptive, halving, transfer
from evo.config import TRANSFER_PREFIX, CampaignConfig, ConfigError
from evo.executors import Job, make_executor, pause_point
from evo.hash_filter import HashFilter
from evo.run_lock import RunLock
from evo.selection import (Member, constraint_values, constraint_violation, first_front, fitness_order, hypervolume,
                           reference_values, select_parents, select_survivors)
from genomes import Genome, SearchSpace
from genomes.zoo import build_seed
from genomes.ops import COST_MODEL_VERSION
from genomes.shapes import count_flops
from genomes import GenomeError, InnovationCounter
from operators import Operator, get_operator
from populations import Store, StoreError
from populations.records import EncodedJSON, encode_metrics, fast_json, plain_json_value
from populations.weights import WeightsNotFoundError, load_weights, save_weights, weights_by_hash

log = logging.getLogger(__name__)

# Tries to find a child whose canonical hash is new before a repeat is accepted (and reuses
# the stored evaluation, status "cached").
NOVELTY_ATTEMPTS = 20

# Seconds that finished evaluations may wait in memory before they are staged together.
# A commit took 0.1 to 0.3 ms on a 2-core machine, so this bounds the staging cost to well
# under 0.1% of the wall time. A kill loses at most this much finished evaluation work per
# worker, which the resume runs again.
STAGE_INTERVAL = 0.5

# Settings that may differ when a stored campaign is continued: how long and where it runs.
RESUMABLE_CHANGES = {("search", "generations"), ("run", "db"), ("run", "executor"), ("run", "workers"),
                     ("run", "evaluation_timeout"), ("run", "retries")}


@dataclass
class Individual:
    id: int
    genome: Genome
    genome_hash: str
    generation: int
    origin: str
    parents: tuple[int, ...] = ()
    operator: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    # True when variation found no scored individual of this campaign with the same hash,
    # so the evaluation can skip that lookup (nothing is committed in between).
    unscored: bool = False

    @property
    def objectives(self) -> dict[str, float]:
        return self.record.get("objectives", {})


class ScoredGenomes:
    """The campaign's scored genomes by canonical hash, with the record that a repeat reuses.

    Committed evaluations are looked up in the database (Store.scored_evaluation), so memory
    stays flat however long the campaign runs. Records of children that are not committed
    yet stay in memory until the commit that stores them (``forget_committed``). Of two
    scored individuals with one hash, the one with the lower id wins, as with a dict filled
    by setdefault() in the order of evaluation.
    """

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.pending: dict[str, dict[str, Any]] = {}

    def get(self, genome_hash: str, default: dict[str, Any] | None = None) -> dict[str, Any] | None:
        record = self.pending.get(genome_hash)
        if record is None:
            record = self.campaign._committed_record(genome_hash)
        return default if record is None else record

    def __contains__(self, genome_hash: object) -> bool:
        return isinstance(genome_hash, str) and self.get(genome_hash) is not None

    def setdefault(self, genome_hash: str, record: dict[str, Any]) -> dict[str, Any]:
        existing = self.get(genome_hash)
        if existing is not None:
            return existing
        self.pending[genome_hash] = record
        return record

    def remember(self, genome_hash: str, record: dict[str, Any]) -> None:
        """Keep the record of a child scored since the hash was last looked up, without a query.

        Call it only when no commit happened between the lookup and now. Then the file has
        no record of the hash, or the child's record copies the objectives and metrics of
        the one the file has, so either record gives repeats the same values.
        """
        self.pending.setdefault(genome_hash, record)

    def __iter__(self) -> Iterator[str]:
        """Yield every scored hash once. This reads the whole campaign, so avoid it in a loop."""
        hashes = dict.fromkeys(self.pending)
        campaign = self.campaign
        if campaign.campaign_id is not None:
            latest = campaign.store.evaluations(campaign.campaign_id, latest=True)
            scored = latest[latest["status"].isin(("ok", "cached"))]
            hashes.update(dict.fromkeys(scored["genome_hash"]))
        return iter(hashes)

    def forget_committed(self, children: Sequence[Individual]) -> None:
        """Drop the in-memory records of the hashes that scored committed children put in the file.

        A hash whose committed children all failed keeps its record, which may belong to a
        child that is still in flight.
        """
        for child in children:
            if child.record.get("status") in ("ok", "cached"):
                self.pending.pop(child.genome_hash, None)


def derived_seed(*parts: int) -> int:
    """Derive a 63-bit seed from integers, via numpy's SeedSequence (well mixed, order-sensitive)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def generation_rng(campaign_seed: int, generation: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([campaign_seed, generation, 0x6E6173]))


def seed_global_rngs(campaign_seed: int, generation: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs from (campaign seed, generation).

    The engine draws from generation_rng() only, but a library that uses a global RNG
    then also behaves the same in a straight run and in a resumed one.
    """
    seed = derived_seed(campaign_seed, generation, 0x676C6F)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def global_rng_states() -> str:
    """Return Python's, NumPy's and torch's global RNG states as compressed JSON text (base64)."""
    numpy_state = np.random.get_state(legacy=False)
    states = {
        "python": random.getstate(),
        "numpy": {**numpy_state, "state": {k: np.asarray(v).tolist() for k, v in numpy_state["state"].items()}},
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
    }
    # Level 1 compresses the 21 KB of JSON to 11.7 KB in 0.2 ms. The default level 6 saves
    # another 0.4 KB but takes 0.65 ms, and this runs at every commit. orjson encodes the
    # 21 KB in a third of the time json.dumps takes. The states contain only ints, strings and
    # lists, which both write alike.
    return base64.b64encode(zlib.compress(orjson.dumps(states), 1)).decode()


def mark_stopped(store: Store, name: str) -> None:
    """Set the named campaign's status to ``stopped`` if it is ``running``. Hold its run lock to call it."""
    campaign = store.campaign(name)
    if campaign is not None and campaign["status"] == "running":
        store.set_campaign_status(campaign["id"], "stopped")


def plain_state(state: dict[str, Any]) -> dict[str, Any]:
    """Return the generation state as plain JSON data: NumPy values as Python ones, tuples as lists.

    The engine keeps using the returned dict, so a resumed run, which reads the state back
    from the file, gets the same values as the run that wrote it. The generator state contains
    128-bit integers, which orjson rejects, so the json module encodes most states.
    """
    text = fast_json(state)
    return json.loads(json.dumps(state, default=plain_json_value)) if text is None else orjson.loads(text)


def restore_global_rng_states(encoded: str) -> None:
    """Set the global RNG states from the text that global_rng_states() returned."""
    states = json.loads(zlib.decompress(base64.b64decode(encoded)))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(states["numpy"])
    torch_state = np.frombuffer(base64.b64decode(states["torch"]), dtype=np.uint8).copy()
    torch.set_rng_state(torch.from_numpy(torch_state))


def resolved_config(stored: dict[str, Any]) -> dict[str, Any]:
    """Fill in the defaults of settings added since a stored config was written.

    A stored config that no longer loads (a setting was removed) is returned as it is,
    so that config_differences() names the setting.
    """
    try:
        return CampaignConfig.from_dict(stored).to_dict()
    except ConfigError:
        return stored


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ, ignoring the settings that a resume may change."""
    stored = resolved_config(stored)
    differences = []
    for section in sorted(set(stored) | set(current)):
        old, new = stored.get(section), current.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if (section, key) not in RESUMABLE_CHANGES and old.get(key) != new.get(key):
                    differences.append(f"{section}.{key}: stored {old.get(key)!r}, now {new.get(key)!r}")
        elif old != new:
            differences.append(f"{section}: stored {old!r}, now {new!r}")
    return differences


class Campaign:
    """One campaign bound to a store. ``run()`` starts it or continues it from the last commit."""

    def __init__(self, config: CampaignConfig, store: Store, *, progress: bool = True,
                 observers: Sequence[Callable[[dict[str, Any]], None]] = ()):
        self.config = config
        self.store = store
        self.progress = progress
        self.observers = list(observers)
        self.input_shape, self.num_classes = fitness.task_shapes(config.task)
        space_settings = {k: v for k, v in config.to_dict()["space"].items()}
        try:
            self.space = SearchSpace(self.input_shape, self.num_classes, **space_settings)
        except ValueError as error:
            raise ConfigError(f"[space] {error}") from None
        self.objective_names = tuple(config.search.objectives)
        self.reference = reference_values(self.objective_names, config.search.hypervolume_reference)
        self.operators: list[Operator] = [get_operator(n) for n in config.search.operators]
        self.mutations = [op for op in self.operators if op.arity == 1]
        self.crossovers = [op for op in self.operators if op.arity == 2]
        # Adaptive operator selection (evo.adaptive), set up in _initial_population or restored
        # in _open; None when [search] adaptive_operators is off.
        self.selection: adaptive.OperatorSelection | None = None
        self.parent_objectives: dict[int, dict[str, float]] = {}
        # Motifs mined from a transfer source ([search] transfer_motifs), stored with every generation.
        self.motif_priors: list[str] = []
        if not self.mutations:
            raise ConfigError("[search] operators must include at least one mutation")
        self.task_key = self._task_key()
        self.population: list[Individual] = []
        self.known = ScoredGenomes(self)
        # Every genome hash stored in the file, so that most lookups of a new hash skip the query.
        # The run lock makes this engine the file's only writer, so nothing is added behind it.
        self.stored_hashes = HashFilter()
        # Finished evaluations not staged yet, as (individual id, genome hash, record).
        self.unstaged: list[tuple[int, str, dict[str, Any]]] = []
        # Metrics encoded at staging, by individual id, with the metrics dict they encode, so
        # that the commit reuses the text while the child's record still contains that dict.
        self.metrics_text: dict[int, tuple[dict[str, Any], EncodedJSON]] = {}
        self.stage_interval = STAGE_INTERVAL
        self.campaign_id: int | None = None
        # Evaluations staged by an interrupted run of the generation now being evaluated.
        self.staged: dict[tuple[int, str], dict[str, Any]] = {}
        # Node ids are innovation ids, unique within the database; the counter's position is
        # stored in every generation's state and restored on resume.
        self.innovations = InnovationCounter()
        # Trained weights (.npz bytes) by individual id, for population members and the
        # children being evaluated; filled only when [search] inherit_weights is on.
        self.weights: dict[int, bytes] = {}

    def _task_key(self) -> str:
        """Key of the evaluation cache: what decides an evaluation's result besides the genome."""
        basis = {"task": self.config.task.to_dict(), "budget": self.config.budget.to_dict(),
                 "objectives": sorted(self.objective_names), "cost_model": COST_MODEL_VERSION}
        # An inheriting child's accuracy depends on its parent's weights, so such results
        # are never mixed with those of training from scratch.
        if self.config.search.inherit_weights:
            basis["inherit_weights"] = True
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]

    # -- start and resume -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run to ``search.generations`` and return the store's summary of the campaign.

        Keeps the run lock of the database file (evo.run_lock) throughout. Raises
        CampaignRunningError within about a second, before any work, when another engine has it.
        """
        with RunLock(self.store.path, self.config.name):
            try:
                return self._run_locked()
            except KeyboardInterrupt:
                # Marked while the lock is still held: once it is released, another engine may
                # resume the campaign, and a later "stopped" would then hide that it runs.
                self._mark_stopped()
                raise

    def _mark_stopped(self) -> None:
        """Set the campaign's status to ``stopped`` if it is ``running``, logging a store or SQLite error instead of raising it."""
        if self.campaign_id is None:
            return
        try:
            mark_stopped(self.store, self.config.name)
        except (StoreError, sqlite3.Error) as error:
            log.warning("could not mark campaign %r as stopped in %s: %s", self.config.name, self.store.path, error)

    def _run_locked(self) -> dict[str, Any]:
        start = self._open()
        run = self.config.run
        executor = make_executor(run.executor_name, run.workers, timeout=run.evaluation_timeout,
                                 retries=run.retries)
        try:
            if self.config.search.algorithm == "generational":
                for number in range(start, self.config.search.generations + 1):
                    self._generation(number, executor)
            else:
                from evo.steady_state import AsynchronousLoop

                if start == 0:
                    self._generation(0, executor)
                    start = 1
                if start <= self.config.search.generations:
                    AsynchronousLoop(self, executor).run(start)
        finally:
            executor.close()
        self.store.set_campaign_status(self.campaign_id, "finished")
        return self.store.summary(self.campaign_id)

    def _open(self) -> int:
        """Create the campaign or load its last committed generation; return the next number."""
        for name in self.objective_names:
            objective = fitness.OBJECTIVES[name]
            self.store.declare_objective(name, "maximize" if objective.maximize else "minimize", objective.unit)
        stored = self.store.campaign(self.config.name)
        if stored is None:
            # Read the fronts of db: seeds first, so that a bad source leaves no half-made campaign
            # whose stored config would then refuse the corrected one.
            for name in self.config.search.seeds:
                if name.startswith(TRANSFER_PREFIX):
                    transfer.front_genomes(name)
            self.campaign_id = self.store.create_campaign(self.config.name, self.config.to_dict(), self.config.seed)
            log.info("campaign %r created in %s", self.config.name, self.store.path)
            self._read_stored_genomes()
            return 0
        differences = config_differences(stored["config"], self.config.to_dict())
        if differences:
            raise ConfigError(
                f"campaign {self.config.name!r} in {self.store.path} was started with another config: "
                + "; ".join(differences)
                + ". Only generations and run settings may change; use another name or --db for a new campaign"
            )
        self.campaign_id = stored["id"]
        self.store.set_campaign_status(self.campaign_id, "running")
        last = self.store.last_generation(self.campaign_id)
        if last is None:
            log.info("campaign %r has no committed generation; starting at generation 0", self.config.name)
            self._read_stored_genomes()
            return 0
        self._load_population(last["members"])
        if "global_rng" in last["state"]:
            restore_global_rng_states(last["state"]["global_rng"])
        # Innovation ids: continue the stored counter (databases written before it: skip past every genome).
        self.innovations = InnovationCounter(int(last["state"].get("next_node_id", 1)))
        self.selection = self._restored_selection(last["state"])
        self.motif_priors = list(last["state"].get("transferred_motifs", []))
        self._read_stored_genomes()
        log.info("resuming campaign %r after generation %d", self.config.name, last["number"])
        return last["number"] + 1

    def _read_stored_genomes(self) -> None:
        """Move the innovation counter past every node id stored in the file, by any campaign,
        and put every stored genome hash in ``stored_hashes``."""
        stored = self.store.individuals()
        genomes = [Genome.from_dict(g if isinstance(g, dict) else json.loads(g)) for g in stored.get("genome", [])]
        self.innovations.skip_past(genomes)
        self.stored_hashes = HashFilter(stored.get("genome_hash", []))

    def _load_population(self, member_ids: list[int]) -> None:
        individuals = self.store.individuals(self.campaign_id).set_index("id")
        evaluations = self.store.evaluations(self.campaign_id, latest=True).set_index("individual_id")
        # Scored genomes of earlier generations are not loaded, because self.known reads them from the file.
        records = {int(ind_id): self._record_from_row(evaluations.loc[ind_id])
                   for ind_id in member_ids if ind_id in evaluations.index}
        for ind_id in member_ids:
            row = individuals.loc[ind_id]
            genome = Genome.from_dict(row["genome"] if isinstance(row["genome"], dict) else json.loads(row["genome"]))
            self.population.append(Individual(int(ind_id), genome, row["genome_hash"], int(row["generation"]),
                                              row["origin"], record=records.get(int(ind_id), {})))
        if self.config.search.inherit_weights:
            self._load_weights()

    def _load_weights(self, individuals: Sequence[Individual] | None = None) -> None:
        """Read the stored weights of individuals (the population by default), for their children to inherit."""
        for ind in self.population if individuals is None else individuals:
            try:
                self.weights[ind.id] = load_weights(self.store.db, ind.id)
            except WeightsNotFoundError:
                # A cached member shares the weights of the individual first trained with its
                # genome. A member without any has children that train from scratch.
                stored = weights_by_hash(self.store.db, ind.genome_hash)
                if stored is not None:
                    self.weights[ind.id] = stored

    def _record_from_row(self, row) -> dict[str, Any]:
        objectives = {}
        for name in self.objective_names:
            value = row.get(name)
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                objectives[name] = float(value)
        metrics = row.get("metrics")
        return {"status": row["status"], "objectives": objectives,
                "metrics": metrics if isinstance(metrics, dict) else {}, "error": row.get("error"),
                "seconds": float(row.get("seconds") or 0.0)}

    def _committed_record(self, genome_hash: str) -> dict[str, Any] | None:
        """Return the record of this campaign's first committed scored evaluation of the hash, or None."""
        if self.campaign_id is None or genome_hash not in self.stored_hashes:
            return None
        row = self.store.scored_evaluation(self.campaign_id, genome_hash)
        if row is None:
            return None
        return self._record_from_row({**row.pop("objectives"), **row})

    # -- one generation -------------------------------------------------------------------------

    def _generation(self, number: int, executor) -> None:
        started = time.perf_counter()
        seed_global_rngs(self.config.seed, number)
        rng = generation_rng(self.config.seed, number)
        next_id = self.store.next_individual_id()
        if number == 0:
            children = self._initial_population(rng, next_id)
        else:
            children = self._offspring(rng, next_id)
        self.staged = self.store.staged_evaluations(self.campaign_id, number)
        if self.staged:
            log.info("generation %d: %d evaluations staged before an interruption are reused",
                     number, len(self.staged))
        self.store.start_generation(self.campaign_id, number, planned=len(children),
                                    workers=getattr(executor, "workers", 1))
        pause_point("generation_started")
        self._evaluate(children, number, executor)
        pause_point("evaluations_done")

        pool = self.population + children
        members = self._members(pool)
        by_id = {ind.id: ind for ind in pool}
        survivors = select_survivors(members, self.config.search.population)
        self.population = [by_id[m.id] for m in survivors]
        front = first_front(survivors)
        volume = hypervolume(survivors, self.reference, front)
        self._commit(number, children, [m.id for m in front], volume, rng)
        pause_point("generation_committed")
        self._report(number, children, len(front), volume, time.perf_counter() - started)

    def _report(self, number: int, children: list[Individual], front_size: int, volume: float,
                seconds: float) -> None:
        """Log a committed generation and pass its summary to the observers."""
        failed = sum(1 for c in children if c.record.get("status") not in ("ok", "cached"))
        summary = {"generation": number, "evaluated": len(children), "failed": failed,
                   "front": front_size, "hypervolume": volume, "seconds": seconds, "best": self._best()}
        log.info("generation %d: %d new (%d not ok), front %d, hypervolume %.4f, best %s, %.1f s",
                 number, len(children), failed, front_size, volume,
                 ", ".join(f"{k} {v:.4g}" for k, v in summary["best"].items()) or "none (nothing scored yet)",
                 summary["seconds"])
        for observer in self.observers:
            observer(summary)

    def _best(self) -> dict[str, float]:
        best = {}
        for name in self.objective_names:
            values = [ind.objectives[name] for ind in self.population if name in ind.objectives]
            if values:
                best[name] = max(values) if fitness.OBJECTIVES[name].maximize else min(values)
        return best

    def _initial_population(self, rng: np.random.Generator, next_id: int) -> list[Individual]:
        self.selection = self._initial_selection()
        if self.config.search.transfer_motifs:
            self.motif_priors = transfer.motif_priors(self.config.search.seeds, self.config.search.motif_count)
            self._hand_motifs(self.motif_priors)
        seeds: list[Individual] = []
        seen: set[str] = set()
        for name, stored in transfer.expand_seeds(self.config.search.seeds):
            try:
                genome = stored if stored is not None else build_seed(name, self.input_shape, self.num_classes)
            except (GenomeError, LookupError) as error:
                log.warning("seed %r left out: it cannot be built (%s)", name, error)
                continue
            # Innovation ids: every seed gets fresh node ids, so two seeds never share one.
            genome = self.innovations.renumber(genome)
            problem = self.space.violation(genome)
            if problem is not None:
                log.warning("seed %r left out: it does not fit the search space (%s)", name, problem)
                continue
            digest = genome.canonical_hash()
            if digest in seen:
                continue
            seen.add(digest)
            seeds.append(Individual(next_id, genome, digest, 0, "seed", operator=name))
            next_id += 1
        if not seeds:
            raise ConfigError(
                f"none of the seeds {list(self.config.search.seeds)} fits the search space for input "
                f"{self.input_shape}; widen [space] or list other seeds in [search] seeds"
            )
        children = list(seeds)
        failures = 0
        while len(children) < self.config.search.population and failures < NOVELTY_ATTEMPTS:
            parent = seeds[int(rng.integers(len(seeds)))]
            child = self._vary([parent], self._pick_mutation(rng), rng, next_id, 0, seen)
            if child is None or child.genome_hash in seen:
                failures += 1
                continue
            seen.add(child.genome_hash)
            children.append(child)
            next_id += 1
        return children

    def _pick_mutation(self, rng: np.random.Generator) -> Operator:
        if self.selection is not None:
            return {op.name: op for op in self.mutations}[self.selection.pick("mutation", rng)]
        return self.mutations[int(rng.integers(len(self.mutations)))]

    def _pick_crossover(self, rng: np.random.Generator) -> Operator:
        if self.selection is not None:
            return {op.name: op for op in self.crossovers}[self.selection.pick("crossover", rng)]
        return self.crossovers[int(rng.integers(len(self.crossovers)))]

    def _initial_selection(self) -> adaptive.OperatorSelection | None:
        """Start adaptive operator selection: uniform, or from the priors of a transfer source."""
        search = self.config.search
        if not search.adaptive_operators:
            return None
        priors = transfer.operator_priors(search.seeds) if search.transfer_operators else None
        return adaptive.OperatorSelection([op.name for op in self.mutations], [op.name for op in self.crossovers],
                                          search.operator_floor, priors)

    def _restored_selection(self, state: dict[str, Any]) -> adaptive.OperatorSelection | None:
        """Continue adaptive operator selection from the state stored with the last generation."""
        search = self.config.search
        if not search.adaptive_operators:
            return None
        stored = (state.get("adaptive_operators") or {}).get("next")
        return adaptive.OperatorSelection([op.name for op in self.mutations], [op.name for op in self.crossovers],
                                          search.operator_floor, stored)

    def _selection_state(self, children: list[Individual], front: list[int]) -> dict[str, Any]:
        """Credit this generation's operators, update the probabilities, and return what to store.

        ``used`` are the probabilities this generation drew from; ``next`` is the state the
        next generation starts from (also after a resume).
        """
        if self.selection is None:
            return {}
        used = self.selection.probabilities()
        rewards = adaptive.child_rewards(children, {**self.parent_objectives,
                                                    **{c.id: c.objectives for c in children}},
                                         front, self.objective_names)
        self.selection.update(rewards)
        return {"adaptive_operators": {
            "used": used,
            "rewards": {name: {"children": len(values), "credited": int(sum(values))}
                        for name, values in sorted(rewards.items())},
            "next": self.selection.to_state(),
        }}

    def _bind_motifs(self) -> None:
        """Hand the motifs mined from the current population's front to the motif insertion operator."""
        positions = [i for i, op in enumerate(self.mutations) if op.name == "insert_motif"]
        if not positions:
            return
        scored = [ind for ind in self.population if ind.objectives]
        members = [Member(ind.id, ind.objectives, self.objective_names) for ind in scored]
        front_ids = {m.id for m in first_front(members)} if members else set()
        motifs = transfer.front_motifs([ind.genome for ind in scored], [ind.id in front_ids for ind in scored],
                                       self.config.search.motif_count)
        self._hand_motifs(transfer.merge_motifs(motifs, self.motif_priors))

    def _hand_motifs(self, motifs: list[str]) -> None:
        log.debug("motifs handed to insert_motif: %s", motifs)
        for position, operator in enumerate(self.mutations):
            if operator.name == "insert_motif":
                self.mutations[position] = operator.with_motifs(motifs)

    def _members(self, individuals: Sequence[Individual]) -> list[Member]:
        """Wrap individuals for selection, with their constraint violations when limits are set."""
        limits = self.config.search.constraints
        return [Member(ind.id, ind.objectives, self.objective_names,
                       violation=constraint_violation(constraint_values(ind.record), limits) if limits else 0.0)
                for ind in individuals]

    @staticmethod
    def _fitter_first(first: Individual, second: Individual,
                      order: dict[int, tuple[int, float]]) -> list[Individual]:
        """Order two crossover parents fitter first, as aligned_crossover expects; a tie keeps the order."""
        if order[second.id] < order[first.id]:
            return [second, first]
        return [first, second]

    def _offspring(self, rng: np.random.Generator, next_id: int) -> list[Individual]:
        self.parent_objectives = {ind.id: dict(ind.objectives) for ind in self.population}
        self._bind_motifs()
        members = self._members(self.population)
        by_id = {ind.id: ind for ind in self.population}
        count = self.config.search.offspring_count
        order = fitness_order(members)
        ranks = {member_id: rank for member_id, (rank, _) in order.items()}
        parents = [by_id[m.id] for m in select_parents(members, count, rng, ranks)]
        # Hashes of the population and of this generation's children. self.known covers every
        # hash scored before this generation.
        seen = {ind.genome_hash for ind in self.population}
        children = []
        for index in range(count):
            first = parents[index]
            child = None
            for _ in range(NOVELTY_ATTEMPTS):
                if self.crossovers and rng.random() < self.config.search.crossover_rate:
                    second = parents[int(rng.integers(len(parents)))]
                    operator = self._pick_crossover(rng)
                    child = self._vary(self._fitter_first(first, second, order), operator, rng, next_id, None, seen)
                else:
                    child = self._vary([first], self._pick_mutation(rng), rng, next_id, None, seen)
                if child is not None and child.genome_hash not in seen and child.genome_hash not in self.known:
                    child.unscored = True
                    break
            if child is None:
                log.debug("no operator applied to parent %d; no child in slot %d", first.id, index)
                continue
            seen.add(child.genome_hash)
            children.append(child)
            next_id += 1
        return children

    def _vary(self, parents: list[Individual], operator: Operator, rng: np.random.Generator,
              child_id: int, generation: int | None, seen: set[str]) -> Individual | None:
        variation = operator([p.genome for p in parents], rng, self.space, new_id=self.innovations)
        if not variation.applied:
            log.debug("operator %s did not apply to %s: %s", operator.name, [p.id for p in parents],
                      variation.reason)
            return None
        genome = variation.genome
        origin = "crossover" if operator.arity == 2 else "mutation"
        number = generation if generation is not None else max(p.generation for p in parents) + 1
        return Individual(child_id, genome, genome.canonical_hash(), number, origin,
                          tuple(dict.fromkeys(p.id for p in parents)), operator.name)

    # -- evaluation and commit ------------------------------------------------------------------

    def longest_first(self, jobs: list[Job], by_id: dict[int, Individual], executor) -> list[Job]:
        """Return a batch in the order to hand it out: the costliest training first.

        A generation waits for its slowest evaluation. Started first, the long ones leave the
        short ones to fill the workers near the end (longest processing time first). FLOPs
        per sample stand in for the training time, which they rank well (rank correlation
        0.87 on a smoke campaign). Only the order changes, never a result, and a serial
        executor keeps the batch as it is, since order cannot shorten it there.
        """
        if not getattr(executor, "concurrent", False) or len(jobs) <= 1:
            return jobs
        cost = {}
        for job in jobs:
            try:
                cost[job.key] = count_flops(by_id[job.key].genome, self.input_shape, self.num_classes)
            except GenomeError:
                cost[job.key] = 0  # it fails at once in the worker, so it goes last
        return sorted(jobs, key=lambda job: -cost[job.key])

    def _evaluate(self, children: list[Individual], number: int, executor) -> None:
        if self.config.search.successive_halving:
            halving.evaluate_in_rungs(self, children, number, executor)
            return
        for child in children:
            child.generation = number
        inherit = self.config.search.inherit_weights
        parents = {ind.id: ind for ind in self.population}
        # One task and budget dict for all jobs, because Budget.to_dict() deep-copies (about 0.1 ms).
        task, budget = self.config.task.to_dict(), self.config.budget.to_dict()
        jobs = []
        for child in children:
            reuse = None if child.unscored else self.known.get(child.genome_hash)
            reuse = reuse or self._stored_evaluation(child.genome_hash)
            if reuse is not None and reuse.get("status") in ("ok", "cached"):
                child.record = {**reuse, "status": "cached", "seconds": 0.0}
                if inherit:
                    self._reuse_weights(child)
                continue
            staged = self.staged.get((child.id, child.genome_hash))
            # Staged records carry no weights, so an inheriting campaign trains such a child
            # again. Its seed and parent are the same, so the result is the same too.
            if staged is not None and not (inherit and staged.get("status") == "ok"):
                child.record = staged
                continue
            jobs.append(Job(child.id, child.genome.to_dict(), task,
                            budget, derived_seed(self.config.seed, child.id),
                            self.objective_names, inherit=self._inheritance(child, parents),
                            keep_weights=inherit))
        by_id = {child.id: child for child in children}
        jobs = self.longest_first(jobs, by_id, executor)
        bar = tqdm(total=len(jobs), desc=f"generation {number}", unit="eval", disable=not self.progress,
                   leave=False)
        staged_at = time.perf_counter()
        try:
            with logging_redirect_tqdm():
                for key, record in executor.map(jobs):
                    weights = record.pop("weights", None)
                    if weights is not None:
                        self.weights[key] = weights
                    by_id[key].record = record
                    self.unstaged.append((key, by_id[key].genome_hash, record))
                    if record.get("status") != "ok":
                        log.info("individual %d: %s: %s", key, record.get("status"), record.get("error"))
                    bar.update(1)
                    if time.perf_counter() - staged_at >= self.stage_interval:
                        self._stage_finished(number)
                        staged_at = time.perf_counter()
        finally:
            # Also when Ctrl-C or SIGTERM stops the batch, so that its finished evaluations are kept.
            # The bar closes first, so that an error message starts on a line of its own.
            bar.close()
            self._stage_finished(number)
        for child in children:
            if child.record.get("status") in ("ok", "cached"):
                self.known.remember(child.genome_hash, child.record)

    def _stage_finished(self, number: int) -> None:
        """Stage the finished evaluations that wait in memory, in one transaction."""
        if not self.unstaged:
            return
        staged = []
        for key, genome_hash, record in self.unstaged:
            metrics = record.get("metrics")
            text = encode_metrics(metrics) if isinstance(metrics, dict) else None
            if text is not None:
                self.metrics_text[key] = (metrics, text)
                record = {**record, "metrics": text}
            staged.append((key, genome_hash, record))
        self.store.stage_evaluations(self.campaign_id, number, staged)
        for key, _, record in self.unstaged:
            log.debug("evaluation of individual %d finished and staged: %s", key, record.get("status"))
        count = len(self.unstaged)
        self.unstaged = []
        # One pause point per staged evaluation, reached once all of them are in the file.
        for _ in range(count):
            pause_point("evaluation_staged")

    def _inheritance(self, child: Individual, parents: dict[int, Individual]) -> dict[str, Any] | None:
        """Return the ``inherit`` argument of the child's evaluation, or None to train from scratch.

        The child inherits from its first parent. For a generational crossover that is the
        fitter one, and for an asynchronous one the winner of the first tournament.
        """
        if not self.config.search.inherit_weights or not child.parents:
            return None
        parent = parents.get(child.parents[0])
        weights = self.weights.get(child.parents[0])
        if parent is None or weights is None:
            return None
        return {"genome": parent.genome.to_dict(), "weights": weights}

    def _reuse_weights(self, child: Individual, holders: Sequence[Individual] | None = None) -> None:
        """Give a cached child the weights kept for its genome hash, if there are any.

        The hash was evaluated earlier, so its weights are held in memory by one of
        ``holders`` (the population by default) or were stored at the commit of its
        individual. The asynchronous loop also passes the children that joined since the
        last commit, whose weights are not stored yet.
        """
        for ind in self.population if holders is None else holders:
            if ind.genome_hash == child.genome_hash and ind.id in self.weights:
                self.weights[child.id] = self.weights[ind.id]
                return
        stored = weights_by_hash(self.store.db, child.genome_hash)
        if stored is not None:
            self.weights[child.id] = stored

    def _stored_evaluation(self, genome_hash: str, task_key: str | None = None) -> dict[str, Any] | None:
        """Return the stored ``ok`` evaluation of this hash with every objective, or None.

        task_key defaults to the campaign's; successive halving passes the key of a rung.
        """
        if genome_hash not in self.stored_hashes:
            return None
        row = self.store.evaluation_for_hash(genome_hash, task_key or self.task_key)
        if row is None:
            return None
        objectives = {k: float(v) for k, v in row["objectives"].items() if k in self.objective_names and v is not None}
        if set(objectives) != set(self.objective_names):
            return None
        return {"status": "ok", "objectives": objectives, "metrics": row.get("metrics") or {},
                "error": None, "seconds": 0.0}

    def _commit(self, number: int, children: list[Individual], front: list[int], volume: float,
                rng: np.random.Generator | None, extra_state: dict[str, Any] | None = None) -> None:
        individuals = [{"id": c.id, "genome": c.genome.to_dict(), "genome_hash": c.genome_hash,
                        "generation": number, "origin": c.origin} for c in children]
        lineage = [{"child_id": c.id, "parent_id": p, "operator": c.operator}
                   for c in children for p in c.parents]
        evaluations = [{"individual_id": c.id, "status": c.record.get("status", "failed"),
                        "objectives": {n: c.objectives.get(n) for n in self.objective_names},
                        "metrics": self._stored_metrics(c), "error": c.record.get("error"),
                        "seconds": c.record.get("seconds", 0.0), "task_key": self.task_key}
                       for c in children]
        if self.config.search.successive_halving:
            evaluations = halving.rung_rows(self, children, evaluations)
        # Everything that decides what happens next. Members are stored in population
        # order, which is the selection state: NSGA-II ranks them afresh each generation.
        state = {"rng": None if rng is None else rng.bit_generator.state, "reference": self.reference,
                 "seed_names": [c.operator for c in children if c.origin == "seed"],
                 "next_individual_id": max([c.id for c in children], default=self.store.next_individual_id() - 1) + 1,
                 "global_rng": global_rng_states(), "next_node_id": self.innovations.next_id,
                 "target_generations": self.config.search.generations,
                 **self._selection_state(children, front),
                 **({"transferred_motifs": self.motif_priors} if self.config.search.transfer_motifs else {}),
                 **(extra_state or {})}
        self.store.commit_generation(
            self.campaign_id, number, individuals=individuals, lineage=lineage, evaluations=evaluations,
            members=[ind.id for ind in self.population], front=front, hypervolume=volume,
            state=plain_state(state),
            before_commit=lambda: self._before_commit(children),
        )
        for child in children:
            self.stored_hashes.add(child.genome_hash)
        self.known.forget_committed(children)
        for child in children:
            self.metrics_text.pop(child.id, None)
        # Only members can become parents, so the weights of the other children are dropped.
        members = {ind.id for ind in self.population}
        self.weights = {ind_id: data for ind_id, data in self.weights.items() if ind_id in members}

    def _before_commit(self, children: list[Individual]) -> None:
        """Store the trained weights of the children inside the generation's transaction."""
        for child in children:
            if child.record.get("status") == "ok" and child.id in self.weights:
                save_weights(self.store.db, child.id, child.genome_hash, self.weights[child.id])
        pause_point("commit_written")

    def _stored_metrics(self, individual: Individual) -> dict[str, Any] | EncodedJSON:
        """Return the metrics to store, with the constraint violation when limits are set.

        violation is the total relative excess over the limits (0 is feasible). It is None
        when a limited quantity was not measured, which counts as infeasible. Without limits,
        metrics encoded when they were staged are returned as that text.
        """
        metrics = individual.record.get("metrics", {})
        limits = self.config.search.constraints
        if not limits:
            encoded = self.metrics_text.get(individual.id)
            if encoded is not None and encoded[0] is metrics:
                return encoded[1]
        metrics = dict(metrics)
        if limits:
            violation = constraint_violation(constraint_values(individual.record), limits)
            metrics["violation"] = violation if math.isfinite(violation) else None
            metrics["feasible"] = violation == 0.0
        return metrics
