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


# NaN and infinity, and constraint domination

from deap import tools

from evo.selection import (
    ConstraintError,
    assign_rank_and_crowding,
    constraint_values,
    constraint_violation,
    validate_constraints,
)
from fitness import sanitise_objectives

# Maximise accuracy, minimise FLOPs. The third point has a NaN accuracy.
NAN_EXAMPLE = [(0.9, 1e6), (0.8, 5e5), (math.nan, 1e3), (0.7, 2e6)]


class _RawIndividual:
    """An individual whose DEAP fitness holds the raw values, NaN included."""

    def __init__(self, point):
        self.point = point
        self.fitness = Fitness((1.0, -1.0), point)


def test_deap_puts_unsanitised_nan_alone_first():
    raw = [_RawIndividual(point) for point in NAN_EXAMPLE]

    front = tools.sortNondominated(raw, len(raw), first_front_only=True)[0]

    # Every comparison with NaN is False, so nothing dominates the NaN point, and it
    # dominates the others on FLOPs. This is why selection sanitises first.
    assert len(front) == 1
    assert math.isnan(front[0].point[0])


def test_nan_point_sanitised_to_diverged():
    statuses = []
    cleaned = []
    for point in NAN_EXAMPLE:
        status, objectives, error = sanitise_objectives("ok", dict(zip(NAMES, point)))
        statuses.append(status)
        cleaned.append(objectives)

    assert statuses == ["ok", "ok", "diverged", "ok"]
    assert cleaned[2] == {"flops": 1e3}


def test_nan_example_front_and_selection():
    population = [
        Member(i + 1, sanitise_objectives("ok", dict(zip(NAMES, point)))[1], NAMES)
        for i, point in enumerate(NAN_EXAMPLE)
    ]

    front = first_front(population)
    chosen = select_survivors(population, 2)
    ranks = assign_rank_and_crowding(population)

    assert {(m.objectives["accuracy"], m.objectives["flops"]) for m in front} == {
        (0.9, 1e6),
        (0.8, 5e5),
    }
    assert sorted(m.id for m in chosen) == [1, 2]
    assert ranks[3] == max(ranks.values())
    assert ranks[3] > ranks[4]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_sanitise_names_each_bad_value(value):
    status, objectives, error = sanitise_objectives("ok", {"accuracy": 0.5, "flops": value})

    assert status == "diverged"
    assert objectives == {"accuracy": 0.5}
    assert "flops=" in error


def test_sanitise_keeps_failure_status_and_error():
    status, objectives, error = sanitise_objectives("oom", {"flops": math.nan}, "out of memory")

    assert status == "oom"
    assert objectives == {}
    assert error == "out of memory"


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"params": 500.0, "flops": 1e6}, 0.0),
        ({"params": 1000.0, "flops": 1e6}, 0.0),
        ({"params": 1500.0, "flops": 1e6}, 0.5),
        ({"params": 2000.0, "flops": 3e6}, 1.5),
        ({"params": math.nan, "flops": 1e6}, math.inf),
        ({"flops": 1e6}, math.inf),
    ],
)
def test_constraint_violation(values, expected):
    assert constraint_violation(values, {"params": 1000.0, "flops": 2e6}) == expected


def test_constraint_values_from_record():
    record = {
        "objectives": {"accuracy": 0.9, "latency": 2.5},
        "metrics": {"params": 1200, "flops": 5000},
    }
    assert constraint_values(record) == {"params": 1200.0, "flops": 5000.0, "latency": 2.5}
    assert constraint_values({"objectives": {}, "metrics": {"latency_ms": 1.5}}) == {"latency": 1.5}
    assert constraint_values({"status": "rejected"}) == {}


@pytest.mark.parametrize(
    "limits, match",
    [
        ({"memory": 10}, "unknown constraint 'memory'"),
        ({"params": 0}, "params = 0 is invalid"),
        ({"flops": math.nan}, "flops = nan is invalid"),
        ({"latency": True}, "latency = true is invalid"),
    ],
)
def test_validate_constraints_rejects(limits, match):
    with pytest.raises(ConstraintError, match=match):
        validate_constraints(limits)


