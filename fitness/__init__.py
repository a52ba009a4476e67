"""Fitness: tasks (datasets), training budgets, objectives and the evaluation of one genome.

Public API::

    evaluate(genome, task, budget, seed, objectives) -> EvaluationRecord
    TaskSpec, TaskData, load_task(spec), task_shapes(spec), known_tasks()
    Budget
    OBJECTIVES, Objective, objective_weights(names)
    train_classifier(...), accuracy(...), measure_latency(...)
    robustness_scores(...), fgsm(...), pgd(...), layer_gradient_norms(...)
    state_to_bytes(model), bytes_to_state(data), inherit_weights(...)

Everything that crosses a process boundary (genome, task spec, budget, seed, record) is
plain JSON-able data.
"""

from fitness.budget import OPTIMIZERS, SCHEDULES, Budget, BudgetError, resolve_device
from fitness.diagnostics import gradient_spread, layer_gradient_norms
from fitness.evaluate import (
    STATUSES,
    EvaluationRecord,
    InheritanceError,
    InvalidSeedError,
    evaluate,
    sanitise_objectives,
)
from fitness.inheritance import (
    WeightsFormatError,
    bytes_to_state,
    inherit_weights,
    state_to_bytes,
)
from fitness.objectives import (
    OBJECTIVES,
    ROBUSTNESS_OBJECTIVES,
    TRAINED_OBJECTIVES,
    LatencyMeasurement,
    Objective,
    ObjectiveError,
    measure_latency,
    objective_weights,
    validate_objective_names,
)
from fitness.tasks import (
    TaskData,
    TaskDefinition,
    TaskError,
    TaskSpec,
    UnknownTaskError,
    clear_task_cache,
    known_tasks,
    load_task,
    register_task,
    task_shapes,
)
from fitness.robustness import fgsm, gaussian_noise, pgd, perturbed_accuracy, robustness_scores
from fitness.training import TrainingResult, accuracy, train_classifier

__all__ = [
    "OBJECTIVES", "OPTIMIZERS", "ROBUSTNESS_OBJECTIVES", "SCHEDULES", "STATUSES",
    "TRAINED_OBJECTIVES",
    "Budget", "BudgetError", "EvaluationRecord", "InheritanceError", "InvalidSeedError",
    "LatencyMeasurement", "Objective", "ObjectiveError", "TaskData", "TaskDefinition",
    "TaskError", "TaskSpec", "TrainingResult", "UnknownTaskError", "WeightsFormatError",
    "accuracy", "bytes_to_state", "clear_task_cache", "evaluate", "fgsm", "gaussian_noise",
    "gradient_spread", "inherit_weights", "known_tasks", "layer_gradient_norms", "load_task",
    "measure_latency", "objective_weights", "perturbed_accuracy", "pgd", "register_task",
    "resolve_device", "robustness_scores", "sanitise_objectives", "state_to_bytes",
    "task_shapes", "train_classifier", "validate_objective_names",
]
