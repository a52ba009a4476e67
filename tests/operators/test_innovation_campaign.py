"""Innovation ids in a real campaign (smoke preset, scikit-learn digits): unique across the
database, continued after a resume, and a bad imported seed is logged and skipped."""

import dataclasses
import json
import sqlite3

from evo.campaign import Campaign
from evo.config import load_preset
from genomes import Genome
from populations import Store


def smoke_config(tmp_path, **search):
    config = load_preset("smoke").with_overrides(db=str(tmp_path / "smoke.sqlite"))
    return config.replace(search=dataclasses.replace(config.search, **search)) if search else config


def run_campaign(config):
    with Store(config.db_path) as store:
        return Campaign(config, store, progress=False).run()


def stored(path):
    connection = sqlite3.connect(path)
    try:
        individuals = [(row[0], Genome.from_json(row[1]), row[2])
                       for row in connection.execute("SELECT id, genome, origin FROM individuals ORDER BY id")]
        states = [json.loads(row[0]) for row in
                  connection.execute("SELECT state FROM generations ORDER BY number")]
    finally:
        connection.close()
    return individuals, states


def creations(individuals):
    """The node ids each individual created: ids that none of the earlier individuals carried."""
    seen: set[int] = set()
    created = {}
    for individual_id, genome, _ in individuals:
        created[individual_id] = set(genome.ids) - seen
        seen |= set(genome.ids)
    return created


def test_seeds_get_disjoint_node_ids(tmp_path):
    config = smoke_config(tmp_path, generations=0)
    run_campaign(config)
    individuals, states = stored(config.db_path)
    seeds = [genome for _, genome, origin in individuals if origin == "seed"]
    ids = [nid for genome in seeds for nid in genome.ids]

    assert len(seeds) >= 2
    assert len(ids) == len(set(ids))
    assert states[-1]["next_node_id"] > max(ids)


def test_resume_continues_node_ids(tmp_path):
    straight = smoke_config(tmp_path / "straight", generations=2)
    run_campaign(straight)
    resumed = smoke_config(tmp_path / "resumed", generations=1)
    run_campaign(resumed)
    first_part, first_states = stored(resumed.db_path)
    run_campaign(resumed.with_overrides(generations=2))
    whole, states = stored(resumed.db_path)
    expected, _ = stored(straight.db_path)

    later = [genome for individual_id, genome, _ in whole if individual_id > first_part[-1][0]]
    new_ids = set().union(*(set(g.ids) for g in later)) - set().union(*(set(g.ids) for _, g, _ in first_part))
    assert new_ids
    assert min(new_ids) >= first_states[-1]["next_node_id"]
    assert [g.to_json() for _, g, _ in whole] == [g.to_json() for _, g, _ in expected]
    assert states[-1]["next_node_id"] > max(new_ids)


def test_nodes_created_by_different_children_never_share_ids(tmp_path):
    config = smoke_config(tmp_path, generations=2)
    run_campaign(config)
    individuals, _ = stored(config.db_path)
    created = [ids for ids in creations(individuals).values() if ids]

    flat = [nid for ids in created for nid in ids]
    assert len(flat) == len(set(flat))


def test_unimportable_seed_is_logged_and_skipped(tmp_path, caplog):
    source = tmp_path / "branchy.py"
    source.write_text(
        "from torch import nn\n"
        "class Branchy(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(64, 10)\n"
        "    def forward(self, x):\n"
        "        if x.sum() > 0:\n"
        "            x = x * 2\n"
        "        return self.fc(x.flatten(1))\n"
    )
    config = smoke_config(tmp_path, generations=0, seeds=(f"{source}:Branchy", "small_mlp"))

    with caplog.at_level("WARNING"):
        run_campaign(config)
    individuals, _ = stored(config.db_path)

    assert f"seed '{source}:Branchy' left out" in caplog.text
    assert "module Branchy" in caplog.text
    assert len(individuals) >= 1
