"""Fixtures: population databases with a scored campaign, an empty one and a failed one."""

from __future__ import annotations

import pytest

from populations import Store

# (id, generation, accuracy, flops); flops span four decades, so the x axis is logarithmic.
SCORED = [
    (1, 0, 0.60, 2.0e4),
    (2, 0, 0.70, 3.0e5),
    (3, 0, 0.65, 1.0e6),
    (4, 1, 0.80, 5.0e6),
    (5, 1, 0.72, 2.5e4),
    (6, 1, 0.90, 2.0e8),
]
LAST_FRONT = [5, 2, 4, 6]
SCRIPT_NAME = "<script>alert('x')</script> & co"


def _individual(individual_id, generation, campaign=""):
    return {
        "id": individual_id,
        "genome": {
            "format": 1, "output": 1, "head": "flatten",
            "nodes": [{"id": 1, "op": "linear", "params": {"width": 4 + individual_id},
                       "activation": "relu", "merge": "add", "inputs": [0]}],
        },
        "genome_hash": f"hash{campaign}-{individual_id}",
        "generation": generation,
        "origin": "seed" if generation == 0 else "mutation",
    }


def _evaluation(individual_id, status, **objectives):
    return {"individual_id": individual_id, "status": status, "objectives": objectives, "task_key": "digits"}


@pytest.fixture
def db_path(tmp_path):
    """Return a file with three campaigns: scored (id 1), named SCRIPT_NAME without generations (2), failed (3)."""
    path = tmp_path / "population.db"
    with Store(path) as store:
        scored = store.create_campaign("scored", {"objectives": ["accuracy", "flops"]}, seed=1)
        for generation, front in ((0, [1, 2]), (1, LAST_FRONT)):
            rows = [row for row in SCORED if row[1] == generation]
            store.commit_generation(
                scored, generation,
                individuals=[_individual(i, g) for i, g, _, _ in rows],
                lineage=[],
                evaluations=[_evaluation(i, "ok", accuracy=a, flops=f) for i, _, a, f in rows],
                members=[row[0] for row in SCORED if row[1] <= generation],
                front=front,
                hypervolume=0.3 + 0.2 * generation,
                state={},
            )

        store.create_campaign(SCRIPT_NAME, {}, seed=2)

        failed = store.create_campaign("failed", {}, seed=3)
        store.commit_generation(
            failed, 0,
            individuals=[_individual(7, 0, "f")],
            lineage=[],
            evaluations=[_evaluation(7, "oom", params=1.0e6)],
            members=[7],
            front=[7],
            hypervolume=None,
            state={},
        )
    return path


@pytest.fixture
def store(db_path):
    with Store(db_path, readonly=True) as opened:
        yield opened


@pytest.fixture
def last_front():
    """Ids of the front stored with the last generation of the scored campaign, in stored order."""
    return list(LAST_FRONT)


@pytest.fixture
def script_name():
    """Name of campaign 2, full of characters that HTML must escape."""
    return SCRIPT_NAME