def test_infeasible_ranks_after_every_feasible():
    # The violator dominates everyone on both objectives but breaks a constraint.
    population = members([(0.5, 1e6), (0.4, 2e6)]) + [
        Member(3, {"accuracy": 0.99, "flops": 10.0}, NAMES, violation=0.2),
        Member(4, {"accuracy": 0.98, "flops": 10.0}, NAMES, violation=0.1),
    ]

    ranks = assign_rank_and_crowding(population)
    front = first_front(population)
    survivors = select_survivors(population, 2)
    three = select_survivors(population, 3)

    assert [m.id for m in front] == [1]
    assert ranks[1] < ranks[2] < ranks[4] < ranks[3]
    assert sorted(m.id for m in survivors) == [1, 2]
    assert [m.id for m in three][-1] == 4


def test_nan_violation_is_infeasible():
    member = Member(1, {"accuracy": 0.9, "flops": 1.0}, NAMES, violation=math.nan)

    assert member.has_fitness
    assert not member.feasible
    assert member.violation == math.inf


def test_member_without_fitness_ranks_after_violators():
    population = [
        Member(1, {"accuracy": 0.9, "flops": 1.0}, NAMES, violation=5.0),
        Member(2, {"flops": 1.0}, NAMES),
        Member(3, {"accuracy": 0.1, "flops": 9.0}, NAMES),
    ]

    ranks = assign_rank_and_crowding(population)
    everyone = select_survivors(population, 3)

    assert ranks[3] < ranks[1] < ranks[2]
    assert [m.id for m in everyone] == [3, 1, 2]
    assert first_front(population) == [population[2]]


# The vectorised sort against DEAP's, and crowding distances in tournaments

from hypothesis import given, settings
from hypothesis import strategies as st

from evo.selection import fitness_order, select_nsga2, sort_nondominated

ALL_COST_NAMES = ("accuracy", "flops", "params", "latency")


@st.composite
def populations(draw):
    """Members over 1 to 4 objectives with values from a small grid, so that ties and
    equal fitnesses are frequent."""
    count = draw(st.integers(min_value=0, max_value=40))
    width = draw(st.integers(min_value=1, max_value=4))
    names = ALL_COST_NAMES[:width]
    grid = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 2.0])
    points = draw(st.lists(st.tuples(*[grid] * width), min_size=count, max_size=count))
    return [Member(i + 1, dict(zip(names, point)), names) for i, point in enumerate(points)]


def _ids(fronts):
    return [[m.id for m in front] for front in fronts]


@settings(max_examples=300, deadline=None)
@given(populations(), st.integers(min_value=0, max_value=45), st.booleans())
def test_sort_nondominated_matches_deap(population, k, first_only):
    ours = sort_nondominated(population, k, first_front_only=first_only)
    deaps = tools.sortNondominated(population, k, first_front_only=first_only)

    assert _ids(ours) == _ids(deaps)


@settings(max_examples=300, deadline=None)
@given(populations(), st.integers(min_value=0, max_value=45))
def test_select_nsga2_matches_deap(population, k):
    twin = [Member(m.id, m.objectives, m.names) for m in population]

    ours = select_nsga2(population, k)
    deaps = tools.selNSGA2(twin, k)

    assert [m.id for m in ours] == [m.id for m in deaps]
    assert [m.crowding_dist for m in ours] == [m.fitness.crowding_dist for m in deaps]


def test_tournament_prefers_larger_crowding():
    # One front of four points: the two ends have infinite crowding distance, the middle
    # ones finite. Every tournament of an end against a middle point must pick the end,
    # which failed while the distances stayed on DEAP's fitness objects and read as 0.
    population = members([(0.9, 1e6), (0.8, 5e5), (0.7, 2e5), (0.6, 1e5)])
    ranks = assign_rank_and_crowding(population)
    assert set(ranks.values()) == {0}
    # Accuracy adds 0.2 / 0.6 to both middle points; FLOPs add 8e5 / 1.8e6 and 4e5 / 1.8e6.
    assert [m.crowding_dist for m in population] == [
        math.inf, pytest.approx(1 / 3 + 4 / 9), pytest.approx(1 / 3 + 2 / 9), math.inf]

    rng = np.random.default_rng(3)
    for _ in range(200):
        ends, middles = [population[0], population[3]], [population[1], population[2]]
        pair = [ends[int(rng.integers(2))], middles[int(rng.integers(2))]]
        chosen = select_parents(pair, 1, rng, {m.id: 0 for m in pair})
        assert chosen[0] in ends


def test_fitness_order_breaks_rank_ties_by_crowding():
    population = members([(0.9, 1e6), (0.8, 5e5), (0.7, 2e5), (0.6, 1e5)])

    order = fitness_order(population)

    assert order[1] < order[2]
    assert order[2] < order[3]
    assert order[4] < order[2]
    assert order[1] == order[4] == (0, -math.inf)
