"""Fixtures: a real population database file in tmp_path, and a helper that commits generations.

Tests run with --import-mode=importlib, which does not put test folders on sys.path, so
this file adds its own folder for `import population_builders`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from population_builders import evaluation, individual  # noqa: E402

from populations import Store  # noqa: E402


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "population.db"


@pytest.fixture
def store(db_path):
    with Store(db_path) as opened:
        yield opened


@pytest.fixture
def campaign_id(store):
    return store.create_campaign("first", {"population": 4, "objectives": ["accuracy", "flops"]}, seed=7)


@pytest.fixture
def commit_seeds(store, campaign_id) -> Callable[..., list[int]]:
    """Return a function that commits generation `number` with `count` new seed individuals.

    Each new individual gets an ok evaluation with accuracy and flops; the front is
    every member. The function returns the new ids.
    """

    def commit(number: int = 0, count: int = 2) -> list[int]:
        first = store.next_individual_id()
        ids = list(range(first, first + count))
        store.commit_generation(
            campaign_id,
            number,
            individuals=[individual(i, number) for i in ids],
            lineage=[],
            evaluations=[evaluation(i, accuracy=0.5 + i / 100, flops=1000.0 * i) for i in ids],
            members=ids,
            front=ids,
            hypervolume=0.1 * (number + 1),
            state={"rng": [number, 42]},
        )
        return ids

    return commit
