"""The in-memory lineage index against the recursive SQL walks of Store, on real files."""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from population_builders import individual

from populations import Store, queries
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


# Random DAGs against a plain breadth-first search in Python


def breadth_first_depths(links, start, depth, *, descendants):
    """Smallest depth of each relative of `start`, by a level-by-level walk over Python sets."""
    neighbours = defaultdict(list)
    for child, parent in links:
        if descendants:
            neighbours[parent].append(child)
        else:
            neighbours[child].append(parent)
    found = {}
    seen = {start}
    frontier = [start]
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        next_frontier = []
        for node in frontier:
            for neighbour in neighbours[node]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    found[neighbour] = level
                    next_frontier.append(neighbour)
        frontier = next_frontier
    return found


def commit_links(store, count, links):
    """Commit individuals 1 to `count` in one generation, with the given (child, parent) links."""
    campaign_id = store.create_campaign("dag", {}, seed=0)
    ids = list(range(1, count + 1))
    store.commit_generation(
        campaign_id, 0, individuals=[individual(i) for i in ids],
        lineage=[{"child_id": child, "parent_id": parent, "operator": "mutation"} for child, parent in links],
        evaluations=[], members=ids, front=ids[:1], hypervolume=None, state={},
    )


@st.composite
def lineages(draw):
    """Individuals 1 to n, each with up to three parents of smaller id, so the ids are a topological order.

    Parents may be any number of steps older, as survivors are in a campaign, so one ancestor
    is often reached by paths of different lengths.
    """
    count = draw(st.integers(min_value=1, max_value=24))
    links = []
    for child in range(2, count + 1):
        parents = draw(st.sets(st.integers(min_value=1, max_value=child - 1), max_size=3))
        links.extend((child, parent) for parent in sorted(parents))
    return count, links


def assert_walks_match(index, count, links, depth):
    # Ids past the last individual are unknown and must give an empty frame.
    for individual_id in range(0, count + 2):
        for descendants in (False, True):
            frame = index.descendants(individual_id, depth) if descendants else index.ancestors(individual_id, depth)
            found = dict(zip(frame["individual_id"].tolist(), frame["depth"].tolist()))
            expected = breadth_first_depths(links, individual_id, depth, descendants=descendants)
            where = f"individual {individual_id}, depth {depth}, descendants {descendants}"
            assert len(found) == len(frame), f"{where}: a relative appears twice"
            assert found == expected, where
            assert frame["depth"].is_monotonic_increasing, where
            assert str(frame["individual_id"].dtype) == "int64", where
            assert str(frame["depth"].dtype) == "int64", where


@settings(max_examples=60, deadline=None)
@given(lineages(), st.sampled_from([None, 1, 2, 3, 5]), st.sampled_from([0, LEVEL_WALK_MAX_DEPTH]))
def test_index_matches_python_walk(lineage, depth, level_walk_max_depth):
    count, links = lineage
    # A limit of 0 sends every query through the breadth-first search, depth limits included.
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "dag.db") as store, \
            mock.patch.object(queries, "LEVEL_WALK_MAX_DEPTH", level_walk_max_depth):
        commit_links(store, count, links)
        assert_walks_match(lineage_index(store), count, links, depth)


@pytest.mark.parametrize("depth", [None, 1, 2])
def test_index_walks_lineage_with_cycle(store, depth):
    # The engine never writes a cycle, but the lineage table does not forbid one.
    links = [(2, 1), (3, 2), (1, 3), (4, 3), (4, 4)]
    commit_links(store, 4, links)

    with mock.patch.object(queries, "LEVEL_WALK_MAX_DEPTH", 0):
        assert_walks_match(lineage_index(store), 4, links, depth)
    assert_walks_match(lineage_index(store), 4, links, depth)


@pytest.mark.parametrize("descendants", [False, True])
def test_sql_walks_end_on_cycle(store, descendants):
    # Each row of the recursive walks carries its depth, so before they were bounded a cycle
    # or a self-link written by hand made them (and `evo lineage`) run forever.
    links = [(2, 1), (3, 2), (1, 3), (4, 3), (4, 4)]
    commit_links(store, 4, links)
    steps = iter(range(10_000))
    # A walk that does not end is interrupted after about 10,000 x 1,000 SQLite steps.
    store.db.conn.set_progress_handler(lambda: next(steps, None) is None, 1000)

    walk = store.descendants(1) if descendants else store.ancestors(4)
    family = queries.family(store, [4], descendants=descendants)

    assert set(zip(walk["child_id"], walk["parent_id"])) == set(links)
    assert len(family) == len(set(zip(family["child_id"], family["parent_id"])))
