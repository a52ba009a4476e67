"""Operator children pinned by the golden corpus (``tests/genomes/golden_corpus.py``).

Every recorded case names an operator, its parents, a search space, a generator seed and, for
half of the cases, the start of an innovation counter. The child's JSON, or the reason when
there is none, and the generator's next draw after the call must match the record, so the
operator draws the same random numbers in the same order.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from genomes import Genome, InnovationCounter, SearchSpace
from operators import OPERATORS, MotifInsertion

DATA_PATH = Path(__file__).resolve().parents[1] / "genomes" / "data" / "golden_corpus.json.gz"
MAX_SHOWN = 3


@pytest.fixture(scope="module")
def corpus():
    with gzip.open(DATA_PATH, "rt", encoding="utf-8") as stream:
        return json.load(stream)


def run_case(case, parents, spaces, motif_operator):
    name, space_index, _, seed, counter_start, _, _, _ = case
    operator = motif_operator if name == "insert_motif" else OPERATORS[name]
    rng = np.random.default_rng(seed)
    new_id = None if counter_start is None else InnovationCounter(counter_start)
    variation = operator(parents, rng, spaces[space_index], new_id=new_id)
    child = None if variation.genome is None else variation.genome.to_json()
    return child, variation.reason, int(rng.integers(2**62))


@pytest.mark.parametrize("parent_objects", ["fresh", "shared"])
def test_corpus_operator_children(corpus, parent_objects):
    """Fresh parents are read from JSON for each call. Shared ones are reused across calls."""
    texts = [record["json"] for record in corpus["genomes"]]
    spaces = [SearchSpace.from_dict(settings) for settings in corpus["spaces"]]
    motif_operator = MotifInsertion(corpus["motifs"])
    shared = {}
    failures = []
    for number, case in enumerate(corpus["operator_cases"]):
        parent_indices, child_index, reason, next_draw = case[2], case[5], case[6], case[7]
        if parent_objects == "fresh":
            parents = [Genome.from_json(texts[i]) for i in parent_indices]
        else:
            parents = [shared.setdefault(i, Genome.from_json(texts[i])) for i in parent_indices]
        expected = (None if child_index is None else texts[child_index], reason, next_draw)
        actual = run_case(case, parents, spaces, motif_operator)
        if actual != expected:
            failures.append((number, case, expected, actual))
        if [p.to_json() for p in parents] != [texts[i] for i in parent_indices]:
            failures.append((number, case, "a parent changed"))
    assert not failures, failures[:MAX_SHOWN]
