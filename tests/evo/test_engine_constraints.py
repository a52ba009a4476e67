import dataclasses
import json
import sqlite3

import numpy as np
import pytest

import evo.campaign
from evo.campaign import Campaign, Individual
from evo.config import CampaignConfig, ConfigError, load_preset
from evo.selection import Member, fitness_order
from genomes import Genome
from populations import Store

PARAMS_LIMIT = 2000


def _smoke(tmp_path, **search):
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "engine.sqlite"))
    return config.replace(search=dataclasses.replace(config.search, **search))


def _run(config):
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()


def _rows(path, sql, params=()):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("constraints", "match"),
    [
        ({"parms": 10}, "unknown constraint 'parms'"),
        ({"params": 0}, "params = 0 is invalid"),
        ({"flops": float("nan")}, "flops = nan is invalid"),
        ({"params": True}, "params = true is invalid"),
        ({"latency": 5.0}, "latency is limited but not measured"),
        ([1, 2], "use a table of maxima"),
    ],
)
def test_constraints_config_rejects(constraints, match):
    with pytest.raises(ConfigError, match=match):
        CampaignConfig.from_dict({"name": "bad", "search": {"constraints": constraints}})


def test_constraints_config_accepts_maxima():
    config = CampaignConfig.from_dict(
        {"name": "ok", "search": {"objectives": ["accuracy", "latency"],
                                  "constraints": {"params": 50000, "flops": 2e6, "latency": 5.0}}}
    )

    assert config.search.constraints == {"params": 50000.0, "flops": 2e6, "latency": 5.0}
    assert config.to_dict()["search"]["constraints"]["params"] == 50000.0


def test_inherit_weights_must_be_bool():
    with pytest.raises(ConfigError, match="inherit_weights = 1 is invalid"):
        CampaignConfig.from_dict({"name": "x", "search": {"inherit_weights": 1}})


def test_constrained_campaign_ranks_infeasible_last(tmp_path):
    config = _smoke(tmp_path, constraints={"params": PARAMS_LIMIT}, generations=1)
    _run(config)

    evaluations = _rows(config.db_path, "SELECT individual_id, status, metrics FROM evaluations")
    metrics = {row[0]: json.loads(row[2]) for row in evaluations}
    feasible = {ind_id for ind_id, m in metrics.items() if m.get("feasible")}
    infeasible = set(metrics) - feasible
    generations = _rows(config.db_path, "SELECT number, members, front FROM generations ORDER BY number")

    # The limit splits the smoke seeds: the linear model fits, the CNN does not.
    assert feasible
    assert infeasible
    for ind_id, m in metrics.items():
        assert (m["params"] <= PARAMS_LIMIT) == m["feasible"], ind_id
        if m["feasible"]:
            assert m["violation"] == 0.0
        else:
            assert m["violation"] == pytest.approx(m["params"] / PARAMS_LIMIT - 1)
    for number, members_json, front_json in generations:
        members = json.loads(members_json)
        assert set(json.loads(front_json)) <= feasible, number
        # Survivors: every feasible individual is kept before any infeasible one.
        kept_infeasible = [m for m in members if m in infeasible]
        if kept_infeasible:
            pool = {row[0] for row in _rows(config.db_path, "SELECT id FROM individuals WHERE generation <= ?",
                                            [number])}
            assert feasible & pool <= set(members), number


def test_unmeasured_constraint_is_infeasible(tmp_path):
    config = _smoke(tmp_path, constraints={"latency": 1e9}, generations=0,
                    objectives=("accuracy", "latency"))
    campaign = Campaign(config, Store(config.db_path), progress=False)
    measured = Individual(1, Genome.from_dict(_any_genome(campaign)), "a", 0, "seed",
                          record={"objectives": {"accuracy": 0.5, "latency": 1.0}, "metrics": {}})
    unmeasured = Individual(2, measured.genome, "b", 0, "seed",
                            record={"objectives": {"accuracy": 0.9, "latency": float("nan")}, "metrics": {}})

    first, second = campaign._members([measured, unmeasured])
    campaign.store.close()

    assert first.feasible
    assert not second.feasible
    assert second.violation == float("inf")


def _any_genome(campaign):
    rng = np.random.default_rng(0)
    return campaign._initial_population(rng, 1)[0].genome.to_dict()


def test_fitter_parent_passed_first():
    names = ("accuracy", "flops")
    members = [
        Member(1, {"accuracy": 0.5, "flops": 2e5}, names),  # dominated by 2
        Member(2, {"accuracy": 0.9, "flops": 1e5}, names),
        Member(3, {"accuracy": 0.95, "flops": 9e5}, names),
        Member(4, {"accuracy": 0.99, "flops": float("nan")}, names),
    ]
    order = fitness_order(members)
    individuals = {m.id: Individual(m.id, None, str(m.id), 0, "seed") for m in members}

    def pair(a, b):
        return [ind.id for ind in Campaign._fitter_first(individuals[a], individuals[b], order)]

    assert pair(1, 2) == [2, 1]
    assert pair(2, 1) == [2, 1]
    assert pair(4, 1) == [1, 4]
    assert pair(2, 2) == [2, 2]
    # 2 and 3 share the first front, where both boundary points have infinite crowding.
    assert pair(3, 2) == [3, 2]


def test_cost_model_version_changes_cache_key(tmp_path, monkeypatch):
    config = _smoke(tmp_path, generations=0)
    _run(config)
    monkeypatch.setattr(evo.campaign, "COST_MODEL_VERSION", evo.campaign.COST_MODEL_VERSION + 1)
    _run(config.replace(name="smoke-new-costs"))
    _run(config.replace(name="smoke-new-costs-again"))

    keys = _rows(config.db_path, "SELECT DISTINCT c.name, e.task_key FROM evaluations AS e JOIN individuals AS i"
                                 " ON i.id = e.individual_id JOIN campaigns AS c ON c.id = i.campaign_id")
    statuses = {name: {row[0] for row in _rows(
        config.db_path,
        "SELECT e.status FROM evaluations AS e JOIN individuals AS i ON i.id = e.individual_id"
        " JOIN campaigns AS c ON c.id = i.campaign_id WHERE c.name = ?", [name])}
        for name in ("smoke", "smoke-new-costs", "smoke-new-costs-again")}

    assert len({key for _, key in keys}) == 2
    assert statuses["smoke"] == {"ok"}
    assert statuses["smoke-new-costs"] == {"ok"}
    assert statuses["smoke-new-costs-again"] == {"cached"}
