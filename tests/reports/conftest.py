"""Fixtures: population databases with a scored campaign, an empty one and a failed one."""

from __future__ import annotations

import re

import pytest

from evo.config import PRESETS_DIR
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


# A family: 1 and 2 are seeds; 3 = change_width(1); 4 = crossover(3, 2); 5 = add_skip(4).
# (id, generation, origin, accuracy, flops)
FAMILY = [
    (1, 0, "seed", 0.50, 1000.0),
    (2, 0, "seed", 0.60, 4000.0),
    (3, 1, "mutation", 0.70, 800.0),
    (4, 2, "crossover", 0.65, 2000.0),
    (5, 3, "mutation", 0.80, 2000.0),
]
FAMILY_LINKS = [
    (3, 1, "change_width"),
    (4, 3, "one_point_crossover"),
    (4, 2, "one_point_crossover"),
    (5, 4, "add_skip"),
]
FAMILY_FRONTS = {0: [1, 2], 1: [3, 2], 2: [3, 2], 3: [3, 5]}


@pytest.fixture
def family_db(tmp_path):
    """Return a file with one campaign whose individuals form FAMILY, linked by FAMILY_LINKS."""
    path = tmp_path / "family.db"
    with Store(path) as store:
        campaign = store.create_campaign("family", {"search": {"objectives": ["accuracy", "flops"]}}, seed=0)
        for generation, front in FAMILY_FRONTS.items():
            rows = [row for row in FAMILY if row[1] == generation]
            ids = {row[0] for row in rows}
            store.commit_generation(
                campaign, generation,
                individuals=[{**_individual(i, g, "fam"), "origin": origin} for i, g, origin, _, _ in rows],
                lineage=[{"child_id": c, "parent_id": p, "operator": op} for c, p, op in FAMILY_LINKS if c in ids],
                evaluations=[_evaluation(i, "ok", accuracy=a, flops=f) for i, _, _, a, f in rows],
                members=[row[0] for row in FAMILY if row[1] <= generation],
                front=front,
                hypervolume=0.1 * generation,
                state={"reference": {"flops": 1.0e8}},
            )
    return path


def _run_campaign(directory, config_text):
    from click.testing import CliRunner

    from evo.cli import main

    config = directory / "campaign.toml"
    config.write_text(config_text, encoding="utf-8")
    database = directory / "campaign.sqlite"
    result = CliRunner().invoke(main, ["--quiet", "run", str(config), "--db", str(database)])
    assert result.exit_code == 0, result.output
    return database


@pytest.fixture(scope="session")
def smoke_db(tmp_path_factory):
    """Return a database written by a real run of the smoke preset (digits, seconds)."""
    return _run_campaign(tmp_path_factory.mktemp("smoke"), (PRESETS_DIR / "smoke.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def mnist1d_db(tmp_path_factory):
    """Return a database of the mnist1d preset cut to 1 generation of 4 and 40 training steps."""
    text = (PRESETS_DIR / "mnist1d.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^steps = \d+", "steps = 40", text)
    text = re.sub(r"(?m)^population = \d+", "population = 4", text)
    text = re.sub(r"(?m)^generations = \d+", "generations = 1", text)
    text = re.sub(r"(?m)^workers = \d+", "workers = 1", text)
    return _run_campaign(tmp_path_factory.mktemp("mnist1d"), text)
