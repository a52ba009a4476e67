"""One evaluation: train a genome's network on a task and measure its objectives.

`evaluate` takes and returns plain data, so it runs the same in the engine process, in a
process pool or on a Dask worker. Every failure becomes an EvaluationRecord with a status
and a reason instead of an exception.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fitness._records import is_integer
from fitness.budget import Budget, BudgetError, resolve_device
from fitness.diagnostics import gradient_spread, layer_gradient_norms
from fitness.inheritance import WeightsFormatError, bytes_to_state, inherit_weights, state_to_bytes
from fitness.objectives import (
    ROBUSTNESS_OBJECTIVES,
    TRAINED_OBJECTIVES,
    LatencyMeasurement,
    ObjectiveError,
    measure_latency,
    validate_objective_names,
)
from fitness.robustness import robustness_scores
from fitness.tasks import TaskData, TaskError, TaskSpec, load_task, task_shapes
from fitness.training import accuracy, seeded_torch, torch_threads, train_classifier
from genomes import Genome, GenomeError, count_flops, count_parameters, decode

logger = logging.getLogger(__name__)

# ok: every requested objective was measured.
# failed: an unexpected exception. diverged: NaN or infinite loss, parameter or objective.
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
    gradient_norms_init and gradient_norms (per-layer), latency_ms, latency_iqr_ms,
    latency_min_ms, latency_max_ms, latency_ms_by_batch, inherited_nodes, device, threads.

    weights contains the trained state_dict as .npz bytes when evaluate was called with
    keep_weights=True, else None. It is the one field that is not JSON-able.
    """

    status: str
    objectives: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    weights: bytes | None = field(default=None, repr=False)

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
        """Return the record as a dict that `from_dict` reads back.

        The dict is JSON-able unless the record has weights, which appear under the key
        "weights" as bytes.
        """
        data = {
            "status": self.status,
            "objectives": dict(self.objectives),
            "metrics": dict(self.metrics),
            "error": self.error,
            "seconds": self.seconds,
        }
        if self.weights is not None:
            data["weights"] = self.weights
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationRecord:
        """Build a record from a dict written by `to_dict`."""
        unknown = set(data) - {"status", "objectives", "metrics", "error", "seconds", "weights"}
        if unknown:
            raise ValueError(f"unknown EvaluationRecord field(s): {', '.join(sorted(unknown))}")
        return cls(
            status=data["status"],
            objectives={name: float(value) for name, value in data.get("objectives", {}).items()},
            metrics=dict(data.get("metrics", {})),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
            weights=data.get("weights"),
        )


def sanitise_objectives(
    status: str, objectives: Mapping[str, float], error: str | None = None
) -> tuple[str, dict[str, float], str | None]:
    """Drop NaN and infinite objective values, marking an "ok" result as "diverged".

    Returns (status, finite objectives, error). A dropped value is named in the error.
    Selection then ranks the individual after every one with finite objectives, instead
    of letting DEAP compare NaN, which no comparison orders.
    """
    finite: dict[str, float] = {}
    dropped = []
    for name, value in objectives.items():
        number = float(value) if value is not None else math.nan
        if math.isfinite(number):
            finite[name] = number
        else:
            dropped.append(f"{name}={number}")
    if not dropped:
        return status, finite, error
    reason = f"objective value(s) not finite: {', '.join(dropped)}"
    if status == "ok":
        return "diverged", finite, reason
    return status, finite, error or reason


class InvalidSeedError(ValueError):
    """Seed outside the integers that torch.manual_seed accepts, 0..2**64-1."""


class InheritanceError(ValueError):
    """Invalid `inherit` argument of evaluate."""


class _Rejected(Exception):
    """Internal signal: the genome is over the parameter cap."""


