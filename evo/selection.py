"""Selection on DEAP primitives: NSGA-II survival, dominance-and-crowding tournaments, hypervolume.

The objective directions come from ``fitness.OBJECTIVES`` (declared once there). An individual
whose evaluation did not give a finite value for every objective has no fitness values: it is
ranked after every individual that has them, because DEAP's dominance test on NaN is meaningless.

Constraints (upper limits on parameters, FLOPs or latency) follow constraint domination (Deb,
2000, "An efficient constraint handling method for genetic algorithms"): a feasible individual
beats every infeasible one, and of two infeasible individuals the one with the smaller total
violation wins. So the order is: feasible individuals by Pareto front, then infeasible ones by
violation, then individuals without finite objectives. A missing or NaN constraint value counts
as an infinite violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import moocore
import numpy as np
from deap import base, tools

from evo.messages import toml_value
from fitness import OBJECTIVES


class Fitness(base.Fitness):
    """DEAP fitness whose weights are set per instance, so no class is created at run time.

    DEAP's ``creator`` builds fitness classes dynamically, which breaks pickling under the spawn
    start method; this class is importable, and the weights travel with each instance.
    """

    weights = ()

    def __init__(self, weights: Sequence[float], values: Sequence[float] = ()):
        self.weights = tuple(weights)
        super().__init__(values)


# Quantities that a constraint can limit from above, and where an evaluation record keeps them.
CONSTRAINTS = ("params", "flops", "latency")


class ConstraintError(ValueError):
    """Unknown constraint name or a limit that is not a positive number."""


def validate_constraints(limits: Mapping[str, float]) -> dict[str, float]:
    """Return the limits as floats, raising ConstraintError for an unknown name or bad limit."""
    checked = {}
    for name, limit in limits.items():
        if name not in CONSTRAINTS:
            raise ConstraintError(
                f"unknown constraint {name!r}. Constraints can limit {', '.join(CONSTRAINTS)}"
            )
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not (
            math.isfinite(limit) and limit > 0
        ):
            raise ConstraintError(
                f"constraint {name} = {toml_value(limit)} is invalid. Use a positive finite upper limit"
            )
        checked[name] = float(limit)
    return checked


def constraint_values(record: Mapping[str, Any]) -> dict[str, float]:
    """Return the constrainable quantities found in an evaluation record dict.

    params and flops come from the metrics, which every record past the genome checks
    has. latency comes from the latency objective or the latency_ms metric, so it exists
    only where latency was measured.
    """
    objectives = record.get("objectives") or {}
    metrics = record.get("metrics") or {}
    sources = {
        "params": metrics.get("params"),
        "flops": metrics.get("flops"),
        "latency": objectives.get("latency", metrics.get("latency_ms")),
    }
    return {name: float(value) for name, value in sources.items() if value is not None}


def constraint_violation(values: Mapping[str, float], limits: Mapping[str, float]) -> float:
    """Return the total relative excess of values over limits: sum of max(0, value / limit - 1).

    0 means feasible. A limited quantity that is missing, NaN or infinite gives infinity,
    so an individual whose constraint could not be measured is never feasible.
    """
    total = 0.0
    for name, limit in limits.items():
        value = values.get(name)
        if value is None or not math.isfinite(value):
            return math.inf
        total += max(0.0, value / limit - 1.0)
    return total


@dataclass
class Member:
    """Individual in selection: an id, its objective values and its DEAP fitness.

    violation is the individual's total constraint violation (see constraint_violation).
    NaN is treated as infinity. crowding_dist is the crowding distance within the member's
    front, set by assign_rank_and_crowding and select_survivors (0 until then, and for
    infeasible members).
    """

    id: int
    objectives: Mapping[str, float]
    names: tuple[str, ...]
    fitness: Fitness = field(init=False)
    crowding_dist: float = 0.0
    violation: float = 0.0

    def __post_init__(self) -> None:
        self.fitness = Fitness([OBJECTIVES[n].weight for n in self.names])
        values = [self.objectives.get(n) for n in self.names]
        if all(v is not None and math.isfinite(v) for v in values):
            self.fitness.values = tuple(float(v) for v in values)
        if math.isnan(self.violation):
            self.violation = math.inf

    @property
    def has_fitness(self) -> bool:
        """Whether every objective has a finite value."""
        return self.fitness.valid

    @property
    def feasible(self) -> bool:
        """Whether the member has finite objectives and violates no constraint."""
        return self.fitness.valid and self.violation == 0.0


def _infeasible_order(members: Sequence[Member]) -> list[Member]:
    """Return the infeasible members best first: constraint violators by violation, then by id,
    then members without finite objectives by id."""
    violators = [m for m in members if m.has_fitness and not m.feasible]
    without_fitness = [m for m in members if not m.has_fitness]
    return sorted(violators, key=lambda m: (m.violation, m.id)) + sorted(
        without_fitness, key=lambda m: m.id
    )


def sort_nondominated(members: Sequence[Member], k: int, first_front_only: bool = False) -> list[list[Member]]:
    """Return the same fronts, in the same order, as ``deap.tools.sortNondominated(members, k, ...)``.

    DEAP compares every pair of fitnesses in Python, which took about 3.5 ms for the 128
    members of a population-64 generation and was called several times per generation. Here
    one NumPy comparison builds the whole dominance matrix. The order within each front is
    DEAP's too, because NSGA-II selection keeps that order among equal crowding distances.
    The first front lists fitnesses in order of first appearance. A later front lists each
    fitness at the position of its last dominator in the front before, then in order of
    first appearance. Members with equal fitness follow each other, in input order.
    tests/evo/test_selection.py checks this against DEAP on random populations with ties.
    Every member must have valid (finite) fitness values.
    """
    if k == 0:
        return []
    groups: dict[tuple[float, ...], list[Member]] = {}
    for member in members:
        groups.setdefault(member.fitness.wvalues, []).append(member)
    if not groups:
        return [[]]
    keys = list(groups)
    values = np.array(keys, dtype=np.float64)
    # dominates[i, j]: fitness i is at least as good as j everywhere and better somewhere.
    at_least = (values[:, None, :] >= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] > values[None, :, :]).any(axis=2)
    dominates = at_least & better
    remaining = dominates.sum(axis=0)
    current = np.flatnonzero(remaining == 0)
    fronts = [[m for i in current for m in groups[keys[i]]]]
    placed = len(fronts[0])
    if first_front_only:
        return fronts
    limit = min(len(members), k)
    while placed < limit:
        rows = dominates[current]
        remaining = remaining - rows.sum(axis=0)
        joining = np.flatnonzero((remaining == 0) & rows.any(axis=0))
        # Position in `current` of each joining fitness's last dominator there.
        last = len(current) - 1 - np.argmax(rows[::-1][:, joining], axis=0)
        current = joining[np.lexsort((joining, last))]
        fronts.append([m for i in current for m in groups[keys[i]]])
        placed += len(fronts[-1])
    return fronts


def first_front(members: Sequence[Member]) -> list[Member]:
    """Return the non-dominated feasible members, or [] when none is feasible."""
    feasible = [m for m in members if m.feasible]
    if not feasible:
        return []
    return sort_nondominated(feasible, len(feasible), first_front_only=True)[0]


def select_nsga2(members: Sequence[Member], k: int) -> list[Member]:
    """Return what ``deap.tools.selNSGA2(members, k)`` returns, with the faster sort_nondominated.

    Each front gets DEAP's crowding distances (``assignCrowdingDist``), copied to the members.
    """
    fronts = sort_nondominated(members, k)
    for front in fronts:
        _assign_crowding(front)
    chosen = [m for front in fronts[:-1] for m in front]
    missing = k - len(chosen)
    if missing > 0:
        chosen.extend(sorted(fronts[-1], key=lambda m: m.crowding_dist, reverse=True)[:missing])
    return chosen


def _assign_crowding(front: Sequence[Member]) -> None:
    """Set DEAP's crowding distance of each member of one front (it lands on the fitness)."""
    tools.emo.assignCrowdingDist(front)
    for m in front:
        m.crowding_dist = m.fitness.crowding_dist


