import time

import pytest
import torch
from torch import nn

from fitness.objectives import (
    OBJECTIVES,
    ObjectiveError,
    measure_latency,
    objective_weights,
    validate_objective_names,
)


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
