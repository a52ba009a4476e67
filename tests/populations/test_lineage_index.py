"""The in-memory lineage index against the recursive SQL walks of Store, on real files."""

from __future__ import annotations

import random

import pytest
from population_builders import individual

from populations.queries import LEVEL_WALK_MAX_DEPTH, lineage_index


def commit_random_lineage(store, campaign_id, generations=8, width=6, seed=3):
    """Commit generations where each child has one or two parents from any earlier generation.

    Parents from older generations make paths of different lengths to one ancestor, so the
    smallest depth differs from the generation gap.
    """
    rng = random.Random(seed)
    ids_by_generation = []
    next_id = 1
    for number in range(generations):
        ids = list(range(next_id, next_id + width))
        next_id += width
        lineage = []
        if number:
            earlier = [i for generation_ids in ids_by_generation for i in generation_ids]
            for child in ids:
                for parent in rng.sample(earlier, rng.choice((1, 2))):
                    lineage.append({"child_id": child, "parent_id": parent, "operator": "mutation"})
        store.commit_generation(
            campaign_id, number, individuals=[individual(i, number) for i in ids], lineage=lineage,
            evaluations=[], members=ids, front=ids[:1], hypervolume=None, state={},
        )
        ids_by_generation.append(ids)
    return next_id - 1


def expected_depths(store, individual_id, depth, *, descendants):
    """Smallest depth of each distinct relative, from the link rows of Store.ancestors/descendants."""
    links = store.descendants(individual_id, depth) if descendants else store.ancestors(individual_id, depth)
    relative = "child_id" if descendants else "parent_id"
    return links.groupby(relative)["depth"].min().to_dict()


@pytest.mark.parametrize("depth", [None, 1, 3, LEVEL_WALK_MAX_DEPTH + 1])
@pytest.mark.parametrize("descendants", [False, True])
def test_index_matches_sql_walk(store, campaign_id, depth, descendants):
    last_id = commit_random_lineage(store, campaign_id)
    index = lineage_index(store)

    for individual_id in range(1, last_id + 1):
        frame = index.descendants(individual_id, depth) if descendants else index.ancestors(individual_id, depth)
        found = dict(zip(frame["individual_id"].tolist(), frame["depth"].tolist()))
        assert len(found) == len(frame), f"individual {individual_id}: a relative appears twice"
        assert found == expected_depths(store, individual_id, depth, descendants=descendants), individual_id
        assert frame["depth"].is_monotonic_increasing


def test_index_built_once_per_store(store, campaign_id):
    commit_random_lineage(store, campaign_id, generations=2)

    assert lineage_index(store) is lineage_index(store)
    assert lineage_index(store).build_seconds > 0


def test_index_sees_new_generation(store, campaign_id):
    last_id = commit_random_lineage(store, campaign_id, generations=3)
    index = lineage_index(store)
    assert index.ancestors(last_id + 1).empty

    child = last_id + 1
    store.commit_generation(
        campaign_id, 3, individuals=[individual(child, 3)],
        lineage=[{"child_id": child, "parent_id": last_id, "operator": "mutation"}],
        evaluations=[], members=[child], front=[child], hypervolume=None, state={},
    )

    ancestors = index.ancestors(child)
    assert ancestors.iloc[0].tolist() == [last_id, 1]
    assert index.descendants(last_id)["individual_id"].tolist() == [child]


def test_index_seed_and_unknown_id_empty(store, campaign_id):
    commit_random_lineage(store, campaign_id, generations=2)
    index = lineage_index(store)

    assert index.ancestors(1).empty
    assert index.descendants(10**9).empty
    assert list(index.ancestors(1).columns) == ["individual_id", "depth"]


@pytest.mark.parametrize(("individual_id", "depth", "message"), [
    (-1, None, "individual id -1 is invalid"),
    ("7", None, "individual id '7' is invalid"),
    (7, 0, "depth 0 is invalid; use an integer >= 1, or None"),
    (7, True, "depth True is invalid"),
])
def test_index_rejects_invalid_arguments(store, campaign_id, individual_id, depth, message):
    commit_random_lineage(store, campaign_id, generations=2)

    with pytest.raises(ValueError, match=message):
        lineage_index(store).ancestors(individual_id, depth)
