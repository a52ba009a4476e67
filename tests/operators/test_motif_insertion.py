import dataclasses
import json
import sqlite3

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genomes import Genome, SearchSpace, decode
from genomes.innovation import InnovationCounter
from genomes.zoo import SEEDS
from operators import GUIDED_OPERATORS, MotifError, MotifSpec, get_operator, parse_motif

SHAPES = {"flat": ((16,), 5), "sequence": ((1, 24), 4), "image": ((1, 8, 8), 3)}
OPERATIONS = ("conv", "maxpool", "avgpool", "linear", "identity", "batchnorm", "dropout", "sepconv")
ACTIVATIONS = ("relu", "identity", "tanh")


def space_for(kind, max_nodes=14):
    input_shape, classes = SHAPES[kind]
    return SearchSpace(input_shape, classes, widths=(4, 16), max_nodes=max_nodes, max_parameters=200_000)


@st.composite
def motifs(draw):
    """A random connected DAG of 1 to 4 nodes: each node after the first reads at least one earlier node."""
    size = draw(st.integers(1, 4))
    labels = []
    for _ in range(size):
        label = f"{draw(st.sampled_from(OPERATIONS))}/{draw(st.sampled_from(ACTIVATIONS))}"
        labels.append(label)
    edges = set()
    for target in range(1, size):
        sources = draw(st.sets(st.integers(0, target - 1), min_size=1, max_size=target))
        edges.update((source, target) for source in sources)
    for target in range(size):
        if sum(1 for _, t in edges if t == target) > 1:
            labels[target] += "/" + draw(st.sampled_from(("add", "concat")))
    return MotifSpec(tuple(labels), tuple(sorted(edges)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SHAPES)), seed=st.integers(0, 2**32 - 1),
       motif_list=st.lists(motifs(), min_size=1, max_size=3))
def test_motif_insertion_child_valid_or_reason(kind, seed, motif_list):
    space = space_for(kind)
    parent = SEEDS["small_mlp" if kind == "flat" else "small_cnn"].build(space.input_shape, space.num_classes)
    counter = InnovationCounter()
    counter.skip_past([parent])
    operator = GUIDED_OPERATORS["insert_motif"].with_motifs(motif_list)
    variation = operator([parent], np.random.default_rng(seed), space, new_id=counter)
    if not variation.applied:
        assert variation.reason
        return
    child = variation.genome
    assert space.violation(child) is None
    assert len(child) > len(parent)
    network = decode(child, space.input_shape, space.num_classes)
    output = network(torch.randn(2, *space.input_shape))
    assert output.shape == (2, space.num_classes)


def test_inserted_nodes_carry_motif_labels():
    space = space_for("image")
    parent = SEEDS["small_cnn"].build(space.input_shape, space.num_classes)
    motif = parse_motif("A=conv/relu B=maxpool/identity; A->B")
    variation = get_operator("insert_motif").with_motifs([motif])([parent], np.random.default_rng(3), space)
    assert variation.applied
    old_ids = {node.id for node in parent.nodes}
    new_nodes = [node for node in variation.genome.nodes if node.id not in old_ids]
    assert sorted((node.op, node.activation) for node in new_nodes) == [("conv", "relu"), ("maxpool", "identity")]
    by_op = {node.op: node for node in new_nodes}
    assert by_op["conv"].id in by_op["maxpool"].inputs


def test_without_motifs_does_not_apply():
    space = space_for("flat")
    parent = SEEDS["small_mlp"].build(space.input_shape, space.num_classes)
    variation = get_operator("insert_motif")([parent], np.random.default_rng(0), space)
    assert not variation.applied
    assert "no motif given" in variation.reason


def test_motif_outside_space_does_not_apply():
    space = SearchSpace((16,), 5, operations=("linear", "identity"), max_nodes=10)
    parent = SEEDS["small_mlp"].build(space.input_shape, space.num_classes)
    operator = get_operator("insert_motif").with_motifs(["A=conv/relu B=linear/relu; A->B"])
    variation = operator([parent], np.random.default_rng(0), space)
    assert not variation.applied
    assert "operations and activations" in variation.reason


def test_motif_larger_than_room_does_not_apply():
    space = space_for("flat", max_nodes=3)
    parent = SEEDS["small_mlp"].build(space.input_shape, space.num_classes)
    operator = get_operator("insert_motif").with_motifs(["A=linear/relu B=linear/relu C=linear/relu; A->B, B->C"])
    variation = operator([parent], np.random.default_rng(0), space)
    assert not variation.applied
    assert "max_nodes" in variation.reason


@pytest.mark.parametrize("text, message", [
    ("", "name the nodes"),
    ("B=conv/relu", "name the nodes"),
    ("A=conv/relu B=conv/relu; A->C", "not listed"),
    ("A=conv/relu B=conv/relu", "not connected"),
    ("A=conv/relu B=conv/relu; A->B, B->A", "cycle"),
    ("A=conv", "operation/activation"),
    ("A=conv/relu/mean B=conv/relu; A->B", "operation/activation"),
])
def test_parse_motif_rejects_invalid_text(text, message):
    with pytest.raises(MotifError, match=message):
        parse_motif(text)


def test_parse_motif_reads_miner_output():
    motif = parse_motif("A=conv/relu B=conv/relu/add C=maxpool/identity; A->B, C->B")
    assert motif.labels == ("conv/relu", "conv/relu/add", "maxpool/identity")
    assert motif.edges == ((0, 1), (2, 1))
    assert parse_motif(motif.describe()) == motif


def test_smoke_campaign_uses_mined_motifs(tmp_path):
    from evo.campaign import Campaign
    from evo.config import load_preset
    from populations import Store

    config = load_preset("smoke").with_overrides(db=str(tmp_path / "m.sqlite"))
    config = config.replace(search=dataclasses.replace(
        config.search, operators=("insert_motif", "change_width"), crossover_rate=0.0, generations=3))
    with Store(config.db_path) as store:
        campaign = Campaign(config, store, progress=False)
        campaign.run()
    connection = sqlite3.connect(config.db_path)
    try:
        operators = [row[0] for row in connection.execute("SELECT operator FROM lineage")]
        genomes = [json.loads(row[0]) for row in connection.execute(
            "SELECT i.genome FROM individuals i JOIN lineage l ON l.child_id = i.id WHERE l.operator = 'insert_motif'")]
    finally:
        connection.close()
    assert "insert_motif" in operators
    for genome in genomes:
        assert campaign.space.violation(Genome.from_dict(genome)) is None
