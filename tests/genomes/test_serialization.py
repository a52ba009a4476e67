"""JSON codec of Genome: round trips keep equality and hash, bad documents raise InvalidGenomeError."""

import copy
import dataclasses
import json
import pickle

import pytest
import strategies
from hypothesis import given, settings

from genomes import Genome, InvalidGenomeError, Node, zoo


def concat_genome() -> Genome:
    return Genome(
        (
            Node(1, "conv", {"width": 4, "kernel": 3}, "relu", inputs=(0,)),
            Node(2, "maxpool", {"kernel": 2}, "identity", inputs=(1,)),
            Node(3, "identity", {}, "identity", "concat", inputs=(2, 1)),
        ),
        output=3,
        head="gap",
    )


@pytest.mark.parametrize("name", sorted(zoo.SEEDS))
def test_json_round_trip_zoo(name):
    genome = zoo.build_seed(name, (1, 40), 10)

    copy = Genome.from_json(genome.to_json())

    assert copy == genome
    assert hash(copy) == hash(genome)
    assert copy.canonical_hash() == genome.canonical_hash()


def test_json_round_trip_keeps_node_and_input_order():
    genome = concat_genome()

    copy = Genome.from_json(genome.to_json(indent=2))

    assert copy.ids == genome.ids
    assert copy.node(3).inputs == (2, 1)
    assert copy.head == "gap"


@settings(max_examples=150, deadline=None)
@given(strategies.genomes())
def test_json_round_trip_random(genome):
    from_json = Genome.from_json(genome.to_json())
    from_dict = Genome.from_dict(genome.to_dict())

    assert from_json == genome
    assert hash(from_json) == hash(genome)
    assert from_dict == genome
    assert hash(from_dict) == hash(genome)


def test_to_dict_is_plain_json_data():
    data = concat_genome().to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["format"] == 1
    assert data["nodes"][2] == {"id": 3, "op": "identity", "params": {}, "activation": "identity",
                                "merge": "concat", "inputs": [2, 1]}


def test_from_dict_fills_node_defaults():
    genome = Genome.from_dict({"nodes": [{"id": 1, "op": "identity"}], "output": 1})

    assert genome.node(1).inputs == (0,)
    assert genome.node(1).merge == "add"
    assert genome.node(1).activation == "identity"
    assert genome.head == "flatten"


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "genome JSON is malformed"),
        ('{"nodes": [', "genome JSON is malformed"),
        ("[1, 2]", "must be a JSON object, got list"),
        ("null", "must be a JSON object, got NoneType"),
        ('{"nodes": []}', "needs the fields 'nodes' and 'output'"),
        ('{"output": 1}', "needs the fields 'nodes' and 'output'"),
        ('{"format": 2, "nodes": [], "output": 1}', "format 2 is not supported"),
        ('{"nodes": 5, "output": 1}', "'nodes' must be a list, got int"),
        ('{"nodes": [7], "output": 1}', "a node must be a JSON object, got int"),
        ('{"nodes": [{"op": "identity"}], "output": 1}', "missing field 'id'"),
        ('{"nodes": [{"id": 1}], "output": 1}', "node 1: missing field 'op'"),
        ('{"nodes": [{"id": 1, "op": "conv", "params": [3]}], "output": 1}', "node 1: 'params' must be"),
        ('{"nodes": [{"id": 1, "op": "identity", "inputs": 0}], "output": 1}', "node 1: 'inputs' must be"),
    ],
)
def test_from_json_rejects_malformed(text, match):
    with pytest.raises(InvalidGenomeError, match=match):
        Genome.from_json(text)


@pytest.mark.parametrize(
    "data, match",
    [
        ({"nodes": [], "output": 1, "edges": []}, r"unknown genome field\(s\) \['edges'\]"),
        ({"nodes": [{"id": 1, "op": "identity", "kernel": 3}], "output": 1},
         r"node 1: unknown field\(s\) \['kernel'\]"),
    ],
)
def test_from_dict_rejects_unknown_fields(data, match):
    with pytest.raises(InvalidGenomeError, match=match):
        Genome.from_dict(data)


@pytest.mark.parametrize(
    "node, match",
    [
        ({"id": 1, "op": "identity", "inputs": ["0"]}, r"node 1: input '0' is not a node id"),
        ({"id": 1, "op": "identity", "inputs": [0.0]}, r"node 1: input 0.0 is not a node id"),
        ({"id": 1, "op": "identity", "inputs": [{"id": 0}]}, r"node 1: input \{'id': 0\} is not a node id"),
        ({"id": 1, "op": "linear", "params": {"width": "8"}}, r"node 1: parameter 'width' .* integer"),
        ({"id": "1", "op": "identity"}, r"node id '1' is invalid"),
    ],
)
def test_from_json_wrong_types_fail_validation(node, match):
    genome = Genome.from_json(json.dumps({"nodes": [node], "output": 1}))

    with pytest.raises(InvalidGenomeError, match=match):
        genome.validate()


@settings(max_examples=50, deadline=None)
@given(strategies.genomes())
def test_pickle_and_deepcopy_round_trip(genome):
    expected_hash = genome.canonical_hash()

    for copied in (pickle.loads(pickle.dumps(genome)), copy.deepcopy(genome)):
        assert copied == genome
        assert copied.to_dict() == genome.to_dict()
        assert copied.canonical_hash() == expected_hash
        assert dict(copied._index) == {node.id: node for node in copied.nodes}


def test_asdict_lists_genome_fields():
    genome = zoo.build_seed("small_cnn", (1, 8, 8), 10)

    data = dataclasses.asdict(genome)

    assert list(data) == ["nodes", "output", "head"]
    assert [node["id"] for node in data["nodes"]] == list(genome.ids)
