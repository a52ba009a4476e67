import math

import pytest
import torch
from torch import nn

from fitness.diagnostics import gradient_spread, layer_gradient_norms
from fitness.evaluate import evaluate
from fitness.objectives import OBJECTIVES
from fitness.training import seeded_torch
from genomes.zoo import small_cnn

SMOKE = {"steps": 60, "batch_size": 32, "learning_rate": 1e-2}
DIAGNOSTICS = ["gradient_spread_init", "gradient_spread", "train_loss", "loss_curve_area"]


def _batchnorm_mlp():
    with seeded_torch(0, torch.device("cpu")):
        return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_gradient_norms_leave_model_unchanged():
    model = _batchnorm_mlp()
    model.eval()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1])
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    norms = layer_gradient_norms(model, x, y)

    assert sorted(norms) == ["0.weight", "3.weight"]
    assert all(value > 0 for value in norms.values())
    assert model.training is False
    assert all(parameter.grad is None for parameter in model.parameters())
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor), name


@pytest.mark.parametrize(
    "norms, expected",
    [
        ({"a": 1.0}, 0.0),
        ({"a": 1.0, "b": 1.0}, 0.0),
        ({"a": 1.0, "b": 100.0}, 1.0),
        ({"a": 0.0, "b": 1.0}, 15.0),
        ({"a": math.inf, "b": 1.0}, math.nan),
        ({}, math.nan),
    ],
)
def test_gradient_spread(norms, expected):
    spread = gradient_spread(norms)

    if math.isnan(expected):
        assert math.isnan(spread)
    else:
        assert spread == pytest.approx(expected)


def test_diagnostic_objectives_declared_minimised():
    for name in DIAGNOSTICS:
        assert OBJECTIVES[name].maximize is False


def test_evaluate_reports_diagnostics():
    record = evaluate(small_cnn((1, 8, 8), 10), "digits", SMOKE, seed=0, objectives=DIAGNOSTICS)
    again = evaluate(small_cnn((1, 8, 8), 10), "digits", SMOKE, seed=0, objectives=DIAGNOSTICS)
    curve = record.metrics["loss_curve"]

    assert record.status == "ok", record.error
    assert set(record.objectives) == set(DIAGNOSTICS)
    assert record.objectives == again.objectives
    assert set(record.metrics["gradient_norms_init"]) == set(record.metrics["gradient_norms"])
    assert len(record.metrics["gradient_norms"]) >= 2
    assert record.objectives["gradient_spread"] == record.metrics["gradient_spread"]
    assert record.objectives["train_loss"] == record.metrics["final_train_loss"]
    mean_of_curve = sum(loss for _, loss in curve) / len(curve)
    assert record.objectives["loss_curve_area"] == pytest.approx(mean_of_curve, rel=0.05)
    assert record.objectives["train_loss"] < curve[0][1]


def test_diagnostics_do_not_change_accuracy():
    # Gradient norms are measured before and after training, and must not shift the
    # random streams or weights that training uses.
    alone = evaluate(small_cnn((1, 8, 8), 10), "digits", SMOKE, seed=2, objectives=["accuracy"])
    both = evaluate(
        small_cnn((1, 8, 8), 10), "digits", SMOKE, seed=2,
        objectives=["accuracy", "gradient_spread"],
    )

    assert alone.objectives["accuracy"] == both.objectives["accuracy"]