def select_survivors(members: Sequence[Member], k: int) -> list[Member]:
    """NSGA-II environmental selection of ``k`` members; infeasible members fill any remaining places.

    They are taken in the order of ``_infeasible_order``, so members without finite
    objectives come last.
    """
    feasible = [m for m in members if m.feasible]
    if len(feasible) >= k:
        return select_nsga2(feasible, k)
    infeasible = _infeasible_order(members)
    return feasible + infeasible[: k - len(feasible)]


def assign_rank_and_crowding(members: Sequence[Member]) -> dict[int, int]:
    """Pareto rank per member id, and crowding distances.

    Feasible members get their front (0 = first front). Constraint violators rank after the
    last front, one rank per distinct violation, smaller first. Members without finite
    objectives share the rank after those.
    """
    ranks: dict[int, int] = {}
    feasible = [m for m in members if m.feasible]
    fronts = sort_nondominated(feasible, len(feasible)) if feasible else []
    for rank, front in enumerate(fronts):
        _assign_crowding(front)
        for m in front:
            ranks[m.id] = rank
    next_rank = len(fronts)
    violations = sorted({m.violation for m in members if m.has_fitness and not m.feasible})
    for m in members:
        if m.has_fitness and not m.feasible:
            ranks[m.id] = next_rank + violations.index(m.violation)
            m.crowding_dist = 0.0
    next_rank += len(violations)
    for m in members:
        if not m.has_fitness:
            ranks[m.id] = next_rank
            m.crowding_dist = 0.0
    return ranks


