"""Fitness: tasks (datasets), training budgets, objectives and the evaluation of one genome.

Public API::

    evaluate(genome, task, budget, seed, objectives) -> EvaluationRecord
    TaskSpec, TaskData, load_task(spec), task_shapes(spec), known_tasks()
    Budget
    OBJECTIVES, Objective, objective_weights(names)
    train_classifier(...), accuracy(...), measure_latency(...)

Everything that crosses a process boundary (genome, task spec, budget, seed, record) is
plain JSON-able data.
"""

from fitness.budget import OPTIMIZERS, SCHEDULES, Budget, BudgetError, resolve_device
from fitness.evaluate import STATUSES, EvaluationRecord, InvalidSeedError, evaluate
from fitness.objectives import (
    OBJECTIVES,
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
from fitness.training import TrainingResult, accuracy, train_classifier

__all__ = [
    "OBJECTIVES", "OPTIMIZERS", "SCHEDULES", "STATUSES",
    "Budget", "BudgetError", "EvaluationRecord", "InvalidSeedError", "LatencyMeasurement",
    "Objective", "ObjectiveError", "TaskData", "TaskDefinition", "TaskError", "TaskSpec",
    "TrainingResult", "UnknownTaskError",
    "accuracy", "clear_task_cache", "evaluate", "known_tasks", "load_task",
    "measure_latency", "objective_weights", "register_task", "resolve_device",
    "task_shapes", "train_classifier", "validate_objective_names",
]
