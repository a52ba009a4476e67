import numpy as np
import pytest
import torch
from torch import nn

from fitness.budget import Budget
from fitness.tasks import load_task
from fitness.training import (
    FINAL_LOSS_WINDOW,
    accuracy,
    seeded_torch,
    subsample_curve,
    train_classifier,
    training_batches,
)


def _mlp(seed: int, batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    with seeded_torch(seed, torch.device("cpu")):
        layers = [nn.Flatten(), nn.Linear(40, 32)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(32))
        layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 10)]
        return nn.Sequential(*layers)


def _train_and_score(seed: int, steps: int = 150):
    data = load_task("mnist1d")
    model = _mlp(seed, dropout=0.1)
    result = train_classifier(
        model, data.x_train, data.y_train, Budget(steps=steps, learning_rate=1e-2), seed
    )
    return model, result, accuracy(model, data.x_val, data.y_val)


def test_trainer_same_seed_bit_identical():
    model_a, result_a, accuracy_a = _train_and_score(seed=4)
    model_b, result_b, accuracy_b = _train_and_score(seed=4)

    assert result_a.status == "ok"
    assert accuracy_a == accuracy_b
    assert result_a.loss_curve == result_b.loss_curve
    for (name, tensor_a), tensor_b in zip(
        model_a.state_dict().items(), model_b.state_dict().values()
    ):
        assert torch.equal(tensor_a, tensor_b), name


def test_trainer_different_seed_differs():
    model_a, result_a, accuracy_a = _train_and_score(seed=4)
    model_b, result_b, accuracy_b = _train_and_score(seed=5)

    assert result_a.loss_curve != result_b.loss_curve
    assert not torch.equal(model_a[1].weight, model_b[1].weight)
    assert accuracy_a != accuracy_b


def test_trainer_learns_above_chance():
    _, result, val_accuracy = _train_and_score(seed=0, steps=300)

    assert result.steps == 300
    assert val_accuracy > 0.4
    assert result.final_loss < result.loss_curve[0][1]


def test_trainer_leaves_global_rng_untouched():
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)

    _train_and_score(seed=1, steps=5)

    assert torch.equal(torch.rand(3), expected)


def test_trainer_never_feeds_batch_of_one():
    # 65 samples in batches of 64 leave a last batch of one in every epoch, which
    # BatchNorm1d rejects in training mode.
    data = load_task("mnist1d")
    model = _mlp(seed=0, batch_norm=True)
    sizes = []
    model.register_forward_pre_hook(
        lambda module, inputs: sizes.append(len(inputs[0])) if module.training else None
    )

    result = train_classifier(
        model, data.x_train[:65], data.y_train[:65], Budget(steps=20, batch_size=64), seed=0
    )

    assert result.status == "ok"
    assert result.steps == 20
    assert min(sizes) == 64
    assert len(sizes) == 20


def test_trainer_huge_learning_rate_diverges():
    data = load_task("mnist1d")
    model = _mlp(seed=0)

    result = train_classifier(
        model, data.x_train, data.y_train, Budget(steps=50, learning_rate=1e30, optimizer="sgd"), seed=0
    )

    assert result.status == "diverged"
    assert result.steps < 50
    assert "Lower the learning rate" in result.reason
    assert all(np.isfinite(loss) for _, loss in result.loss_curve)


def test_trainer_stops_at_max_seconds():
    data = load_task("mnist1d")
    model = _mlp(seed=0)

    result = train_classifier(
        model, data.x_train, data.y_train, Budget(steps=100_000, max_seconds=0.2), seed=0
    )

    assert result.status == "timeout"
    assert 0 < result.steps < 100_000
    assert "max_seconds" in result.reason


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_trainer_optimizers_and_cosine_schedule(optimizer):
    data = load_task("mnist1d")
    model = _mlp(seed=0)
    budget = Budget(steps=30, optimizer=optimizer, schedule="cosine", weight_decay=1e-4)

    result = train_classifier(model, data.x_train, data.y_train, budget, seed=0)

    assert result.status == "ok"
    assert result.steps == 30


def test_trainer_rejects_single_sample():
    with pytest.raises(ValueError, match="at least 2 samples"):
        train_classifier(_mlp(0), np.zeros((1, 1, 40)), np.zeros(1), Budget(steps=1), seed=0)


def test_training_batches_cover_epoch_without_repeats():
    batches = training_batches(10, 4, torch.Generator().manual_seed(0))
    first_epoch = [next(batches) for _ in range(3)]

    assert [len(batch) for batch in first_epoch] == [4, 4, 2]
    assert sorted(torch.cat(first_epoch).tolist()) == list(range(10))


def test_training_batches_larger_than_data():
    batches = training_batches(5, 64, torch.Generator().manual_seed(0))

    assert len(next(batches)) == 5


def test_subsample_curve_windows():
    losses = [float(i) for i in range(1, 11)]

    curve = subsample_curve(losses, 4)

    assert [step for step, _ in curve] == [2, 5, 7, 10]
    assert curve[0][1] == 1.5
    assert subsample_curve(losses, 50) == tuple((i, float(i)) for i in range(1, 11))
    assert subsample_curve([], 5) == ()


def test_final_loss_is_mean_of_last_window():
    data = load_task("mnist1d")
    budget = Budget(steps=FINAL_LOSS_WINDOW * 2, loss_curve_points=FINAL_LOSS_WINDOW * 2)

    result = train_classifier(_mlp(0), data.x_train, data.y_train, budget, seed=0)

    last_losses = [loss for _, loss in result.loss_curve[-FINAL_LOSS_WINDOW:]]
    assert result.final_loss == pytest.approx(np.mean(last_losses))


def test_accuracy_batches_and_eval_mode():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(4, 2))
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
        model[2].bias.zero_()
    x = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    y = np.array([0, 1, 1])

    # Dropout with p=0.9 would change the predictions if the model stayed in training mode.
    assert accuracy(model, x, y, batch_size=2) == pytest.approx(2 / 3)
    assert not model.training
