"""Builders of the records that Store.commit_generation() takes."""

from __future__ import annotations


def individual(individual_id: int, generation: int = 0, genome_hash: str | None = None, origin: str = "seed") -> dict:
    """Build an individual record with a small genome."""
    return {
        "id": individual_id,
        "genome": {"nodes": [{"id": "n0", "op": "linear", "width": individual_id}]},
        "genome_hash": genome_hash or f"hash-{individual_id}",
        "generation": generation,
        "origin": origin,
    }


def evaluation(individual_id: int, status: str = "ok", task_key: str | None = "task-a", **objectives: float) -> dict:
    """Build an evaluation record with the given objective values."""
    return {
        "individual_id": individual_id,
        "status": status,
        "objectives": objectives,
        "metrics": {"train_loss": 0.5},
        "error": None if status == "ok" else "training failed",
        "seconds": 1.5,
        "task_key": task_key,
    }
