"""Objectives that an evaluation can measure, each with its direction, and latency timing.

OBJECTIVES is the one place where the direction of an objective is declared. Selection
code derives its weights from it (`Objective.weight`: +1 to maximise, -1 to minimise).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class ObjectiveError(ValueError):
    """Unknown, repeated or missing objective name."""


@dataclass(frozen=True)
class Objective:
    """Measured quantity that the search optimises, with its direction and unit."""

    name: str
    maximize: bool
    unit: str
    description: str

    @property
    def weight(self) -> float:
        """Return +1.0 for an objective to maximise and -1.0 for one to minimise (DEAP's convention)."""
        return 1.0 if self.maximize else -1.0


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        Objective(
            "accuracy",
            maximize=True,
            unit="fraction",
            description="accuracy on the validation split after training, in [0, 1]",
        ),
        Objective(
            "params",
            maximize=False,
            unit="parameters",
            description="number of trainable parameters, including stem and head",
        ),
        Objective(
            "flops",
            maximize=False,
            unit="FLOPs",
            description="floating-point operations of one forward pass per sample, "
            "counting a multiply-add as 2",
        ),
        Objective(
            "latency",
            maximize=False,
            unit="ms",
            description="median wall time of a forward pass of Budget.latency_batch_size "
            "samples in eval mode on the evaluation device",
        ),
        Objective(
            "robust_noise",
            maximize=True,
            unit="fraction",
            description="validation accuracy with Gaussian noise of standard deviation "
            "Budget.noise_sigma added to the inputs",
        ),
        Objective(
            "robust_fgsm",
            maximize=True,
            unit="fraction",
            description="validation accuracy under the FGSM attack of max-norm radius "
            "Budget.attack_epsilon",
        ),
        Objective(
            "robust_pgd",
            maximize=True,
            unit="fraction",
            description="validation accuracy under the PGD attack of max-norm radius "
            "Budget.attack_epsilon with Budget.pgd_steps steps",
        ),
        Objective(
            "gradient_spread_init",
            maximize=False,
            unit="decades",
            description="standard deviation of log10 of the per-layer gradient norms "
            "on one training batch at initialisation",
        ),
        Objective(
            "gradient_spread",
            maximize=False,
            unit="decades",
            description="standard deviation of log10 of the per-layer gradient norms "
            "on one training batch after training",
        ),
        Objective(
            "train_loss",
            maximize=False,
            unit="nats",
            description="mean cross-entropy of the last training steps",
        ),
        Objective(
            "loss_curve_area",
            maximize=False,
            unit="nats",
            description="mean training cross-entropy over all steps, the area under the "
            "loss curve divided by the step count (lower means faster learning)",
        ),
    )
}

# Objectives that need a trained network.
TRAINED_OBJECTIVES = frozenset(
    {"accuracy", "robust_noise", "robust_fgsm", "robust_pgd", "gradient_spread_init",
     "gradient_spread", "train_loss", "loss_curve_area"}
)
ROBUSTNESS_OBJECTIVES = ("robust_noise", "robust_fgsm", "robust_pgd")


def validate_objective_names(names: Iterable[str] | str) -> tuple[str, ...]:
    """Return names as a tuple, raising ObjectiveError if one is unknown or repeated, or none is given."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ObjectiveError(
            f"no objectives given. Choose from {', '.join(OBJECTIVES)}"
        )
    for name in names:
        if name not in OBJECTIVES:
            raise ObjectiveError(
                f"unknown objective {name!r}. Known objectives: {', '.join(OBJECTIVES)}"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ObjectiveError(f"objective(s) listed more than once: {', '.join(repeated)}")
    return names


def objective_weights(names: Iterable[str]) -> tuple[float, ...]:
    """Return the DEAP fitness weights (+1 maximise, -1 minimise) of the named objectives."""
    return tuple(OBJECTIVES[name].weight for name in validate_objective_names(names))


@dataclass(frozen=True)
class LatencyMeasurement:
    """Wall times in milliseconds of the timed forward passes.

    iqr_ms is the inter-quartile range (75th minus 25th percentile), a spread that one
    pass slowed by another process does not move.
    """

    median_ms: float
    min_ms: float
    max_ms: float
    iqr_ms: float
    repeats: int
    batch_size: int
    # Consecutive passes per timed sample; each time above is per pass.
    passes_per_sample: int = 1


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 1,
    warmup: int = 10,
    repeats: int = 30,
    device: torch.device | str = "cpu",
    seed: int = 0,
    min_warmup_ms: float = 0.0,
    min_sample_ms: float = 0.0,
) -> LatencyMeasurement:
    """Time forward passes of model in eval mode and return their median, spread and range.

    The input is a random batch of shape (batch_size, *input_shape) drawn from a local
    generator. Warm-up passes are not timed: at least `warmup` of them, and more until
    min_warmup_ms has passed. Then `repeats` samples are timed. Each sample runs enough
    consecutive passes to last about min_sample_ms, counted once from the warm-up pass
    times, and reports the time per pass. A single pass of a small network is too short
    to time on its own against timer and scheduler noise. On CUDA each sample is
    bracketed by torch.cuda.synchronize so that the time includes the kernels. The
    model is left in eval mode. The caller fixes the thread count (evaluate uses
    Budget.threads). The median is robust to the occasional sample slowed by another
    process, but latency remains a noisy measurement.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn((batch_size, *input_shape), generator=generator).to(device)
    model.to(device)
    model.eval()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    passes = 0
    started = time.perf_counter()
    while passes < warmup or (time.perf_counter() - started) * 1e3 < min_warmup_ms:
        model(inputs)
        synchronize()
        passes += 1
    per_pass_ms = (time.perf_counter() - started) * 1e3 / passes if passes else 0.0
    inner = 1
    if min_sample_ms > 0 and per_pass_ms > 0:
        inner = max(1, math.ceil(min_sample_ms / per_pass_ms))

    times_ms = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            model(inputs)
        synchronize()
        times_ms.append((time.perf_counter() - started) * 1e3 / inner)
    quartile_1, quartile_3 = np.percentile(times_ms, [25, 75])
    return LatencyMeasurement(
        median_ms=statistics.median(times_ms),
        min_ms=min(times_ms),
        max_ms=max(times_ms),
        iqr_ms=float(quartile_3 - quartile_1),
        repeats=repeats,
        batch_size=batch_size,
        passes_per_sample=inner,
    )
