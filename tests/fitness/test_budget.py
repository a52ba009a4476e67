import json

import pytest
import torch

from fitness.budget import Budget, BudgetError, resolve_device


def test_budget_json_round_trip():
    budget = Budget(steps=10, optimizer="sgd", max_parameters=None, max_seconds=2.5)

    assert Budget.from_dict(json.loads(json.dumps(budget.to_dict()))) == budget


def test_budget_coerce():
    assert Budget.coerce(None) == Budget()
    assert Budget.coerce({"steps": 5}) == Budget(steps=5)
    with pytest.raises(BudgetError, match="got list"):
        Budget.coerce([("steps", 5)])


def test_budget_unknown_key_suggests_field():
    with pytest.raises(BudgetError, match="unknown Budget field 'step'. Did you mean 'steps'?"):
        Budget.from_dict({"step": 5})


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"steps": 0}, r"Budget.steps is 0, expected an integer of at least 1"),
        ({"steps": 10.0}, "Budget.steps is 10.0"),
        ({"batch_size": 1}, "Budget.batch_size is 1, expected an integer of at least 2"),
        ({"optimizer": "rmsprop"}, "Budget.optimizer is 'rmsprop', expected one of adam, adamw, sgd"),
        ({"schedule": "step"}, "Budget.schedule is 'step', expected one of constant, cosine"),
        ({"learning_rate": 0.0}, "Budget.learning_rate is 0.0, expected a finite number greater than 0.0"),
        ({"learning_rate": float("nan")}, "Budget.learning_rate is nan"),
        ({"weight_decay": -1e-4}, "Budget.weight_decay"),
        ({"momentum": 1.5}, "Budget.momentum is 1.5, expected a finite number at least 0.0 and at most 1.0"),
        ({"max_parameters": 0}, "Budget.max_parameters"),
        ({"max_seconds": 0}, "Budget.max_seconds"),
        ({"latency_repeats": 0}, "Budget.latency_repeats"),
        ({"latency_warmup": -1}, "Budget.latency_warmup is -1, expected an integer of at least 0"),
        ({"threads": True}, "Budget.threads is True"),
        ({"device": "gpu"}, "Budget.device is 'gpu', expected 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ],
)
def test_budget_invalid_values(fields, match):
    with pytest.raises(BudgetError, match=match):
        Budget(**fields)


def test_budget_replace_validates():
    with pytest.raises(BudgetError, match="Budget.steps"):
        Budget().replace(steps=-1)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected_auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected_auto


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_device_cuda_unavailable():
    with pytest.raises(BudgetError, match="CUDA is not available"):
        resolve_device("cuda")
