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


def mismatches(corpus, key, outcome):
    """Compare ``outcome(record, genome)`` with each record's stored ``key``, twice per genome.

    Return the first MAX_SHOWN mismatches as (index, stored, first, second).
    """
    failures = []
    for index, record in enumerate(corpus["genomes"]):
        genome = Genome.from_json(record["json"])
        first = as_json_data(outcome(record, genome))
        second = as_json_data(outcome(record, genome))
        if first != record[key] or second != record[key]:
            failures.append((index, record[key], first, second))
    return failures[:MAX_SHOWN]


def test_corpus_canonical_hashes(corpus):
    assert not mismatches(corpus, "hash", lambda record, genome: golden_corpus.hash_outcome(genome))


def test_corpus_topological_orders(corpus):
    assert not mismatches(corpus, "order", lambda record, genome: golden_corpus.order_outcome(genome))


def test_corpus_live_ids(corpus):
    assert not mismatches(corpus, "live", lambda record, genome: sorted(genome.live_ids()))


def test_corpus_shape_plans(corpus, spaces):
    def plan(record, genome):
        space = spaces[record["home"]]
        return golden_corpus.plan_outcome(genome, space.input_shape, space.num_classes)

    assert not mismatches(corpus, "plan", plan)


def test_corpus_cost_totals(corpus, spaces):
    def totals(record, genome):
        return [golden_corpus.totals_outcome(genome, space.input_shape, space.num_classes) for space in spaces]

    assert not mismatches(corpus, "totals", totals)


def test_corpus_space_violations(corpus, spaces):
    def violations(record, genome):
        return [space.violation(genome) for space in spaces]

    assert not mismatches(corpus, "violations", violations)
