"""Robustness of a trained classifier: accuracy under Gaussian input noise, FGSM and PGD.

Every measurement runs the network in eval mode and restores the train/eval mode of each
submodule afterwards. In eval mode batch norm reads its running statistics and never
updates them, so the buffers are unchanged. Gradients are taken with respect to the inputs
only (torch.autograd.grad), so no parameter's .grad is touched.

The attacks are the untargeted maximum-norm (L-infinity) versions:

- FGSM (Goodfellow et al., 2015, "Explaining and harnessing adversarial examples"): one
  step of size epsilon along the sign of the input gradient of the cross-entropy loss.
- PGD (Madry et al., 2018, "Towards deep learning models resistant to adversarial
  attacks"): `steps` signed-gradient steps of size `step_size`, each followed by a
  projection back into the epsilon ball around the clean input. It starts from the clean
  input rather than a random point, so its result depends on nothing but the model and data.

Inputs are not clipped to a value range, because the tasks standardise their features
and have no common valid range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

# Perturbs a batch (x, y) and returns the perturbed inputs.
Perturbation = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode for the block and restore each one's mode after it."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(x), y)
        (gradient,) = torch.autograd.grad(loss, x)
    return gradient


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Return x moved by epsilon along the sign of the loss gradient (one FGSM step)."""
    return (x + epsilon * _input_gradient(model, x, y).sign()).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    steps: int,
    step_size: float,
) -> torch.Tensor:
    """Return the PGD adversarial inputs within the max-norm ball of radius epsilon around x."""
    adversarial = x.detach().clone()
    for _ in range(steps):
        adversarial = adversarial + step_size * _input_gradient(model, adversarial, y).sign()
        adversarial = torch.min(torch.max(adversarial, x - epsilon), x + epsilon).detach()
    return adversarial


def gaussian_noise(sigma: float, generator: torch.Generator) -> Perturbation:
    """Return a perturbation that adds N(0, sigma^2) noise drawn from generator."""

    def perturb(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        return x + sigma * noise

    return perturb


def perturbed_accuracy(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    perturb: Perturbation,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
) -> float:
    """Return the fraction of samples classified correctly after perturb, in eval mode.

    The mode of every submodule is restored afterwards. Raises ValueError for an empty split.
    """
    device = torch.device(device)
    x = _as_tensor(x, torch.float32)
    y = _as_tensor(y, torch.int64)
    if len(y) == 0:
        raise ValueError("robust accuracy of an empty split is undefined")
    model.to(device)
    correct = 0
    with eval_mode(model):
        for start in range(0, len(y), batch_size):
            x_batch = x[start : start + batch_size].to(device)
            y_batch = y[start : start + batch_size].to(device)
            perturbed = perturb(x_batch, y_batch)
            with torch.no_grad():
                predictions = model(perturbed).argmax(dim=1)
            correct += int((predictions == y_batch).sum())
    return correct / len(y)


def _as_tensor(values: np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # torch.tensor copies, because the cached task arrays are read-only.
    if isinstance(values, torch.Tensor):
        return values.to(dtype)
    return torch.tensor(values, dtype=dtype)


def robustness_scores(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    names: tuple[str, ...],
    *,
    noise_sigma: float,
    epsilon: float,
    pgd_steps: int,
    pgd_step_size: float,
    seed: int,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Return the accuracy under each requested perturbation, keyed by objective name.

    names may contain robust_noise, robust_fgsm and robust_pgd; other names are ignored.
    The noise is drawn from a generator seeded with seed, so a rerun gives the same score.
    """
    perturbations: dict[str, Perturbation] = {}
    if "robust_noise" in names:
        generator = torch.Generator().manual_seed(seed)
        perturbations["robust_noise"] = gaussian_noise(noise_sigma, generator)
    if "robust_fgsm" in names:
        perturbations["robust_fgsm"] = lambda xb, yb: fgsm(model, xb, yb, epsilon)
    if "robust_pgd" in names:
        perturbations["robust_pgd"] = lambda xb, yb: pgd(
            model, xb, yb, epsilon, pgd_steps, pgd_step_size
        )
    return {
        name: perturbed_accuracy(model, x, y, perturb, batch_size, device)
        for name, perturb in perturbations.items()
    }
