"""Mined motifs carried from a transfer source into a new campaign ([search] transfer_motifs)."""

import dataclasses
import json
import shutil

import pytest

from evo.config import ConfigError, load_preset
from evo.transfer import front_motifs, merge_motifs
from populations import Store
from reports.motifs import load_campaign_genomes

from campaign_helpers import query, run_campaign

MOTIF_ONLY = ("insert_motif",)


def smoke(path, name, **search):
    config = load_preset("smoke").with_overrides(db=str(path)).replace(name=name)
    return config.replace(search=dataclasses.replace(config.search, **search))


def generation_state(path, number):
    return json.loads(query(path, f"SELECT state FROM generations WHERE number = {number}")[0][0])


def hashes_by_generation(path):
    return query(path, "SELECT generation, genome_hash FROM individuals ORDER BY id")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A finished smoke campaign whose front and motifs are transferred."""
    path = tmp_path_factory.mktemp("source") / "old.sqlite"
    run_campaign(smoke(path, "old", generations=2))
    return path


def motif_children(path, generation):
    return query(path, f"SELECT count(DISTINCT l.child_id) FROM lineage l JOIN individuals i ON i.id = l.child_id "
                       f"WHERE l.operator = 'insert_motif' AND i.generation = {generation}")[0][0]


def test_source_motifs_stored_at_generation_zero(tmp_path, source):
    config = smoke(tmp_path / "new.sqlite", "new", seeds=(f"db:{source}#front",), operators=MOTIF_ONLY,
                   transfer_motifs=True, generations=0)
    run_campaign(config)

    with Store(source, readonly=True) as store:
        mined = load_campaign_genomes(store, store.campaign("old")["id"])
    expected = front_motifs(mined.genomes, mined.in_front, config.search.motif_count)
    assert expected
    assert generation_state(config.db_path, 0)["transferred_motifs"] == expected


def test_generation_zero_uses_transferred_motifs(tmp_path, source):
    # With insert_motif as the only operator, generation 0 can vary its seeds only with motifs
    # from the source, because the new campaign has no front to mine yet.
    warm = smoke(tmp_path / "warm.sqlite", "warm", seeds=(f"db:{source}#front",), operators=MOTIF_ONLY,
                 transfer_motifs=True, generations=0)
    cold = smoke(tmp_path / "cold.sqlite", "cold", seeds=(f"db:{source}#front",), operators=MOTIF_ONLY,
                 generations=0)
    run_campaign(warm)
    run_campaign(cold)

    assert motif_children(warm.db_path, 0) > 0
    assert motif_children(cold.db_path, 0) == 0
    assert "transferred_motifs" not in generation_state(cold.db_path, 0)


def test_resume_ignores_changed_source(tmp_path, source):
    copy = tmp_path / "source.sqlite"
    shutil.copy(source, copy)
    seeds = (f"db:{copy}#front", "linear")
    straight = smoke(tmp_path / "straight.sqlite", "new", seeds=seeds, transfer_motifs=True,
                     operators=("insert_motif", "change_width"), generations=2)
    run_campaign(straight)

    resumed = smoke(tmp_path / "resumed.sqlite", "new", seeds=seeds, transfer_motifs=True,
                    operators=("insert_motif", "change_width"), generations=1)
    run_campaign(resumed)
    # Replace the source by another campaign: a resume must not mine it again.
    copy.unlink()
    run_campaign(smoke(copy, "old", generations=0, seeds=("linear",)))
    run_campaign(dataclasses.replace(resumed, search=dataclasses.replace(resumed.search, generations=2)))

    assert hashes_by_generation(resumed.db_path) == hashes_by_generation(straight.db_path)
    assert generation_state(resumed.db_path, 2)["transferred_motifs"] == \
        generation_state(straight.db_path, 0)["transferred_motifs"]


@pytest.mark.parametrize("search, message", [
    ({"seeds": ("db:old.sqlite#front",)}, "needs insert_motif in"),
    ({"seeds": ("linear",), "operators": MOTIF_ONLY}, "needs a db:PATH#front seed"),
    ({"seeds": ("db:old.sqlite#front",), "operators": MOTIF_ONLY, "transfer_motifs": "yes"}, "use true or false"),
])
def test_invalid_transfer_motifs_config(search, message):
    config = load_preset("smoke")
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(config.search, **{"transfer_motifs": True, **search})


def test_merge_keeps_own_motifs_first():
    own = ["A=conv/relu B=maxpool/identity; A->B"]
    priors = ["A=linear/relu", "A=conv/relu B=maxpool/identity; A->B"]
    assert merge_motifs(own, priors) == [own[0], "A=linear/relu"]
    assert merge_motifs([], priors) == priors