def fitness_order(members: Sequence[Member]) -> dict[int, tuple[int, float]]:
    """Return a sort key per member id, smaller for the fitter member.

    The key is (Pareto rank, negated crowding distance), the order that NSGA-II's crowded
    comparison uses, with infeasible members ranked as in assign_rank_and_crowding.
    """
    ranks = assign_rank_and_crowding(members)
    return {m.id: (ranks[m.id], -m.crowding_dist) for m in members}


def select_parents(members: Sequence[Member], k: int, rng: np.random.Generator,
                   ranks: Mapping[int, int] | None = None) -> list[Member]:
    """Exactly ``k`` parents by binary tournament: lower rank wins, then larger crowding distance.

    Unlike ``deap.tools.selTournamentDCD``, any ``k`` works (that one needs a multiple of 4).
    ``ranks`` may pass what assign_rank_and_crowding(members) returned, when it already ran on
    these members, so that the sort is not repeated.
    """
    if not members:
        raise ValueError("cannot select parents from an empty population")
    if ranks is None:
        ranks = assign_rank_and_crowding(members)
    chosen = []
    for _ in range(k):
        if len(members) == 1:
            chosen.append(members[0])
            continue
        i, j = rng.choice(len(members), size=2, replace=False)
        a, b = members[int(i)], members[int(j)]
        if ranks[a.id] != ranks[b.id]:
            winner = a if ranks[a.id] < ranks[b.id] else b
        elif a.crowding_dist != b.crowding_dist:
            winner = a if a.crowding_dist > b.crowding_dist else b
        else:
            winner = a if rng.random() < 0.5 else b
        chosen.append(winner)
    return chosen


def normalise(name: str, value: float, reference: Mapping[str, float]) -> float:
    """Map an objective to [0, 1], 0 best, for the hypervolume.

    Accuracy becomes the error ``1 - accuracy``. A cost ``c`` with reference ``r`` becomes
    ``log10(1 + c) / log10(1 + r)`` clipped to 1, so costs spanning decades weigh alike.
    """
    if OBJECTIVES[name].maximize:
        return min(1.0, max(0.0, 1.0 - value))
    scaled = math.log10(1.0 + max(0.0, value)) / math.log10(1.0 + reference[name])
    return min(1.0, scaled)


def hypervolume(members: Sequence[Member], reference: Mapping[str, float],
                front: Sequence[Member] | None = None) -> float:
    """Hypervolume of the first front in the normalised space, with reference point (1, ..., 1).

    ``front`` may pass first_front(members) when the caller has it already.
    """
    if front is None:
        front = first_front(members)
    if not front:
        return 0.0
    names = front[0].names
    points = np.array([[normalise(n, m.objectives[n], reference) for n in names] for m in front])
    return float(moocore.hypervolume(points, ref=np.ones(len(names))))


def reference_values(names: Sequence[str], configured: Mapping[str, float]) -> dict[str, Any]:
    """Return the reference value of each cost objective among ``names`` (stored with each generation)."""
    return {n: float(configured[n]) for n in names if not OBJECTIVES[n].maximize}
