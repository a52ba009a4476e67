"""Selection on DEAP primitives: NSGA-II survival, dominance-and-crowding tournaments, hypervolume.

The objective directions come from ``fitness.OBJECTIVES`` (declared once there). An individual
whose evaluation did not give a finite value for every objective has no fitness values: it is
ranked after every individual that has them, because DEAP's dominance test on NaN is meaningless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import moocore
import numpy as np
from deap import base, tools

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


@dataclass
class Member:
    """One individual as selection sees it: an id, its objective values and its DEAP fitness."""

    id: int
    objectives: Mapping[str, float]
    names: tuple[str, ...]
    fitness: Fitness = field(init=False)
    crowding_dist: float = 0.0

    def __post_init__(self) -> None:
        self.fitness = Fitness([OBJECTIVES[n].weight for n in self.names])
        values = [self.objectives.get(n) for n in self.names]
        if all(v is not None and math.isfinite(v) for v in values):
            self.fitness.values = tuple(float(v) for v in values)

    @property
    def feasible(self) -> bool:
        return self.fitness.valid


def first_front(members: Sequence[Member]) -> list[Member]:
    feasible = [m for m in members if m.feasible]
    if not feasible:
        return []
    return tools.sortNondominated(feasible, len(feasible), first_front_only=True)[0]


def select_survivors(members: Sequence[Member], k: int) -> list[Member]:
    """NSGA-II environmental selection of ``k`` members; members without fitness come last."""
    feasible = [m for m in members if m.feasible]
    infeasible = sorted((m for m in members if not m.feasible), key=lambda m: m.id)
    if len(feasible) >= k:
        return tools.selNSGA2(feasible, k)
    return feasible + infeasible[: k - len(feasible)]


def assign_rank_and_crowding(members: Sequence[Member]) -> dict[int, int]:
    """Pareto rank per member id (0 = first front; infeasible after the last), and crowding."""
    ranks: dict[int, int] = {}
    feasible = [m for m in members if m.feasible]
    fronts = tools.sortNondominated(feasible, len(feasible)) if feasible else []
    for rank, front in enumerate(fronts):
        tools.emo.assignCrowdingDist(front)
        for m in front:
            ranks[m.id] = rank
    for m in members:
        if not m.feasible:
            ranks[m.id] = len(fronts)
            m.crowding_dist = 0.0
    return ranks


def select_parents(members: Sequence[Member], k: int, rng: np.random.Generator) -> list[Member]:
    """Exactly ``k`` parents by binary tournament: lower rank wins, then larger crowding distance.

    Unlike ``deap.tools.selTournamentDCD``, any ``k`` works (that one needs a multiple of 4).
    """
    if not members:
        raise ValueError("cannot select parents from an empty population")
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


def hypervolume(members: Sequence[Member], reference: Mapping[str, float]) -> float:
    """Hypervolume of the first front in the normalised space, with reference point (1, ..., 1)."""
    front = first_front(members)
    if not front:
        return 0.0
    names = front[0].names
    points = np.array([[normalise(n, m.objectives[n], reference) for n in names] for m in front])
    return float(moocore.hypervolume(points, ref=np.ones(len(names))))


def reference_values(names: Sequence[str], configured: Mapping[str, float]) -> dict[str, Any]:
    """The reference value of each cost objective among ``names`` (stored with each generation)."""
    return {n: float(configured[n]) for n in names if not OBJECTIVES[n].maximize}
