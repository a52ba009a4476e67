"""One evaluation: train a genome's network on a task and measure its objectives.

`evaluate` takes and returns plain data, so it runs the same in the engine process, in a
process pool or on a Dask worker. Every failure becomes an EvaluationRecord with a status
and a reason instead of an exception.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fitness._records import is_integer
from fitness.budget import Budget, BudgetError, resolve_device
from fitness.objectives import ObjectiveError, measure_latency, validate_objective_names
from fitness.tasks import TaskError, TaskSpec, load_task, task_shapes
from fitness.training import accuracy, seeded_torch, torch_threads, train_classifier
from genomes import Genome, GenomeError, count_flops, count_parameters, decode

logger = logging.getLogger(__name__)

# ok: every requested objective was measured.
# failed: an unexpected exception. diverged: NaN or infinite loss or parameter.
# rejected: the genome does not fit the task or exceeds Budget.max_parameters.
# oom: out of memory. timeout: training ran past Budget.max_seconds.
STATUSES = ("ok", "failed", "diverged", "rejected", "oom", "timeout")


@dataclass(frozen=True)
class EvaluationRecord:
    """Outcome of one evaluation, as plain JSON-able data.

    objectives maps objective names to finite floats and contains only what was
    measured. Every requested objective is present when status is "ok". A record with
    another status may still contain the cheap ones (params, flops).

    metrics contains the rest. test_accuracy is kept apart from the validation accuracy
    in objectives, so that selection never uses the test split. Other keys:
    params, flops, steps, final_train_loss, loss_curve ([step, loss] pairs), train_seconds,
    latency_min_ms, latency_max_ms, device, threads.
    """

    status: str
    objectives: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status is {self.status!r}, expected one of {', '.join(STATUSES)}")
        for name, value in self.objectives.items():
            if not isinstance(value, float) or not math.isfinite(value):
                raise ValueError(f"objective {name!r} is {value!r}, expected a finite float")

    @property
    def ok(self) -> bool:
        """Whether every requested objective was measured."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-able dict that `from_dict` reads back."""
        return {
            "status": self.status,
            "objectives": dict(self.objectives),
            "metrics": dict(self.metrics),
            "error": self.error,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationRecord:
        """Build a record from a dict written by `to_dict`."""
        unknown = set(data) - {"status", "objectives", "metrics", "error", "seconds"}
        if unknown:
            raise ValueError(f"unknown EvaluationRecord field(s): {', '.join(sorted(unknown))}")
        return cls(
            status=data["status"],
            objectives={name: float(value) for name, value in data.get("objectives", {}).items()},
            metrics=dict(data.get("metrics", {})),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
        )


class InvalidSeedError(ValueError):
    """Seed outside the integers that torch.manual_seed accepts, 0..2**64-1."""


class _Rejected(Exception):
    """Internal signal: the genome is over the parameter cap."""


def evaluate(
    genome: Genome | Mapping[str, Any] | str,
    task: TaskSpec | Mapping[str, Any] | str,
    budget: Budget | Mapping[str, Any] | None = None,
    seed: int = 0,
    objectives: Iterable[str] = ("accuracy", "flops"),
) -> EvaluationRecord:
    """Train and measure one genome on a task and return the record.

    genome is a Genome, its dict or its JSON text. task is a TaskSpec, its dict or a task
    name. budget is a Budget, its dict or None for the defaults. The seed fixes weight
    initialisation, data order and dropout, and the caller's global RNG states are left
    as they were.

    The parameter count is checked against Budget.max_parameters before any module is
    built. Training runs only when "accuracy" is requested, and a network is built only
    for "accuracy" or "latency".

    Every Exception becomes a record: GenomeError and the parameter cap give "rejected",
    out-of-memory errors "oom", anything else "failed". Only exceptions that are not
    Exception subclasses, such as KeyboardInterrupt and SystemExit, propagate.
    """
    started = time.perf_counter()
    metrics: dict[str, Any] = {}
    measured: dict[str, float] = {}
    status, error = "ok", None
    try:
        status, error = _run(genome, task, budget, seed, objectives, metrics, measured)
    except _Rejected as rejection:
        status, error = "rejected", str(rejection)
    except GenomeError as exception:
        status, error = "rejected", f"{type(exception).__name__}: {exception}"
    except (TaskError, BudgetError, ObjectiveError, InvalidSeedError) as exception:
        # Invalid arguments rather than a bad genome, so the message is enough without a traceback.
        status, error = "failed", f"{type(exception).__name__}: {exception}"
        logger.error(
            "evaluation of genome %s failed (seed %r): %s", _genome_label(genome), seed, error
        )
    except (torch.OutOfMemoryError, MemoryError) as exception:
        status, error = "oom", f"{type(exception).__name__}: {exception}"
    except Exception as exception:  # noqa: BLE001 - a bad genome must not stop a campaign
        if _is_cpu_allocation_failure(exception):
            status, error = "oom", f"{type(exception).__name__}: {exception}"
        else:
            status, error = "failed", f"{type(exception).__name__}: {exception}"
            logger.exception(
                "evaluation of genome %s failed (seed %r)", _genome_label(genome), seed
            )
    finally:
        _release_cuda_memory()

    seconds = time.perf_counter() - started
    if status == "ok":
        logger.info(
            "evaluation of genome %s ok in %.2f s: %s", _genome_label(genome), seconds, measured
        )
    elif status != "failed":
        logger.warning(
            "evaluation of genome %s %s (seed %r): %s", _genome_label(genome), status, seed, error
        )
    return EvaluationRecord(
        status=status, objectives=measured, metrics=metrics, error=error, seconds=seconds
    )


def _run(
    genome_value: Genome | Mapping[str, Any] | str,
    task_value: TaskSpec | Mapping[str, Any] | str,
    budget_value: Budget | Mapping[str, Any] | None,
    seed: int,
    objective_names: Iterable[str],
    metrics: dict[str, Any],
    measured: dict[str, float],
) -> tuple[str, str | None]:
    """Fill metrics and measured objectives in place and return (status, error)."""
    if not is_integer(seed) or not 0 <= seed < 2**64:
        raise InvalidSeedError(f"seed is {seed!r}, expected an integer in 0..2**64-1")
    names = validate_objective_names(objective_names)
    genome = _as_genome(genome_value)
    spec = TaskSpec.coerce(task_value)
    budget = Budget.coerce(budget_value)
    input_shape, num_classes = task_shapes(spec)

    # Both counts come from the genome alone, so an oversized genome allocates nothing.
    params = count_parameters(genome, input_shape, num_classes)
    metrics["params"] = params
    if budget.max_parameters is not None and params > budget.max_parameters:
        raise _Rejected(
            f"the network has {params:,} parameters, over the cap of "
            f"{budget.max_parameters:,} (Budget.max_parameters)"
        )
    flops = count_flops(genome, input_shape, num_classes)
    metrics["flops"] = flops
    if "params" in names:
        measured["params"] = float(params)
    if "flops" in names:
        measured["flops"] = float(flops)
    if "accuracy" not in names and "latency" not in names:
        return "ok", None

    device = resolve_device(budget.device)
    metrics["device"] = str(device)
    metrics["threads"] = budget.threads
    with torch_threads(budget.threads):
        with seeded_torch(seed, device):
            model = decode(genome, input_shape, num_classes).to(device)

        if "accuracy" in names:
            status, error = _train_and_score(model, spec, budget, seed, device, metrics, measured)
            if status != "ok":
                return status, error

        if "latency" in names:
            latency = measure_latency(
                model,
                input_shape,
                batch_size=budget.latency_batch_size,
                warmup=budget.latency_warmup,
                repeats=budget.latency_repeats,
                device=device,
                seed=seed,
            )
            measured["latency"] = float(latency.median_ms)
            metrics["latency_min_ms"] = latency.min_ms
            metrics["latency_max_ms"] = latency.max_ms
    return "ok", None


def _train_and_score(
    model: torch.nn.Module,
    spec: TaskSpec,
    budget: Budget,
    seed: int,
    device: torch.device,
    metrics: dict[str, Any],
    measured: dict[str, float],
) -> tuple[str, str | None]:
    data = load_task(spec)
    result = train_classifier(model, data.x_train, data.y_train, budget, seed, device)
    metrics["steps"] = result.steps
    metrics["train_seconds"] = result.seconds
    metrics["final_train_loss"] = result.final_loss
    metrics["loss_curve"] = [[step, loss] for step, loss in result.loss_curve]
    if result.status != "ok":
        return result.status, result.reason

    measured["accuracy"] = accuracy(
        model, data.x_val, data.y_val, budget.eval_batch_size, device
    )
    metrics["test_accuracy"] = accuracy(
        model, data.x_test, data.y_test, budget.eval_batch_size, device
    )
    return "ok", None


def _as_genome(value: Genome | Mapping[str, Any] | str) -> Genome:
    if isinstance(value, Genome):
        return value
    if isinstance(value, str):
        return Genome.from_json(value)
    if isinstance(value, Mapping):
        return Genome.from_dict(value)
    raise TypeError(
        f"a genome must be a Genome, a dict or JSON text, got {type(value).__name__}"
    )


def _genome_label(value: Any) -> str:
    """Return the first 12 characters of the genome's canonical hash, for log messages."""
    try:
        return _as_genome(value).canonical_hash()[:12]
    except Exception:  # noqa: BLE001 - a label for a log line must not raise
        return "<invalid genome>"


def _is_cpu_allocation_failure(exception: Exception) -> bool:
    # The CPU allocator raises a plain RuntimeError instead of torch.OutOfMemoryError.
    return isinstance(exception, RuntimeError) and "can't allocate memory" in str(exception)


def _release_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
