import multiprocessing
import time

import pytest

from fitness.evaluate import evaluate
from genomes import INPUT, Genome, Node, count_parameters

SMOKE = {"steps": 20, "batch_size": 32, "learning_rate": 1e-2}
DIGITS_FEATURES = 64


def _linear_chain(*widths: int) -> Genome:
    nodes = []
    previous = INPUT
    for node_id, width in enumerate(widths, start=1):
        nodes.append(Node(node_id, "linear", {"width": width}, "relu", inputs=(previous,)))
        previous = node_id
    return Genome(tuple(nodes), output=previous)


def test_linear_2_20_squared_rejected_before_allocation():
    width = 2**20
    genome = _linear_chain(width, width)
    first_layer = DIGITS_FEATURES * width + width
    huge_layer = width * width + width
    head = width * 10 + 10

    started = time.perf_counter()
    record = evaluate(genome, "digits", {**SMOKE, "max_parameters": 10**6}, seed=0)
    elapsed = time.perf_counter() - started

    assert huge_layer == 1_099_512_676_352
    assert count_parameters(genome, (1, 8, 8), 10) == first_layer + huge_layer + head
    assert record.status == "rejected"
    assert record.metrics["params"] == first_layer + huge_layer + head
    assert f"{first_layer + huge_layer + head:,} parameters" in record.error
    assert "Budget.max_parameters" in record.error
    # Allocating 4 TB would fail or take minutes, so a quick return shows that nothing was built.
    assert elapsed < 2.0


def _resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


def _address_space_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize not found in /proc/self/status")


def _oom_child(queue, margin_bytes: int, budget: dict) -> None:
    """Evaluate, under an address-space limit, a genome too large for it and then a small one."""
    import resource

    small = _linear_chain(16)
    # Warm up: load the task and let torch allocate its working memory.
    warm = evaluate(small, "digits", budget, seed=0)
    baseline_kib = _resident_kib()

    limit = _address_space_bytes() + margin_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    # About 5 times the margin in float32 weights, under the parameter cap of the budget.
    width = 5 * margin_bytes // (4 * (DIGITS_FEATURES + 11))
    large = evaluate(_linear_chain(width), "digits", budget, seed=0)
    after_oom_kib = _resident_kib()
    again = evaluate(small, "digits", budget, seed=0)
    queue.put(
        {
            "warm": warm.status,
            "large": large.status,
            "large_error": large.error,
            "large_params": large.metrics.get("params"),
            "again": again.status,
            "again_accuracy": again.objectives.get("accuracy"),
            "warm_accuracy": warm.objectives.get("accuracy"),
            "baseline_kib": baseline_kib,
            "after_oom_kib": after_oom_kib,
        }
    )


def test_out_of_memory_gives_oom_and_worker_recovers():
    margin = 256 * 2**20
    budget = {**SMOKE, "max_parameters": 10**9}
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_oom_child, args=(queue, margin, budget))
    child.start()
    try:
        result = queue.get(timeout=120)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()

    assert result["warm"] == "ok"
    assert result["large"] == "oom", result["large_error"]
    assert result["large_params"] > 10**8
    assert "allocate" in result["large_error"]
    assert result["again"] == "ok"
    assert result["again_accuracy"] == result["warm_accuracy"]
    # Resident memory is back within 64 MiB of the baseline after the failed allocation.
    assert result["after_oom_kib"] - result["baseline_kib"] < 64 * 1024


@pytest.mark.parametrize("steps", [1, 3])
def test_batch_norm_network_trains_on_tiny_npz(tmp_path, steps):
    import numpy as np

    # 3 training samples and a batch size of 2: every epoch ends in a batch of one,
    # which the trainer skips, because batch norm cannot normalise it in train mode.
    path = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.normal(size=(4, 6)).astype(np.float32),
        y_train=np.array([0, 1, 0, 1]),
        x_test=rng.normal(size=(2, 6)).astype(np.float32),
        y_test=np.array([0, 1]),
    )
    genome = Genome(
        (
            Node(1, "linear", {"width": 4}, "identity", inputs=(INPUT,)),
            Node(2, "batchnorm", {}, "relu", inputs=(1,)),
        ),
        output=2,
    )

    record = evaluate(
        genome,
        {"name": str(path), "validation_size": 1},
        {"steps": steps, "batch_size": 2},
        seed=0,
    )

    assert record.status == "ok", record.error
    assert record.metrics["steps"] == steps