def evaluate(
    genome: Genome | Mapping[str, Any] | str,
    task: TaskSpec | Mapping[str, Any] | str,
    budget: Budget | Mapping[str, Any] | None = None,
    seed: int = 0,
    objectives: Iterable[str] = ("accuracy", "flops"),
    *,
    inherit: Mapping[str, Any] | None = None,
    keep_weights: bool = False,
) -> EvaluationRecord:
    """Train and measure one genome on a task and return the record.

    genome is a Genome, its dict or its JSON text. task is a TaskSpec, its dict or a task
    name. budget is a Budget, its dict or None for the defaults. The seed fixes weight
    initialisation, data order, dropout and the input noise of robust_noise, and the
    caller's global RNG states are left as they were.

    inherit, when given, is {"genome": parent genome (dict or JSON), "weights": the
    parent's trained weights as .npz bytes}. The nodes that the parent shares unchanged
    start from the parent's weights (see fitness.inheritance), the rest from the seeded
    initialisation. keep_weights=True returns the trained weights in record.weights.

    The parameter count is checked against Budget.max_parameters before any module is
    built. Training runs only when an objective in TRAINED_OBJECTIVES is requested, and
    a network is built only for those or "latency".

    Every Exception becomes a record: GenomeError and the parameter cap give "rejected",
    out-of-memory errors "oom", a NaN or infinite loss or objective "diverged", anything
    else "failed". Only exceptions that are not Exception subclasses, such as
    KeyboardInterrupt and SystemExit, propagate.
    """
    started = time.perf_counter()
    metrics: dict[str, Any] = {}
    measured: dict[str, float] = {}
    outputs: dict[str, bytes] = {}
    status, error = "ok", None
    try:
        status, error = _run(
            genome, task, budget, seed, objectives, inherit, keep_weights,
            metrics, measured, outputs,
        )
    except _Rejected as rejection:
        status, error = "rejected", str(rejection)
    except GenomeError as exception:
        status, error = "rejected", f"{type(exception).__name__}: {exception}"
    except (
        TaskError, BudgetError, ObjectiveError, InvalidSeedError, InheritanceError,
        WeightsFormatError,
    ) as exception:
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

    _release_memory(status)
    status, measured, error = sanitise_objectives(status, measured, error)
    seconds = time.perf_counter() - started
    if status == "ok":
        # The label parses and hashes the genome (about 0.2 ms) outside the timed part, so it
        # is built only when the message is logged.
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "evaluation of genome %s ok in %.2f s: %s", _genome_label(genome), seconds, measured
            )
    elif status != "failed":
        logger.warning(
            "evaluation of genome %s %s (seed %r): %s", _genome_label(genome), status, seed, error
        )
    return EvaluationRecord(
        status=status,
        objectives=measured,
        metrics=metrics,
        error=error,
        seconds=seconds,
        weights=outputs.get("weights") if status == "ok" else None,
    )


def _run(
    genome_value: Genome | Mapping[str, Any] | str,
    task_value: TaskSpec | Mapping[str, Any] | str,
    budget_value: Budget | Mapping[str, Any] | None,
    seed: int,
    objective_names: Iterable[str],
    inherit: Mapping[str, Any] | None,
    keep_weights: bool,
    metrics: dict[str, Any],
    measured: dict[str, float],
    outputs: dict[str, bytes],
) -> tuple[str, str | None]:
    """Fill metrics, measured objectives and outputs in place and return (status, error)."""
    if not is_integer(seed) or not 0 <= seed < 2**64:
        raise InvalidSeedError(f"seed is {seed!r}, expected an integer in 0..2**64-1")
    names = validate_objective_names(objective_names)
    genome = _as_genome(genome_value)
    spec = TaskSpec.coerce(task_value)
    budget = Budget.coerce(budget_value)
    parent = _parent(inherit)
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
    trains = any(name in TRAINED_OBJECTIVES for name in names)
    if not trains and "latency" not in names:
        return "ok", None

    device = resolve_device(budget.device)
    metrics["device"] = str(device)
    metrics["threads"] = budget.threads
    with torch_threads(budget.threads):
        with seeded_torch(seed, device):
            model = decode(genome, input_shape, num_classes).to(device)
        if parent is not None:
            parent_genome, parent_state = parent
            metrics["inherited_nodes"] = inherit_weights(
                model, genome, parent_genome, parent_state
            )

        if trains:
            status, error = _train_and_score(
                model, names, spec, budget, seed, device, metrics, measured
            )
            if status != "ok":
                return status, error

        if "latency" in names:
            _measure_latencies(model, input_shape, budget, seed, device, metrics, measured)

        if keep_weights:
            outputs["weights"] = state_to_bytes(model)
    return "ok", None


