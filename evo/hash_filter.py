"""A Bloom filter of the genome hashes stored in a database file.

Variation and the evaluation batch look a hash up in the file once for each new child, to
reuse an earlier evaluation, and the hash is almost always new. The filter settles most of
those lookups in memory: a hash it has never seen is certainly not in the file, so the query
is skipped. A hash it may have seen still goes to the file, so results stay exact.

The filter has a fixed size, so memory stays flat however long a campaign runs. With
2**23 bits and 4 probes, about 2% of absent hashes pass as "maybe" once the file contains a
million individuals, and nearly none below a hundred thousand. Such a false "maybe" only
costs the query that the filter would otherwise have saved.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_BITS = 2**23
PROBES = 4


class HashFilter:
    """Genome hashes added so far, as a Bloom filter: ``in`` may give a false positive, never a false negative.

    Positions come from Python's ``hash()`` of the string, which is salted per process, so a
    filter is only meaningful in the process that filled it and is never stored.
    """

    def __init__(self, hashes: Iterable[str] = (), bits: int = DEFAULT_BITS):
        if bits < 8 or bits & (bits - 1):
            raise ValueError(f"bits must be a power of two of at least 8, got {bits}")
        self._mask = bits - 1
        self._bits = bytearray(bits // 8)
        self.count = 0
        for genome_hash in hashes:
            self.add(genome_hash)

    def _positions(self, genome_hash: str) -> list[int]:
        first = hash(genome_hash)
        # Double hashing: the second value is odd, so the probes never repeat a position.
        second = hash((genome_hash, PROBES)) | 1
        return [(first + probe * second) & self._mask for probe in range(PROBES)]

    def add(self, genome_hash: str) -> None:
        bits = self._bits
        for position in self._positions(genome_hash):
            bits[position >> 3] |= 1 << (position & 7)
        self.count += 1

    def __contains__(self, genome_hash: object) -> bool:
        if not isinstance(genome_hash, str):
            return False
        bits = self._bits
        return all(bits[position >> 3] & (1 << (position & 7)) for position in self._positions(genome_hash))
