import math

import numpy as np
import pytest

from evo.selection import Fitness, Member, first_front, hypervolume, normalise, select_parents, select_survivors

NAMES = ("accuracy", "flops")


def members(points):
    return [Member(i + 1, dict(zip(NAMES, point)), NAMES) for i, point in enumerate(points)]


def test_parent_tournament_returns_exactly_k_for_six():
    population = members([(0.9, 1e6), (0.8, 5e5), (0.7, 2e6), (0.6, 1e5), (0.95, 3e6), (0.5, 4e6)])
    parents = select_parents(population, 6, np.random.default_rng(0))
    assert len(parents) == 6
    assert all(p in population for p in parents)


@pytest.mark.parametrize("k", [1, 3, 5, 7, 13])
def test_parent_tournament_any_count(k):
    population = members([(0.9, 1e6), (0.8, 5e5), (0.7, 2e6)])
    assert len(select_parents(population, k, np.random.default_rng(k))) == k


def test_parent_tournament_prefers_lower_rank():
    population = members([(0.9, 1e5), (0.1, 1e7)])
    parents = select_parents(population, 50, np.random.default_rng(1))
    assert all(p.id == 1 for p in parents)


def test_nan_objective_ranks_last():
    population = members([(0.9, 1e6), (0.8, 5e5), (math.nan, 1e3), (0.7, 2e6)])
    assert not population[2].feasible
    front = first_front(population)
    assert sorted(m.id for m in front) == [1, 2]
    survivors = select_survivors(population, 2)
    assert sorted(m.id for m in survivors) == [1, 2]
    everyone = select_survivors(population, 4)
    assert everyone[-1].id == 3


def test_missing_objective_is_infeasible():
    member = Member(1, {"accuracy": 0.5}, NAMES)
    assert not member.feasible


def test_infeasible_members_fill_when_too_few_feasible():
    population = members([(0.9, 1e6), (math.nan, 1e3), (math.inf, 1e3)])
    survivors = select_survivors(population, 3)
    assert [m.id for m in survivors][0] == 1
    assert len(survivors) == 3


def test_fitness_weights_are_per_instance():
    maximise = Fitness((1.0,), (0.5,))
    minimise = Fitness((-1.0,), (0.5,))
    assert maximise.wvalues == (0.5,)
    assert minimise.wvalues == (-0.5,)
    assert Fitness.weights == ()


def test_normalise_maps_best_to_zero():
    reference = {"flops": 1e8}
    assert normalise("accuracy", 1.0, reference) == 0.0
    assert normalise("accuracy", 0.25, reference) == 0.75
    assert normalise("flops", 0.0, reference) == 0.0
    assert normalise("flops", 1e8, reference) == pytest.approx(1.0)
    assert normalise("flops", 1e12, reference) == 1.0


def test_hypervolume_of_single_point():
    population = members([(0.9, 0.0)])
    # error 0.1, cost 0 -> the box from (0.1, 0) to (1, 1).
    assert hypervolume(population, {"flops": 1e8}) == pytest.approx(0.9)


def test_hypervolume_grows_with_dominating_point():
    reference = {"flops": 1e8}
    before = hypervolume(members([(0.8, 1e4)]), reference)
    after = hypervolume(members([(0.8, 1e4), (0.9, 1e4)]), reference)
    assert after > before
    assert hypervolume(members([(math.nan, 1.0)]), reference) == 0.0
