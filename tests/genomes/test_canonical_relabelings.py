"""Canonical hash over the full operation set: 1,000 relabelings, and any single change counts."""

import numpy as np
import strategies
from hypothesis import given, settings
from hypothesis import strategies as st

from genomes import InnovationCounter

RELABELINGS_PER_GENOME = 5


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_thousand_relabelings_keep_hash(data):
    # 200 examples x 5 relabelings = 1,000 relabelings of random genomes with every operation.
    shape = data.draw(st.sampled_from([(12,), (3, 10), (3, 6, 6)]), label="input_shape")
    genome = data.draw(strategies.genomes(shape, 3, max_nodes=7), label="genome")
    expected = genome.canonical_hash()

    for _ in range(RELABELINGS_PER_GENOME):
        copy = data.draw(strategies.isomorphic_copies(genome), label="copy")
        assert copy.canonical_hash() == expected


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_operation_parameter_or_edge_change_changes_hash(data):
    shape = (3, 10)
    genome = data.draw(strategies.genomes(shape, 3, min_nodes=2, max_nodes=6), label="genome").pruned()
    node = data.draw(st.sampled_from(genome.nodes), label="node")
    params = node.resolved_params()
    kind = data.draw(st.sampled_from(["operation", "parameter", "edge"]), label="change")
    if kind == "operation":
        changed = node.replace(op="dropout" if node.op != "dropout" else "identity", params={})
    elif kind == "parameter" and set(params) - {"groups"}:
        # Changes that keep the node valid: flip a 0/1 flag, step a percent down, grow anything else.
        key = data.draw(st.sampled_from(sorted(set(params) - {"groups"})), label="key")
        value = params[key]
        if key in ("bias", "identity_init"):
            value = 1 - value
        elif key == "percent":
            value = value - 1 if value > 0 else 1
        else:
            value += 1
        changed = node.replace(params={**params, key: value})
    else:
        extra = data.draw(st.sampled_from([0, *[n for n in genome.ids if n < node.id]]), label="source")
        changed = node.replace(inputs=(*node.inputs, extra), merge="concat")
    other = genome.with_node(changed)

    assert other.canonical_hash() != genome.canonical_hash()


def test_innovation_ids_do_not_enter_hash():
    rng = np.random.default_rng(0)
    from genomes import zoo

    for name in ("resnet", "mobilenet_v2", "transformer"):
        genome = zoo.build_seed(name, (3, 16), 4)
        renumbered = InnovationCounter(int(rng.integers(1, 10_000))).renumber(genome)
        assert renumbered.canonical_hash() == genome.canonical_hash()
