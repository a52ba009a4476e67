"""Search strategies compared side by side on tabular benchmarks (fitness is a table lookup).

Each strategy gets the same number of fitness queries (``evaluations``) and returns the
architecture with the best search fitness it has seen. Following the NAS-Bench-201 protocol, the
table's ``report`` value of that architecture is what is compared. Every query counts,
repeats included, except where a strategy itself refuses to query an architecture twice.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np
from deap import tools

from evo.selection import Fitness
from fitness.tabular import TabularSpace, nb201_genome


class Budget:
    """Counts fitness queries and remembers the best architecture seen."""

    def __init__(self, space: TabularSpace, evaluations: int):
        self.space = space
        self.left = evaluations
        self.best_arch: tuple[int, ...] | None = None
        self.best_value = -math.inf
        self.seen: dict[tuple[int, ...], float] = {}

    def query(self, arch: tuple[int, ...]) -> float:
        self.left -= 1
        value = float(self.space.search[self.space.index(arch)])
        self.seen[arch] = value
        if value > self.best_value:
            self.best_arch, self.best_value = arch, value
        return value

    @property
    def exhausted(self) -> bool:
        return self.left <= 0


def mutate(arch: tuple[int, ...], space: TabularSpace, rng: np.random.Generator) -> tuple[int, ...]:
    """Change one position to a different choice, drawn uniformly."""
    position = int(rng.integers(space.length))
    choice = int(rng.integers(space.choices - 1))
    if choice >= arch[position]:
        choice += 1
    return arch[:position] + (choice,) + arch[position + 1:]


def random_search(space: TabularSpace, budget: Budget, rng: np.random.Generator) -> None:
    while not budget.exhausted:
        budget.query(space.random_architecture(rng))


def regularized_evolution(space: TabularSpace, budget: Budget, rng: np.random.Generator,
                          population_size: int = 10, sample_size: int = 3) -> None:
    """Aging evolution (Real et al., AAAI 2019): the oldest member dies, not the worst."""
    population: deque[tuple[tuple[int, ...], float]] = deque()
    while len(population) < population_size and not budget.exhausted:
        arch = space.random_architecture(rng)
        population.append((arch, budget.query(arch)))
    while not budget.exhausted:
        picks = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
        parent = max((population[int(i)] for i in picks), key=lambda member: member[1])
        child = mutate(parent[0], space, rng)
        population.append((child, budget.query(child)))
        population.popleft()


@dataclass
class _Member:
    arch: tuple[int, ...]
    fitness: Fitness


def nsga2(space: TabularSpace, budget: Budget, rng: np.random.Generator, population_size: int = 10,
          crossover_rate: float = 0.5) -> None:
    """DEAP's NSGA-II survival with one objective (the search accuracy): (mu + lambda) elitism."""
    def member(arch):
        return _Member(arch, Fitness((1.0,), (budget.query(arch),)))

    population = []
    while len(population) < population_size and not budget.exhausted:
        population.append(member(space.random_architecture(rng)))
    while not budget.exhausted:
        children = []
        for _ in range(population_size):
            if budget.exhausted:
                break
            a, b = (population[int(i)] for i in rng.choice(len(population), 2, replace=False))
            parent = a if a.fitness.dominates(b.fitness) else b
            arch = parent.arch
            if rng.random() < crossover_rate:
                other = population[int(rng.integers(len(population)))].arch
                mask = rng.random(space.length) < 0.5
                arch = tuple(x if keep else y for x, y, keep in zip(arch, other, mask))
            children.append(member(mutate(arch, space, rng)))
        population = tools.selNSGA2(population + children, population_size)


def canonical_key(space: TabularSpace, arch: tuple[int, ...]) -> object:
    """Return the identity the engine deduplicates on: the canonical genome hash for NAS-Bench-201
    cells (isomorphic cells and dead edges collapse), the architecture itself elsewhere."""
    if space.name.startswith("nb201"):
        return _nb201_key(arch)
    return arch


@functools.lru_cache(maxsize=None)
def _nb201_key(arch: tuple[int, ...]) -> str:
    genome = nb201_genome(arch)
    return "zero-output cell" if genome is None else genome.canonical_hash()


def engine_search(space: TabularSpace, budget: Budget, rng: np.random.Generator,
                  population_size: int = 15, sample_size: int = 10) -> None:
    """Run the engine's configuration: aging evolution that never evaluates one network twice.

    As in the engine's campaigns, a child whose canonical hash was already evaluated is redrawn
    instead of spending an evaluation on it. Population 15 and sample 10 were chosen on seeds
    0-199 of NAS-Bench-201 at 100 evaluations; ``evo bench`` reports other seeds.
    """
    evaluated: set[object] = set()
    population: deque[tuple[tuple[int, ...], float]] = deque()

    def novel(propose: Callable[[], tuple[int, ...]]) -> tuple[int, ...] | None:
        for _ in range(100):
            arch = propose()
            key = canonical_key(space, arch)
            if key not in evaluated:
                evaluated.add(key)
                return arch
        return None

    while len(population) < population_size and not budget.exhausted:
        arch = novel(lambda: space.random_architecture(rng))
        if arch is None:
            return
        population.append((arch, budget.query(arch)))
    while not budget.exhausted:
        picks = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
        parent = max((population[int(i)] for i in picks), key=lambda member: member[1])
        child = novel(lambda: mutate(parent[0], space, rng)) or novel(lambda: space.random_architecture(rng))
        if child is None:
            return
        population.append((child, budget.query(child)))
        population.popleft()


STRATEGIES: dict[str, Callable[[TabularSpace, Budget, np.random.Generator], None]] = {
    "random": random_search,
    "regularized_evolution": regularized_evolution,
    "nsga2": nsga2,
    "engine": engine_search,
}


def run_strategy(name: str, space: TabularSpace, evaluations: int, seed: int) -> float:
    """Run one strategy; return the report value (e.g. 200-epoch test accuracy) of its result."""
    if name not in STRATEGIES:
        raise LookupError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    if evaluations < 1:
        raise ValueError(f"evaluations must be at least 1, got {evaluations}")
    budget = Budget(space, evaluations)
    STRATEGIES[name](space, budget, np.random.default_rng(np.random.SeedSequence([seed, evaluations])))
    return float(space.report[space.index(budget.best_arch)])


def compare(space: TabularSpace, strategies: list[str], budgets: list[int], runs: int,
            seed: int = 0) -> list[dict]:
    """One row per (strategy, evaluations): mean and standard deviation over ``runs`` seeds."""
    rows = []
    for evaluations in budgets:
        for name in strategies:
            values = np.array([run_strategy(name, space, evaluations, seed + run) for run in range(runs)])
            rows.append({"space": space.name, "strategy": name, "evaluations": evaluations, "runs": runs,
                         "mean": float(values.mean()), "std": float(values.std(ddof=1)) if runs > 1 else 0.0})
    return rows
