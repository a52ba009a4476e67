import numpy as np
import pytest
import torch

from fitness.budget import Budget
from fitness.evaluate import evaluate
from fitness.robustness import eval_mode, fgsm, perturbed_accuracy, pgd, robustness_scores
from fitness.tasks import load_task
from fitness.training import seeded_torch, train_classifier
from genomes import INPUT, Genome, Node, decode

EPSILON = 8 / 255
SMOKE = {"steps": 60, "batch_size": 32, "learning_rate": 1e-2}


def _conv_batchnorm_genome() -> Genome:
    return Genome(
        (
            Node(1, "conv", {"width": 8, "kernel": 3, "padding": 1}, "identity", inputs=(INPUT,)),
            Node(2, "batchnorm", {}, "relu", inputs=(1,)),
        ),
        output=2,
    )


def _trained_conv_batchnorm():
    """Return a conv + batch-norm network trained briefly on digits, and the task data."""
    data = load_task("digits")
    with seeded_torch(0, torch.device("cpu")):
        model = decode(_conv_batchnorm_genome(), (1, 8, 8), 10)
    result = train_classifier(model, data.x_train, data.y_train, Budget(**SMOKE), seed=0)
    assert result.status == "ok"
    return model, data


def _buffers(model):
    return {name: buffer.clone() for name, buffer in model.named_buffers()}


def _attack_scores(model, data):
    return robustness_scores(
        model,
        data.x_val[:16],
        data.y_val[:16],
        ("robust_fgsm",),
        noise_sigma=0.1,
        epsilon=EPSILON,
        pgd_steps=10,
        pgd_step_size=EPSILON / 4,
        seed=3,
    )


def test_fgsm_keeps_eval_mode_and_running_statistics():
    model, data = _trained_conv_batchnorm()
    model.eval()
    before = _buffers(model)

    first = _attack_scores(model, data)
    after = _buffers(model)
    second = _attack_scores(model, data)

    assert model.training is False
    assert all(module.training is False for module in model.modules())
    assert before.keys() == after.keys()
    assert any("running_mean" in name for name in before)
    for name in before:
        assert torch.equal(before[name], after[name]), name
    assert first == second
    assert 0.0 <= first["robust_fgsm"] <= 1.0


def test_attack_restores_train_mode():
    model, data = _trained_conv_batchnorm()
    model.train()
    before = _buffers(model)

    _attack_scores(model, data)

    assert model.training is True
    assert all(module.training is True for module in model.modules())
    for name, buffer in _buffers(model).items():
        assert torch.equal(before[name], buffer), name


def test_attack_leaves_parameter_gradients_unset():
    model, data = _trained_conv_batchnorm()
    for parameter in model.parameters():
        parameter.grad = None

    _attack_scores(model, data)

    assert all(parameter.grad is None for parameter in model.parameters())


def test_fgsm_and_pgd_stay_in_epsilon_ball():
    model, data = _trained_conv_batchnorm()
    model.eval()
    x = torch.tensor(data.x_val[:16])
    y = torch.tensor(data.y_val[:16])

    fgsm_inputs = fgsm(model, x, y, EPSILON)
    pgd_inputs = pgd(model, x, y, EPSILON, steps=5, step_size=EPSILON / 2)

    # FGSM moves each input value by epsilon, or not at all where the gradient is 0.
    # PGD stays within epsilon of the clean input.
    assert torch.allclose((fgsm_inputs - x).abs().max(), torch.tensor(EPSILON))
    assert float((pgd_inputs - x).abs().max()) <= EPSILON + 1e-6
    assert not torch.equal(pgd_inputs, x)


def test_attacks_lower_accuracy_in_order():
    model, data = _trained_conv_batchnorm()
    x, y = data.x_val, data.y_val
    clean = perturbed_accuracy(model, x, y, lambda xb, yb: xb)
    epsilon = 0.1

    weak = perturbed_accuracy(model, x, y, lambda xb, yb: fgsm(model, xb, yb, epsilon))
    strong = perturbed_accuracy(
        model, x, y, lambda xb, yb: pgd(model, xb, yb, epsilon, steps=10, step_size=epsilon / 4)
    )

    # PGD searches the same ball more thoroughly than one FGSM step, so it does at least
    # as much damage up to a few samples.
    assert clean > 0.5
    assert weak < clean
    assert strong <= weak + 0.02


def test_noise_score_depends_on_seed_only():
    model, data = _trained_conv_batchnorm()

    def noise_score(seed):
        return robustness_scores(
            model, data.x_val, data.y_val, ("robust_noise",), noise_sigma=0.5,
            epsilon=EPSILON, pgd_steps=1, pgd_step_size=EPSILON, seed=seed,
        )["robust_noise"]

    assert noise_score(1) == noise_score(1)
    assert noise_score(1) != noise_score(2)


def test_eval_mode_restores_mixed_modes():
    model, _ = _trained_conv_batchnorm()
    model.train()
    model.cells["2"].eval()

    with eval_mode(model):
        inside = [module.training for module in model.modules()]

    assert not any(inside)
    assert model.training is True
    assert model.cells["2"].training is False


def test_evaluate_reports_robustness_objectives():
    names = ["accuracy", "robust_noise", "robust_fgsm", "robust_pgd"]
    budget = {**SMOKE, "noise_sigma": 0.2, "attack_epsilon": 0.1, "pgd_steps": 3,
              "robustness_samples": 100}

    record = evaluate(_conv_batchnorm_genome(), "digits", budget, seed=0, objectives=names)
    again = evaluate(_conv_batchnorm_genome(), "digits", budget, seed=0, objectives=names)

    assert record.status == "ok", record.error
    assert set(record.objectives) == set(names)
    assert record.objectives["robust_fgsm"] < record.objectives["accuracy"]
    assert record.objectives["robust_pgd"] <= record.objectives["robust_fgsm"] + 0.02
    assert record.objectives == again.objectives


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"noise_sigma": -0.1}, "noise_sigma"),
        ({"attack_epsilon": float("nan")}, "attack_epsilon"),
        ({"pgd_steps": 0}, "pgd_steps"),
        ({"pgd_step_size": 0.0}, "pgd_step_size"),
        ({"robustness_samples": 0}, "robustness_samples"),
    ],
)
def test_budget_rejects_bad_robustness_settings(fields, match):
    with pytest.raises(ValueError, match=match):
        Budget(**fields)


def test_pgd_step_defaults_to_madry_rule():
    assert Budget(attack_epsilon=0.1, pgd_steps=10).pgd_step == pytest.approx(0.025)
    assert Budget(pgd_step_size=0.5).pgd_step == 0.5
    assert np.isclose(Budget().attack_epsilon, 8 / 255)
