"""Seeded, fixed-budget training of a classifier and batched accuracy measurement."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fitness.budget import Budget

logger = logging.getLogger(__name__)

# Number of last steps whose mean training loss is reported as the final loss.
FINAL_LOSS_WINDOW = 20


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of `train_classifier`.

    status is "ok", "diverged" (a loss, parameter or buffer became NaN or infinite) or
    "timeout" (Budget.max_seconds ran out). reason explains a status other than "ok".
    final_loss is the mean loss of the last FINAL_LOSS_WINDOW finite steps, and mean_loss
    the mean over all finite steps. Both are None when no step had a finite loss. loss_curve contains (step, mean loss of the steps since the
    previous point) pairs, at most Budget.loss_curve_points of them.
    """

    status: str
    steps: int
    final_loss: float | None
    loss_curve: tuple[tuple[int, float], ...]
    seconds: float
    reason: str | None = None
    mean_loss: float | None = None


@contextmanager
def seeded_torch(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNGs for the block and restore the caller's RNG states after it.

    Model initialisation and dropout draw from the global RNGs, so seeding them makes a
    network and its training repeatable and leaves the caller's RNG states unchanged.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Set torch's intra-op thread count for the block and restore it after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def build_optimizer(parameters, budget: Budget) -> torch.optim.Optimizer:
    """Create the optimizer named by budget.optimizer with the budget's hyperparameters."""
    if budget.optimizer == "adam":
        return torch.optim.Adam(
            parameters, lr=budget.learning_rate, weight_decay=budget.weight_decay
        )
    if budget.optimizer == "adamw":
        return torch.optim.AdamW(
            parameters, lr=budget.learning_rate, weight_decay=budget.weight_decay
        )
    if budget.optimizer == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=budget.learning_rate,
            momentum=budget.momentum,
            weight_decay=budget.weight_decay,
        )
    raise ValueError(f"unknown optimizer {budget.optimizer!r}")


def training_batches(
    num_samples: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Yield index batches forever, reshuffling at the start of each epoch.

    A batch of one sample is skipped, because batch norm cannot compute a batch variance
    in training mode. With more than one sample this drops at most the last batch of an
    epoch. A batch_size above num_samples gives one full-data batch per epoch.
    """
    if num_samples < 2:
        raise ValueError(f"training needs at least 2 samples, got {num_samples}")
    while True:
        order = torch.randperm(num_samples, generator=generator)
        for start in range(0, num_samples, batch_size):
            batch = order[start : start + batch_size]
            if len(batch) > 1:
                yield batch


def train_classifier(
    model: nn.Module,
    x_train: np.ndarray | torch.Tensor,
    y_train: np.ndarray | torch.Tensor,
    budget: Budget,
    seed: int,
    device: torch.device | str = "cpu",
) -> TrainingResult:
    """Train model in place with cross-entropy for budget.steps optimizer steps.

    The data order comes from a torch.Generator seeded with seed, and dropout draws from
    the global RNGs, which are seeded with seed for the run and restored afterwards. With
    the same model weights, data, budget, seed and thread count the trained weights are
    bit-identical on the CPU.

    Status "diverged" means that a loss was NaN or infinite, which stops training at
    once, or that a parameter or buffer was at the end. Status "timeout" means that
    budget.max_seconds ran out.
    """
    device = torch.device(device)
    x = _as_tensor(x_train, torch.float32).to(device)
    y = _as_tensor(y_train, torch.int64).to(device)
    model.to(device)
    model.train()
    optimizer = build_optimizer(model.parameters(), budget)
    scheduler = None
    if budget.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=budget.steps)
    generator = torch.Generator().manual_seed(seed)
    batches = training_batches(len(y), budget.batch_size, generator)

    losses: list[float] = []
    status, reason = "ok", None
    started = time.perf_counter()
    with torch_threads(budget.threads), seeded_torch(seed, device):
        for step in range(1, budget.steps + 1):
            batch = next(batches).to(device)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                status = "diverged"
                reason = (
                    f"training loss became {loss_value} at step {step} of {budget.steps} "
                    f"(learning rate {budget.learning_rate}). Lower the learning rate"
                )
                break
            losses.append(loss_value)

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()

            if budget.max_seconds is not None and time.perf_counter() - started > budget.max_seconds:
                status = "timeout"
                reason = (
                    f"training ran past Budget.max_seconds={budget.max_seconds} "
                    f"after {step} of {budget.steps} steps"
                )
                break

    if status == "ok" and not _state_finite(model):
        status = "diverged"
        reason = (
            f"a parameter or buffer became NaN or infinite in the last step "
            f"(learning rate {budget.learning_rate}). Lower the learning rate"
        )
    return TrainingResult(
        status=status,
        steps=len(losses),
        final_loss=float(np.mean(losses[-FINAL_LOSS_WINDOW:])) if losses else None,
        loss_curve=subsample_curve(losses, budget.loss_curve_points),
        seconds=time.perf_counter() - started,
        reason=reason,
        mean_loss=float(np.mean(losses)) if losses else None,
    )


def subsample_curve(losses: list[float], max_points: int) -> tuple[tuple[int, float], ...]:
    """Average losses over at most max_points consecutive windows of near-equal length.

    Each point is (last step of the window, counting from 1, mean loss of the window).
    """
    if not losses:
        return ()
    count = min(max_points, len(losses))
    bounds = [i * len(losses) // count for i in range(count + 1)]
    return tuple(
        (end, float(np.mean(losses[start:end])))
        for start, end in zip(bounds[:-1], bounds[1:])
    )


def _as_tensor(values: np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # torch.tensor copies a numpy array. torch.as_tensor would share it and warn,
    # because the cached task arrays are read-only.
    if isinstance(values, torch.Tensor):
        return values.to(dtype)
    return torch.tensor(values, dtype=dtype)


def _state_finite(model: nn.Module) -> bool:
    # Buffers count too: NaN running statistics of batch norm spoil eval mode.
    return all(
        bool(torch.isfinite(tensor).all())
        for tensor in model.state_dict().values()
        if tensor.is_floating_point()
    )


@torch.no_grad()
def accuracy(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
) -> float:
    """Return the fraction of samples that model classifies correctly, in eval mode.

    The model is left in eval mode.
    """
    device = torch.device(device)
    x = _as_tensor(x, torch.float32)
    y = _as_tensor(y, torch.int64)
    if len(y) == 0:
        raise ValueError("accuracy of an empty split is undefined")
    model.to(device)
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        predictions = logits.argmax(dim=1).cpu()
        correct += int((predictions == y[start : start + batch_size]).sum())
    return correct / len(y)
