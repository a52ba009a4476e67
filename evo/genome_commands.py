"""Genome commands of the ``evo`` CLI: ``evo genome show`` and ``evo seeds list|import``.

``evo genome draw`` is attached to the same ``genome`` group by ``evo.report_commands``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from evo.cli import UserError, _open_store

DEFAULT_TASK = "mnist1d"


def _task_shapes(task) -> tuple[tuple[int, ...], int]:
    from fitness import task_shapes

    try:
        return task_shapes(task)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None


def _load_genome(source: str):
    """Return (genome, task of the campaign or None) for GENOME.json or DB:ID."""
    from genomes import Genome, GenomeError

    path = Path(source)
    if path.suffix.lower() == ".json":
        try:
            return Genome.from_json(path.read_text(encoding="utf-8")), None
        except OSError as error:
            raise UserError(f"cannot read genome file {path}: {error.strerror or error}") from None
        except GenomeError as error:
            raise UserError(f"{path} is not a valid genome: {error}") from None
    database, separator, identifier = source.rpartition(":")
    if not separator or not identifier.isdigit():
        raise UserError(f"{source!r} is neither a genome .json file nor DB:ID; give e.g. genome.json or runs/x.sqlite:42")
    from populations import RecordNotFoundError

    with _open_store(database) as store:
        try:
            genome = Genome.from_dict(store.genome(int(identifier)))
        except RecordNotFoundError as error:
            raise UserError(str(error)) from None
        except GenomeError as error:
            raise UserError(f"individual {identifier} in {database} has an invalid genome: {error}") from None
        row = store.db.execute("SELECT campaign_id FROM individuals WHERE id = ?", [int(identifier)]).fetchone()
        campaign = store.campaign(int(row[0]))
    return genome, (campaign or {}).get("config", {}).get("task")


def genome_summary(genome, input_shape, num_classes) -> dict:
    """Nodes with shapes and costs, totals, FLOPs by kind, dead nodes and the canonical hash."""
    from genomes import describe, infer_shapes

    plan = infer_shapes(genome, input_shape, num_classes)
    flops = plan.flop_count
    return {
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "nodes": describe(genome, input_shape, num_classes),
        "output": genome.output,
        "head": {"kind": genome.head, "features": plan.head_features, "parameters": plan.head_parameters,
                 "flops": plan.head_flops},
        "parameters": plan.parameters,
        "flops": plan.flops,
        "flops_by_kind": {"matmul": flops.matmul, "attention": flops.attention, "elementwise": flops.elementwise},
        "dead_nodes": sorted(set(genome.ids) - genome.live_ids()),
        "canonical_hash": genome.canonical_hash(),
    }


def _format_params(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


@click.group()
def genome() -> None:
    """Inspect one genome."""


@genome.command("show")
@click.argument("source")
@click.option("--task", help=f"Task whose input shape and classes size the network (default: the campaign's "
                             f"task for DB:ID, else {DEFAULT_TASK}).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def genome_show(source, task, as_json) -> None:
    """Show a genome (GENOME.json or DB:ID): nodes, shapes, parameters and FLOPs per node."""
    from genomes import GenomeError

    genome_value, campaign_task = _load_genome(source)
    task = task or campaign_task or DEFAULT_TASK
    input_shape, num_classes = _task_shapes(task)
    try:
        summary = genome_summary(genome_value, input_shape, num_classes)
    except GenomeError as error:
        raise UserError(f"{source} does not fit task {task}: {error}") from None
    summary["task"] = task if isinstance(task, str) else json.dumps(task)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"task {summary['task']}: input {tuple(input_shape)}, {num_classes} classes")
    header = f"{'id':>4}  {'operation':<36} {'activation':<10} {'merge':<6} {'inputs':<10} {'output shape':<24} {'params':>9} {'FLOPs':>12}"
    click.echo(header)
    for row in summary["nodes"]:
        operation = f"{row['op']} {_format_params(row['params'])}".strip()
        inputs = ",".join(map(str, row["inputs"]))
        click.echo(f"{row['id']:>4}  {operation:<36} {row['activation']:<10} {row['merge']:<6} {inputs:<10} "
                   f"{row['out_shape']:<24} {row['parameters']:>9,} {row['flops']:>12,}")
    head = summary["head"]
    click.echo(f"head  {head['kind']} of node {summary['output']}, linear {head['features']} -> {num_classes}"
               f"{'':<14} {head['parameters']:>9,} {head['flops']:>12,}")
    kinds = summary["flops_by_kind"]
    click.echo(f"total {summary['parameters']:,} parameters, {summary['flops']:,} FLOPs per sample "
               f"(matmul {kinds['matmul']:,}, attention {kinds['attention']:,}, elementwise {kinds['elementwise']:,})")
    if summary["dead_nodes"]:
        click.echo(f"dead nodes (no path to the output, not built): {summary['dead_nodes']}")
    click.echo(f"canonical hash {summary['canonical_hash']}")


@click.group()
def seeds() -> None:
    """Known architectures usable as seeds, and import of your own nn.Module."""


@seeds.command("list")
@click.option("--task", default=DEFAULT_TASK, show_default=True, help="Task whose input shape sizes the seeds.")
def seeds_list(task) -> None:
    """List each seed with its parameter count and FLOPs on TASK."""
    from genomes import GenomeError, count_flops, count_parameters
    from genomes.zoo import SEEDS

    shape, classes = _task_shapes(task)
    for name, seed in SEEDS.items():
        genome_value = seed.build(shape, classes)
        try:
            cost = f"{count_parameters(genome_value, shape, classes):>9,} params {count_flops(genome_value, shape, classes):>11,} FLOPs"
        except GenomeError as error:
            cost = f"does not fit: {error}"
        click.echo(f"{name:<14}{cost}   {seed.summary}")


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--example-shape {text!r} is invalid; give comma-separated integers such as 1,1,40") from None
    if len(shape) < 2 or min(shape) < 1:
        raise UserError(f"--example-shape {text!r} is invalid; give the batch and the input shape, such as 1,1,40")
    return shape


@seeds.command("import")
@click.argument("spec", metavar="FILE.py:CLASS")
@click.option("--example-shape", required=True, help="Input shape with the batch first, comma-separated: 1,1,40.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Genome JSON file to write.")
def seeds_import(spec, example_shape, out) -> None:
    """Import an nn.Module (built with no arguments) as a genome, through torch.fx."""
    from genomes import GenomeError
    from genomes.fx_import import import_spec

    shape = _parse_shape(example_shape)
    try:
        imported = import_spec(spec, shape)
        summary = genome_summary(imported.genome, imported.input_shape, imported.num_classes)
    except GenomeError as error:
        raise UserError(str(error)) from None
    Path(out).write_text(imported.genome.to_json(indent=2) + "\n", encoding="utf-8")
    click.echo(f"{out}: {len(imported.genome)} nodes, head {imported.genome.head}, {imported.num_classes} classes, "
               f"{summary['parameters']:,} parameters, {summary['flops']:,} FLOPs on input {imported.input_shape}")
