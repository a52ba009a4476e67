"""Training and measurement budget of one evaluation."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from fitness._records import check_keys, is_integer, is_real

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class BudgetError(ValueError):
    """Invalid budget value."""


@dataclass(frozen=True)
class Budget:
    """How long and how to train a network, and how to measure it.

    All fields are plain JSON values, so a budget crosses process boundaries as a dict.
    """

    # Number of optimizer steps.
    steps: int = 1000
    # Training batch size, at least 2 because batch norm rejects a batch of one.
    batch_size: int = 64
    # One of OPTIMIZERS.
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    # Weight decay of the optimizer: L2 penalty for adam and sgd, decoupled for adamw.
    weight_decay: float = 0.0
    # Momentum of sgd, ignored by adam and adamw.
    momentum: float = 0.9
    # Learning-rate schedule over the steps: "constant", or "cosine" decay to zero.
    schedule: str = "constant"
    # Maximum number of parameters. A larger genome is rejected before any module is
    # built. None disables the cap.
    max_parameters: int | None = 1_000_000
    # Maximum training time in seconds. Training that runs past it stops with status
    # "timeout". None disables the limit. A limit makes results depend on the speed
    # of the machine.
    max_seconds: float | None = None
    # Batch size of accuracy evaluation (no gradients, so it can be large).
    eval_batch_size: int = 1000
    # Batch size, untimed warm-up passes and timed passes of the latency measurement.
    # The latency objective is measured at latency_batch_size.
    latency_batch_size: int = 1
    latency_warmup: int = 10
    latency_repeats: int = 30
    # Warm-up lasts at least this long, and each timed sample at least about this long
    # (several passes averaged), in milliseconds. See fitness.measure_latency.
    latency_min_warmup_ms: float = 50.0
    latency_min_sample_ms: float = 2.0
    # Further batch sizes whose latency goes into the metrics (latency_ms_by_batch).
    latency_extra_batch_sizes: tuple[int, ...] = ()
    # Robustness objectives, measured on the first robustness_samples validation samples.
    # Standard deviation of the Gaussian input noise of robust_noise, in input units.
    noise_sigma: float = 0.1
    # Maximum-norm radius of the FGSM and PGD attacks, in input units.
    attack_epsilon: float = 8 / 255
    # PGD iterations and step size. None selects 2.5 * attack_epsilon / pgd_steps.
    pgd_steps: int = 10
    pgd_step_size: float | None = None
    robustness_samples: int = 500
    # Number of torch intra-op threads during an evaluation. A fixed count keeps results
    # bit-identical between the engine process and a worker.
    threads: int = 1
    # "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    # NOTE: the CUDA paths have not been run yet. Results on CUDA may also differ
    # between runs, because cuDNN's deterministic mode is not set.
    device: str = "auto"
    # Maximum number of points kept of the training loss curve.
    loss_curve_points: int = 50

    def __post_init__(self) -> None:
        self._check_positive_int("steps")
        self._check_positive_int("batch_size", minimum=2)
        self._check_positive_int("eval_batch_size")
        self._check_positive_int("latency_batch_size")
        self._check_positive_int("latency_warmup", minimum=0)
        self._check_positive_int("latency_repeats")
        self._check_positive_int("threads")
        self._check_positive_int("loss_curve_points")
        self._check_positive_int("pgd_steps")
        self._check_positive_int("robustness_samples")
        self._check_batch_sizes()
        if self.max_parameters is not None:
            self._check_positive_int("max_parameters")

        self._check_choice("optimizer", OPTIMIZERS)
        self._check_choice("schedule", SCHEDULES)

        self._check_real("learning_rate", lower=0.0, lower_inclusive=False)
        self._check_real("weight_decay", lower=0.0)
        self._check_real("momentum", lower=0.0, upper=1.0)
        if self.max_seconds is not None:
            self._check_real("max_seconds", lower=0.0, lower_inclusive=False)
        self._check_real("noise_sigma", lower=0.0)
        self._check_real("latency_min_warmup_ms", lower=0.0)
        self._check_real("latency_min_sample_ms", lower=0.0)
        self._check_real("attack_epsilon", lower=0.0)
        if self.pgd_step_size is not None:
            self._check_real("pgd_step_size", lower=0.0, lower_inclusive=False)

        if not isinstance(self.device, str) or not _DEVICE_PATTERN.fullmatch(self.device):
            raise BudgetError(
                f"Budget.device is {self.device!r}, expected 'auto', 'cpu', 'cuda' or 'cuda:N'"
            )

    @property
    def pgd_step(self) -> float:
        """Step size of one PGD iteration in input units."""
        if self.pgd_step_size is not None:
            return float(self.pgd_step_size)
        return 2.5 * self.attack_epsilon / self.pgd_steps

    def to_dict(self) -> dict[str, Any]:
        """Return the budget as a JSON-able dict that `from_dict` reads back."""
        data = dataclasses.asdict(self)
        # A list, so that the dict equals its own JSON round trip.
        data["latency_extra_batch_sizes"] = list(self.latency_extra_batch_sizes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        """Build a budget from a dict. Missing keys take the defaults and unknown keys raise BudgetError."""
        check_keys(data, cls, BudgetError)
        return cls(**data)

    @classmethod
    def coerce(cls, value: Budget | Mapping[str, Any] | None) -> Budget:
        """Return value as a Budget: a budget as is, a dict via `from_dict`, None as the defaults."""
        if value is None:
            return cls()
        if isinstance(value, Budget):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise BudgetError(
            f"a budget must be a Budget, a dict or None, got {type(value).__name__}"
        )

    def replace(self, **changes: Any) -> Budget:
        """Return a copy with the given fields changed and validated."""
        return dataclasses.replace(self, **changes)

    def _check_positive_int(self, field: str, minimum: int = 1) -> None:
        value = getattr(self, field)
        if not is_integer(value) or value < minimum:
            raise BudgetError(
                f"Budget.{field} is {value!r}, expected an integer of at least {minimum}"
            )

    def _check_batch_sizes(self) -> None:
        sizes = self.latency_extra_batch_sizes
        if isinstance(sizes, list):
            sizes = tuple(sizes)
            object.__setattr__(self, "latency_extra_batch_sizes", sizes)
        if not isinstance(sizes, tuple) or not all(
            is_integer(size) and size >= 1 for size in sizes
        ):
            raise BudgetError(
                f"Budget.latency_extra_batch_sizes is {sizes!r}, expected a list of "
                f"positive integers such as [1, 32]"
            )

    def _check_choice(self, field: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, field)
        if value not in choices:
            raise BudgetError(
                f"Budget.{field} is {value!r}, expected one of {', '.join(choices)}"
            )

    def _check_real(
        self,
        field: str,
        lower: float,
        upper: float | None = None,
        lower_inclusive: bool = True,
    ) -> None:
        value = getattr(self, field)
        valid = is_real(value) and math.isfinite(value)
        if valid:
            valid = value >= lower if lower_inclusive else value > lower
        if valid and upper is not None:
            valid = value <= upper
        if not valid:
            bound = f"at least {lower}" if lower_inclusive else f"greater than {lower}"
            if upper is not None:
                bound += f" and at most {upper}"
            raise BudgetError(
                f"Budget.{field} is {value!r}, expected a finite number {bound}"
            )


def resolve_device(name: str) -> torch.device:
    """Return the torch device for a Budget.device value.

    "auto" selects CUDA when available, else the CPU. Raises BudgetError when CUDA is
    requested but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BudgetError(
            f"Budget.device is {name!r} but CUDA is not available. Use 'auto' or 'cpu'"
        )
    return torch.device(name)
