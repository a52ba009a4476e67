import json
import time

import pytest
import torch
from torch import nn

from fitness.budget import Budget, BudgetError
from fitness.evaluate import evaluate
from fitness.objectives import (
    OBJECTIVES,
    ObjectiveError,
    measure_latency,
    objective_weights,
    validate_objective_names,
)
from genomes.zoo import small_mlp


def test_objective_directions():
    assert OBJECTIVES["accuracy"].maximize
    for name in ("params", "flops", "latency"):
        assert not OBJECTIVES[name].maximize, name
    assert OBJECTIVES["latency"].unit == "ms"


def test_objective_weights_follow_directions():
    assert objective_weights(["accuracy", "flops", "latency"]) == (1.0, -1.0, -1.0)


@pytest.mark.parametrize(
    "names, match",
    [
        (["accuracy", "speed"], "unknown objective 'speed'. Known objectives: accuracy, params, flops, latency"),
        (["flops", "flops"], "listed more than once: flops"),
        ([], "no objectives given"),
    ],
)
def test_validate_objective_names_errors(names, match):
    with pytest.raises(ObjectiveError, match=match):
        validate_objective_names(names)


def test_validate_objective_names_accepts_single_string():
    assert validate_objective_names("accuracy") == ("accuracy",)


class _ScriptedDelay(nn.Module):
    """Sleep for the next delay in a list on each forward pass, then return the input."""

    def __init__(self, delays_s):
        super().__init__()
        self.delays_s = list(delays_s)
        self.calls = 0

    def forward(self, x):
        time.sleep(self.delays_s[self.calls])
        self.calls += 1
        return x


def test_latency_positive_for_real_network():
    model = nn.Sequential(nn.Conv1d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 38, 10))
    model.train()

    latency = measure_latency(model, (1, 40), warmup=2, repeats=5)

    assert latency.median_ms > 0
    assert latency.min_ms <= latency.median_ms <= latency.max_ms
    assert latency.repeats == 5
    assert not model.training


def test_latency_is_median_of_timed_passes():
    # Two warm-up passes of 200 ms, then 5 timed passes of which one takes 200 ms.
    model = _ScriptedDelay([0.2, 0.2, 0.005, 0.2, 0.005, 0.005, 0.005])

    latency = measure_latency(model, (1, 4), warmup=2, repeats=5)

    assert model.calls == 7
    assert 5 <= latency.median_ms < 50
    assert latency.max_ms >= 200


def test_latency_runs_without_gradients():
    grad_enabled = []

    class _GradientProbe(nn.Module):
        def forward(self, x):
            grad_enabled.append(torch.is_grad_enabled())
            return x

    measure_latency(_GradientProbe(), (3,), warmup=1, repeats=1)

    assert grad_enabled == [False, False]


def test_latency_iqr_ignores_one_slow_pass():
    # Timed passes: 4 of 5 ms and one of 400 ms. The quartiles both fall on 5 ms passes, so the
    # spread stays far below the outlier even when a loaded machine stretches each sleep.
    model = _ScriptedDelay([0.0, 0.005, 0.005, 0.4, 0.005, 0.005])

    latency = measure_latency(model, (1, 4), warmup=1, repeats=5)

    assert latency.iqr_ms < 40
    assert latency.max_ms - latency.min_ms > 300
    assert latency.batch_size == 1


def test_evaluate_measures_latency_per_batch_size():
    budget = {"latency_batch_size": 2, "latency_extra_batch_sizes": [8, 2, 64],
              "latency_warmup": 1, "latency_repeats": 3, "threads": 1}

    record = evaluate(small_mlp(), "mnist1d", budget, seed=0, objectives=["latency"])
    by_batch = record.metrics["latency_ms_by_batch"]

    assert record.status == "ok", record.error
    assert list(by_batch) == ["2", "8", "64"]
    assert record.objectives["latency"] == by_batch["2"]["median_ms"]
    assert record.metrics["latency_iqr_ms"] == by_batch["2"]["iqr_ms"]
    assert record.metrics["threads"] == 1
    assert "steps" not in record.metrics


@pytest.mark.parametrize("sizes", [[0], [2, -1], ["8"], 4])
def test_budget_rejects_bad_latency_batch_sizes(sizes):
    with pytest.raises(BudgetError, match="latency_extra_batch_sizes"):
        Budget(latency_extra_batch_sizes=sizes)


def test_budget_batch_sizes_survive_json_round_trip():
    budget = Budget(latency_extra_batch_sizes=[1, 32])
    data = json.loads(json.dumps(budget.to_dict()))

    assert data == budget.to_dict()
    assert Budget.from_dict(data) == budget


def test_latency_samples_average_several_passes():
    calls = []

    class _Counter(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    latency = measure_latency(
        _Counter(), (4,), warmup=2, repeats=3, min_warmup_ms=5.0, min_sample_ms=1.0
    )
    warmup_calls = len(calls) - 3 * latency.passes_per_sample

    assert latency.passes_per_sample > 1
    assert warmup_calls >= 2
    assert latency.median_ms < 1.0
