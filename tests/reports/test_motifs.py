"""Motif mining and design rules on synthetic genomes built directly, without training."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from genomes import Genome, Node
from reports.motifs import (
    canonical_motif,
    design_rules,
    feature_table,
    genome_features,
    genome_motifs,
    holm_adjust,
    mine_motifs,
    spearman_interval,
)

OPERATIONS = ["conv", "avgpool", "batchnorm", "identity"]
ACTIVATIONS = ["relu", "gelu", "silu", "identity"]
PLANTED = [("maxpool", "tanh"), ("conv", "tanh")]  # maxpool/tanh feeding conv/tanh
PLANTED_TEXT = "A=conv/tanh B=maxpool/tanh; B->A"


def _node(node_id, op, activation, inputs, merge="add"):
    params = {"width": 8} if op == "conv" else {}
    return Node(node_id, op, params, activation, merge, tuple(inputs))


def _random_genome(rng, planted):
    """Build a chain of 3 to 6 random nodes with an occasional skip; optionally splice in PLANTED."""
    length = int(rng.integers(3, 7))
    labels = [(OPERATIONS[rng.integers(len(OPERATIONS))], ACTIVATIONS[rng.integers(len(ACTIVATIONS))])
              for _ in range(length)]
    planted_nodes = ()
    if planted:
        position = int(rng.integers(0, length - 1))
        labels[position:position + 2] = PLANTED
        planted_nodes = (position + 1, position + 2)  # one input each, so their labels have no merge
    nodes = []
    for index, (op, activation) in enumerate(labels, start=1):
        inputs = [index - 1]
        if index >= 3 and index not in planted_nodes and rng.random() < 0.3:
            inputs.append(int(rng.integers(0, index - 1)))
        nodes.append(_node(index, op, activation, inputs, merge="concat" if rng.random() < 0.5 else "add"))
    return Genome(tuple(nodes), output=length).validate()


def _population(seed, count=300, planted_share=0.3):
    rng = np.random.default_rng(seed)
    planted = rng.random(count) < planted_share
    return [_random_genome(rng, bool(flag)) for flag in planted], planted, rng


def test_canonical_form_ignores_node_order():
    first = canonical_motif(["conv/relu", "maxpool/tanh", "conv/relu"], [(0, 1), (1, 2)])
    second = canonical_motif(["maxpool/tanh", "conv/relu", "conv/relu"], [(1, 0), (0, 2)])

    assert first == second


def test_canonical_form_keeps_direction():
    forward = canonical_motif(["conv/relu", "maxpool/tanh"], [(0, 1)])
    backward = canonical_motif(["conv/relu", "maxpool/tanh"], [(1, 0)])

    assert forward != backward


def test_canonical_form_tells_shapes_apart():
    chain = canonical_motif(["conv/relu"] * 3, [(0, 1), (1, 2)])
    fork = canonical_motif(["conv/relu"] * 3, [(0, 1), (0, 2)])

    assert chain != fork


def test_chain_motifs_counted():
    genome = Genome(tuple(_node(i, "conv", "relu", [i - 1]) for i in range(1, 5)), output=4)

    found = genome_motifs(genome)

    # A chain of 4 equal nodes has one motif per size: the sub-chains of 2, 3 and 4 nodes.
    assert sorted(len(motif.labels) for motif in found) == [2, 3, 4]


def test_motifs_include_merge_of_multi_input_nodes():
    genome = Genome((
        _node(1, "conv", "relu", [0]),
        _node(2, "conv", "relu", [1]),
        _node(3, "identity", "identity", [1, 2], merge="concat"),
    ), output=3)

    described = {motif.describe() for motif in genome_motifs(genome)}

    assert "A=conv/relu B=conv/relu C=identity/identity/concat; A->B, A->C, B->C" in described


def test_dead_nodes_are_left_out():
    genome = Genome((
        _node(1, "conv", "relu", [0]),
        _node(2, "batchnorm", "gelu", [1]),
        _node(3, "conv", "relu", [1]),
    ), output=3)

    labels = {label for motif in genome_motifs(genome) for label in motif.labels}

    assert "batchnorm/gelu" not in labels


def test_holm_adjustment():
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.5])

    assert np.allclose(adjusted, [0.04, 0.09, 0.09, 0.5])


def test_planted_motif_ranks_first():
    genomes, planted, rng = _population(seed=1)
    fitness = planted * 1.0 + rng.normal(0.0, 0.3, len(genomes))
    in_front = fitness >= np.quantile(fitness, 0.9)

    table = mine_motifs(genomes, in_front)

    assert table.iloc[0]["motif"] == PLANTED_TEXT
    assert table.iloc[0]["p_adjusted"] < 0.01
    assert table.iloc[0]["lift"] > 2.0


@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_random_fitness_finds_nothing(seed):
    genomes, _, rng = _population(seed=seed)
    in_front = np.zeros(len(genomes), dtype=bool)
    in_front[rng.choice(len(genomes), size=30, replace=False)] = True

    table = mine_motifs(genomes, in_front)

    assert len(table) > 50
    assert (table["p_adjusted"] >= 0.01).all()


def test_mine_motifs_columns_and_support():
    genomes, planted, _ = _population(seed=7, count=40)

    table = mine_motifs(genomes, planted)
    row = table[table["motif"] == PLANTED_TEXT].iloc[0]

    assert row["front_count"] == planted.sum()
    assert row["support_front"] == 1.0
    assert math.isclose(row["lift"], row["support_front"] / row["support_all"])
    assert list(table["rank"]) == list(range(1, len(table) + 1))


def test_mine_motifs_rejects_mismatched_flags():
    genomes, _, _ = _population(seed=8, count=5)

    with pytest.raises(ValueError, match="got 5 genomes but 4 front flags"):
        mine_motifs(genomes, [True] * 4)


def test_genome_features():
    genome = Genome((
        _node(1, "conv", "relu", [0]),
        _node(2, "conv", "relu", [1]),
        _node(3, "identity", "identity", [1, 2]),
    ), output=3)

    features = genome_features(genome)

    assert features["depth"] == 3
    assert features["width"] == 8
    assert math.isclose(features["skip_density"], 1 / 3)
    assert math.isclose(features["share_conv"], 2 / 3)


def test_design_rules_find_monotone_feature():
    genomes, _, rng = _population(seed=9, count=120)
    features = feature_table(genomes)
    accuracy = features["depth"].to_numpy() + rng.normal(0, 0.1, len(genomes))

    rules = design_rules(features, {"accuracy": accuracy})
    depth = rules[(rules["feature"] == "depth") & (rules["objective"] == "accuracy")].iloc[0]

    assert depth["spearman"] > 0.9
    assert depth["ci_low"] < depth["spearman"] < depth["ci_high"]
    assert rules.iloc[0]["feature"] == "depth"


def test_design_rules_constant_feature_is_nan():
    features = pd.DataFrame({"depth": [3.0] * 10})

    rules = design_rules(features, {"accuracy": np.linspace(0, 1, 10)})

    assert math.isnan(rules.iloc[0]["spearman"])


@pytest.mark.parametrize("n, rho, expected_nan", [(3, 0.5, True), (50, 0.5, False), (50, math.nan, True)])
def test_spearman_interval(n, rho, expected_nan):
    low, high = spearman_interval(rho, n)

    assert math.isnan(low) == expected_nan
    if not expected_nan:
        assert -1 < low < rho < high < 1