def _train_and_score(
    model: torch.nn.Module,
    names: tuple[str, ...],
    spec: TaskSpec,
    budget: Budget,
    seed: int,
    device: torch.device,
    metrics: dict[str, Any],
    measured: dict[str, float],
) -> tuple[str, str | None]:
    data = load_task(spec)
    probe_x, probe_y = _probe_batch(data, budget, device)
    with seeded_torch(seed, device):
        norms_init = layer_gradient_norms(model, probe_x, probe_y)
    spread_init = gradient_spread(norms_init)
    metrics["gradient_norms_init"] = {name: _finite_or_none(v) for name, v in norms_init.items()}
    metrics["gradient_spread_init"] = _finite_or_none(spread_init)

    result = train_classifier(model, data.x_train, data.y_train, budget, seed, device)
    metrics["steps"] = result.steps
    metrics["train_seconds"] = result.seconds
    metrics["final_train_loss"] = result.final_loss
    metrics["loss_curve"] = [[step, loss] for step, loss in result.loss_curve]
    if result.status != "ok":
        return result.status, result.reason

    with seeded_torch(seed, device):
        norms = layer_gradient_norms(model, probe_x, probe_y)
    spread = gradient_spread(norms)
    metrics["gradient_norms"] = {name: _finite_or_none(v) for name, v in norms.items()}
    metrics["gradient_spread"] = _finite_or_none(spread)
    diagnostics = {
        "gradient_spread_init": spread_init,
        "gradient_spread": spread,
        "train_loss": result.final_loss,
        "loss_curve_area": result.mean_loss,
    }
    for name, value in diagnostics.items():
        if name in names:
            measured[name] = math.nan if value is None else float(value)

    if "accuracy" in names:
        measured["accuracy"] = accuracy(
            model, data.x_val, data.y_val, budget.eval_batch_size, device
        )
    metrics["test_accuracy"] = accuracy(
        model, data.x_test, data.y_test, budget.eval_batch_size, device
    )

    requested = tuple(name for name in names if name in ROBUSTNESS_OBJECTIVES)
    if requested:
        count = budget.robustness_samples
        measured.update(
            robustness_scores(
                model,
                data.x_val[:count],
                data.y_val[:count],
                requested,
                noise_sigma=budget.noise_sigma,
                epsilon=budget.attack_epsilon,
                pgd_steps=budget.pgd_steps,
                pgd_step_size=budget.pgd_step,
                seed=seed,
                batch_size=budget.eval_batch_size,
                device=device,
            )
        )
    return "ok", None


def _finite_or_none(value: float) -> float | None:
    # Metrics stay valid JSON, which has no NaN.
    return value if math.isfinite(value) else None


def _probe_batch(
    data: TaskData, budget: Budget, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the first training batch in stored order, on which gradient norms are measured.

    It has at least 2 samples whenever the split has, because batch norm in train mode
    cannot normalise a batch of one.
    """
    count = min(budget.batch_size, len(data.y_train))
    x = torch.tensor(data.x_train[:count], dtype=torch.float32, device=device)
    y = torch.tensor(data.y_train[:count], dtype=torch.int64, device=device)
    return x, y


def _measure_latencies(
    model: torch.nn.Module,
    input_shape: tuple[int, ...],
    budget: Budget,
    seed: int,
    device: torch.device,
    metrics: dict[str, Any],
    measured: dict[str, float],
) -> None:
    by_batch = {}
    for batch_size in dict.fromkeys((budget.latency_batch_size, *budget.latency_extra_batch_sizes)):
        latency = measure_budget_latency(model, input_shape, budget, batch_size, device, seed)
        by_batch[str(batch_size)] = {"median_ms": latency.median_ms, "iqr_ms": latency.iqr_ms}
        if batch_size == budget.latency_batch_size:
            measured["latency"] = float(latency.median_ms)
            metrics["latency_ms"] = latency.median_ms
            metrics["latency_iqr_ms"] = latency.iqr_ms
            metrics["latency_min_ms"] = latency.min_ms
            metrics["latency_max_ms"] = latency.max_ms
    metrics["latency_ms_by_batch"] = by_batch


def _parent(inherit: Mapping[str, Any] | None) -> tuple[Genome, dict[str, torch.Tensor]] | None:
    if inherit is None:
        return None
    if not isinstance(inherit, Mapping) or set(inherit) != {"genome", "weights"}:
        keys = sorted(inherit) if isinstance(inherit, Mapping) else type(inherit).__name__
        raise InheritanceError(
            f"inherit is {keys!r}, expected a dict with exactly the keys 'genome' and 'weights'"
        )
    weights = inherit["weights"]
    if not isinstance(weights, (bytes, bytearray, memoryview)):
        raise InheritanceError(
            f"inherit['weights'] is a {type(weights).__name__}, expected the .npz bytes "
            f"of record.weights"
        )
    return _as_genome(inherit["genome"]), bytes_to_state(bytes(weights))


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


def _release_memory(status: str) -> None:
    # After an out-of-memory error, reference cycles through the traceback's frames can
    # still hold the tensors, so collect them before the next evaluation allocates.
    if status == "oom":
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure_budget_latency(
    model: torch.nn.Module,
    input_shape: tuple[int, ...],
    budget: Budget,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> LatencyMeasurement:
    """Measure latency at one batch size with the warm-up and sampling settings of a budget."""
    return measure_latency(
        model,
        input_shape,
        batch_size=batch_size,
        warmup=budget.latency_warmup,
        repeats=budget.latency_repeats,
        device=device,
        seed=seed,
        min_warmup_ms=budget.latency_min_warmup_ms,
        min_sample_ms=budget.latency_min_sample_ms,
    )
