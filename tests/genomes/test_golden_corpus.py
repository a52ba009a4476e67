"""Genome outputs pinned by the golden corpus (see ``golden_corpus.py``).

Each check runs twice on the same genome object, so a value computed once and kept must equal
the value computed from scratch.
"""

import json

import golden_corpus
import pytest

from genomes import Genome, SearchSpace

MAX_SHOWN = 3


@pytest.fixture(scope="module")
def corpus():
    return golden_corpus.load_corpus()


@pytest.fixture(scope="module")
def spaces(corpus):
    return [SearchSpace.from_dict(settings) for settings in corpus["spaces"]]


def as_json_data(value):
    """Turn tuples into lists, as the stored corpus has them."""
    return json.loads(json.dumps(value))


def test_corpus_covers_hard_cases(corpus):
    records = corpus["genomes"]
    texts = [record["json"] for record in records]

    assert len(records) > 3000
    assert len(corpus["operator_cases"]) > 3000
    assert sum(isinstance(record["hash"], list) for record in records) > 50
    assert sum('"merge": "concat"' in text for text in texts) > 500


def test_corpus_genomes_round_trip_json(corpus):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        text = Genome.from_json(record["json"]).to_json()
        if text != record["json"]:
            failures.append((index, record["json"], text))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_canonical_hashes(corpus):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        first = golden_corpus.hash_outcome(genome)
        second = golden_corpus.hash_outcome(genome)
        if first != record["hash"] or second != record["hash"]:
            failures.append((index, record["hash"], first, second))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_topological_orders(corpus):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        first = as_json_data(golden_corpus.order_outcome(genome))
        second = as_json_data(golden_corpus.order_outcome(genome))
        if first != record["order"] or second != record["order"]:
            failures.append((index, record["order"], first, second))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_live_ids(corpus):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        first, second = sorted(genome.live_ids()), sorted(genome.live_ids())
        if first != record["live"] or second != record["live"]:
            failures.append((index, record["live"], first, second))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_shape_plans(corpus, spaces):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        space = spaces[record["home"]]
        first = as_json_data(golden_corpus.plan_outcome(genome, space.input_shape, space.num_classes))
        second = as_json_data(golden_corpus.plan_outcome(genome, space.input_shape, space.num_classes))
        if first != record["plan"] or second != record["plan"]:
            failures.append((index, record["plan"], first, second))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_cost_totals(corpus, spaces):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        for _ in range(2):
            totals = [golden_corpus.totals_outcome(genome, space.input_shape, space.num_classes)
                      for space in spaces]
            if as_json_data(totals) != record["totals"]:
                failures.append((index, record["totals"], totals))
    assert not failures, failures[:MAX_SHOWN]


def test_corpus_space_violations(corpus, spaces):
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        for _ in range(2):
            violations = [space.violation(genome) for space in spaces]
            if violations != record["violations"]:
                failures.append((index, record["violations"], violations))
    assert not failures, failures[:MAX_SHOWN]
