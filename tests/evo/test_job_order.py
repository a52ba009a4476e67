"""Concurrent executors get each batch with its costliest training first; results do not change."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

import evo.campaign
import fitness
from evo.campaign import Campaign
from evo.config import load_preset
from evo.executors import ProcessExecutor, SerialExecutor
from genomes import Genome
from genomes.shapes import count_flops
from populations import Store


def untrained_config(path, **search):
    """The smoke preset scored on params and flops only, so no evaluation trains."""
    config = load_preset("smoke").with_overrides(db=str(path), executor="serial")
    return config.replace(search=dataclasses.replace(config.search, objectives=("params", "flops"), **search))


class RecordingExecutor(SerialExecutor):
    """Runs jobs serially in the order given, and notes that order for each batch."""

    def __init__(self, concurrent: bool):
        super().__init__()
        self.concurrent = concurrent
        self.batches: list[list[tuple[int, dict]]] = []

    def map(self, jobs):
        self.batches.append([(job.key, job.genome) for job in jobs])
        yield from super().map(jobs)


def run(path, monkeypatch, *, concurrent: bool) -> RecordingExecutor:
    config = untrained_config(path, population=8, generations=2)
    executor = RecordingExecutor(concurrent)
    monkeypatch.setattr(evo.campaign, "make_executor", lambda *arguments, **options: executor)
    with Store(config.db_path) as store:
        Campaign(config, store, progress=False).run()
    return executor


def dump(path) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT i.id, i.genome_hash, i.generation, i.origin, e.status, e.params, e.flops"
            " FROM individuals AS i JOIN evaluations AS e ON e.individual_id = i.id ORDER BY i.id").fetchall()
    finally:
        connection.close()


def test_concurrent_batches_sorted_by_flops(tmp_path, monkeypatch):
    input_shape, num_classes = fitness.task_shapes(load_preset("smoke").task)
    ordered = run(tmp_path / "ordered.sqlite", monkeypatch, concurrent=True)
    plain = run(tmp_path / "plain.sqlite", monkeypatch, concurrent=False)

    assert len(ordered.batches) == 3
    for batch in ordered.batches:
        flops = [count_flops(Genome.from_dict(genome), input_shape, num_classes) for _, genome in batch]
        assert flops == sorted(flops, reverse=True)
    # At least one batch had to be reordered, or the test would not show anything.
    assert any([key for key, _ in a] != [key for key, _ in b] for a, b in zip(ordered.batches, plain.batches))
    for batch in plain.batches:
        keys = [key for key, _ in batch]
        assert keys == sorted(keys)
    assert dump(tmp_path / "ordered.sqlite") == dump(tmp_path / "plain.sqlite")


@pytest.mark.parametrize(("executor", "concurrent"), [
    (SerialExecutor(), False),
    (ProcessExecutor(1), False),
    (ProcessExecutor(2), True),
])
def test_concurrent_executors(executor, concurrent):
    try:
        assert executor.concurrent is concurrent
    finally:
        executor.close()
