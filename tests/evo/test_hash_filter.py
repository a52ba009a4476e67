"""The Bloom filter of stored genome hashes (the engine's use of it: test_evaluation_cache.py)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evo.hash_filter import HashFilter


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=70), max_size=300), st.sampled_from([8, 64, 2**10, 2**23]))
def test_added_hashes_always_found(hashes, bits):
    found = HashFilter(hashes, bits=bits)

    for genome_hash in hashes:
        assert genome_hash in found
    assert found.count == len(hashes)


def test_absent_hashes_mostly_rejected():
    digests = [hashlib.sha256(str(number).encode()).hexdigest() for number in range(20_000)]
    found = HashFilter(digests[:10_000])

    false_positives = sum(digest in found for digest in digests[10_000:])

    assert false_positives <= 5
    assert 12345 not in found


@pytest.mark.parametrize("bits", [0, 7, 100, 2**10 + 8])
def test_bits_must_be_power_of_two(bits):
    with pytest.raises(ValueError, match="power of two"):
        HashFilter(bits=bits)
