"""Analysis commands of the ``evo`` CLI: front, report, lineage, motifs, operators, export and genome draw.

Every command opens the database read-only, so it works while a campaign writes to it.
Errors from the library (ReportError, StoreError, GenomeError: all ValueErrors) become
exit status 1 with one line.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

import click

from evo.cli import UserError, _open_store, _pick_campaign

log = logging.getLogger("evo")

CAMPAIGN_OPTION = click.option("--campaign", "campaign_name", help="Campaign name, when the file contains several.")


def _echo_table(table, fmt: str) -> None:
    if fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    elif table.empty:
        click.echo("(no rows)")
    else:
        click.echo(table.to_string(index=False))


def _task_shapes(config: dict) -> tuple[tuple[int, ...], int] | None:
    """Return the (input_shape, num_classes) of a campaign's task, or None when it cannot be resolved."""
    from fitness import task_shapes

    task = config.get("task")
    if not task:
        return None
    try:
        return task_shapes(task)
    except (ValueError, OSError) as error:
        log.warning("task %r cannot be resolved, so shapes are left out: %s", task, error)
        return None


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@CAMPAIGN_OPTION
@click.option("--objectives", help="Comma-separated objectives to show (default: the campaign's).")
@click.option("--generation", type=int, help="Front of this generation (default: the last).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def front(db, campaign_name, objectives, generation, fmt) -> None:
    """Print the Pareto front, with validation objectives and the separately stored test accuracy."""
    from reports.tables import front_table

    with _open_store(db) as store:
        campaign = _pick_campaign(store, campaign_name)
        try:
            table = front_table(store, campaign["id"], generation,
                                objectives.split(",") if objectives is not None else None)
        except (LookupError, ValueError) as error:
            raise UserError(str(error)) from None
    _echo_table(table, fmt)


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(), help="An .html file, or a folder for PNG/CSV files.")
@CAMPAIGN_OPTION
@click.option("--x", "x_objective", default="flops", show_default=True, help="Objective on the x axis of the fronts.")
@click.option("--y", "y_objective", default="accuracy", show_default=True, help="Objective on the y axis.")
def report(db, out, campaign_name, x_objective, y_objective) -> None:
    """Write a report: one self-contained HTML file, or PNG pictures and a CSV front in a folder."""
    from reports import write_report

    with _open_store(db) as store:
        campaign = _pick_campaign(store, campaign_name)
    try:
        paths = write_report(db, out, campaign=campaign["name"], x=x_objective, y=y_objective,
                             shapes=_task_shapes(campaign["config"]))
    except (LookupError, ValueError) as error:
        raise UserError(str(error)) from None
    for path in paths:
        click.echo(str(path))


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("individual_id", type=int)
@click.option("--depth", type=click.IntRange(min=1), help="Steps to follow (default: all).")
@click.option("--descendants", is_flag=True, help="Follow children instead of parents.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--out", type=click.Path(dir_okay=False), help="Also draw the family tree to this PNG or SVG file.")
def lineage(db, individual_id, depth, descendants, fmt, out) -> None:
    """Print the ancestors (or descendants) of an individual: one row per step.

    Each row is one parent-child link: the operator that made the child, the generation
    of the farther individual, change_<objective> (child minus parent) and the farther
    individual's own values.
    """
    from reports.errors import ReportError
    from reports.lineage import family_tree_figure, lineage_table
    from reports.plots import save_figure

    with _open_store(db) as store:
        try:
            table = lineage_table(store, individual_id, depth, descendants=descendants)
        except ReportError as error:
            raise UserError(str(error)) from None
        if out:
            if descendants:
                raise UserError("--out draws ancestors only. Leave out --descendants to draw the family tree.")
            figure = family_tree_figure(store, [individual_id], depth=depth,
                                        title=f"ancestors of individual {individual_id}")
            save_figure(figure, out)
    _echo_table(table, fmt)
    if out:
        click.echo(f"family tree written to {out}", err=True)


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@CAMPAIGN_OPTION
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Motifs and rules to print.")
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Test only motifs found in at least this many individuals.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def motifs(db, campaign_name, top, min_count, fmt) -> None:
    """Print recurring sub-graphs enriched in the last front, then the design rules.

    Motifs: connected sub-graphs of 2 to 5 nodes. support_front and support_all are the
    shares of front members and of all scored individuals containing the motif, lift
    their ratio. p_value is an exact one-sided permutation test, p_adjusted its Holm
    correction over all motifs tested. Rules: Spearman correlation of graph features with
    each objective, with 95% intervals.
    """
    import pandas as pd

    from reports.motifs import campaign_design_rules, campaign_motifs, load_campaign_genomes

    with _open_store(db) as store:
        campaign = _pick_campaign(store, campaign_name)
        mined = load_campaign_genomes(store, campaign["id"])
        motif_table = campaign_motifs(store, campaign["id"], mined=mined, min_count=min_count)
        rules = campaign_design_rules(store, campaign["id"], mined=mined)
    if fmt == "json":
        click.echo(json.dumps({
            "front_members": int(mined.in_front.sum()),
            "individuals": len(mined.genomes),
            "motifs": json.loads(motif_table.head(top).to_json(orient="records")),
            "rules": json.loads(rules.head(top).to_json(orient="records")),
        }, indent=2))
        return
    if fmt == "csv":
        _echo_table(motif_table.head(top), "csv")
        return
    sampled = f", sampled from {mined.sampled_from}" if mined.sampled else ""
    click.echo(f"motifs: {int(mined.in_front.sum())} front members against {len(mined.genomes)} "
               f"scored individuals{sampled}; {len(motif_table)} motifs tested, Holm-corrected")
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        _echo_table(motif_table.head(top), "table")
        click.echo("\ndesign rules (Spearman correlation, 95% interval):")
        _echo_table(rules.head(top), "table")


def _stored_weights(store, individual_id: int):
    """Return the trained weights stored for an individual as a state dict, or None when none are stored."""
    from fitness.inheritance import bytes_to_state
    from populations.weights import WeightsNotFoundError, load_weights

    try:
        return bytes_to_state(load_weights(store.db, individual_id))
    except WeightsNotFoundError:
        return None


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@CAMPAIGN_OPTION
@click.option("--by-generation", is_flag=True, help="One row per generation and operator instead of per operator.")
@click.option("--probabilities", is_flag=True,
              help="Print the stored operator probabilities per generation (adaptive selection).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def operators(db, campaign_name, by_generation, probabilities, fmt) -> None:
    """Print how each mutation and crossover paid off over the campaign.

    applications: children made; links: parent-child links (two per crossover child);
    dominated_parent: share of links whose child dominates that parent on the campaign's
    objectives; entered_front: share of children in any stored front; mean_change_<objective>:
    mean of child minus parent. --by-generation splits applications and dominance by
    generation; --probabilities prints what adaptive selection stored.
    """
    from reports.adaptive import operator_probabilities
    from reports.operators import operator_generations, operator_statistics

    with _open_store(db) as store:
        campaign = _pick_campaign(store, campaign_name)
        if probabilities:
            table = operator_probabilities(store, campaign["id"])
            if table.empty:
                raise UserError(f"campaign {campaign['name']!r} stored no operator probabilities: "
                                "they are kept only when adaptive operator selection is on")
        elif by_generation:
            table = operator_generations(store, campaign["id"])
        else:
            table = operator_statistics(store, campaign["id"])
    _echo_table(table, fmt)


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("individual_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["py", "torchscript", "onnx"]), default="py", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
def export(db, individual_id, fmt, out) -> None:
    """Export an individual's network: standalone PyTorch source, TorchScript or ONNX."""
    from genomes import Genome, GenomeError
    from populations import RecordNotFoundError
    from reports.export import ExportError, build_network, export_network

    with _open_store(db) as store:
        try:
            genome = Genome.from_json(json.dumps(store.genome(individual_id)))
        except RecordNotFoundError as error:
            raise UserError(str(error)) from None
        campaign_id = store.db.execute("SELECT campaign_id FROM individuals WHERE id = ?",
                                       [individual_id]).fetchone()[0]
        campaign = store.campaign(int(campaign_id))
        state = _stored_weights(store, individual_id)
    shapes = _task_shapes(campaign["config"])
    if shapes is None:
        raise UserError(f"the task of campaign {campaign['name']!r} cannot be resolved, so the network "
                        "cannot be sized. Make the task's data available and retry.")
    note = "trained weights stored in the database" if state is not None else (
        "freshly initialised (torch.manual_seed(0)); no trained weights are stored for this individual")
    try:
        network = build_network(genome, *shapes, state)
        path = export_network(network, fmt, out, weights_note=note,
                              title=f"Individual {individual_id} of campaign {campaign['name']!r}, exported by evonas.")
    except (GenomeError, ExportError) as error:
        raise UserError(str(error)) from None
    click.echo(f"{path}: {fmt}, weights {note}")


def _load_genome_argument(source: str):
    """Return (genome, campaign config or None, title) for GENOME.json or DB:ID."""
    from genomes import Genome, GenomeError

    path = Path(source)
    if path.suffix.lower() == ".json" and path.exists():
        try:
            return Genome.from_json(path.read_text(encoding="utf-8")), None, path.name
        except (GenomeError, ValueError) as error:
            raise UserError(f"{path} is not a valid genome: {error}") from None
    database, separator, identifier = source.rpartition(":")
    if not separator or not identifier.isdigit():
        raise UserError(f"{source!r} is neither a genome .json file nor DB:ID. Give e.g. runs/x.sqlite:42")
    with _open_store(database) as store:
        from populations import RecordNotFoundError

        try:
            genome = Genome.from_json(json.dumps(store.genome(int(identifier))))
        except RecordNotFoundError as error:
            raise UserError(str(error)) from None
        campaign_id = store.db.execute("SELECT campaign_id FROM individuals WHERE id = ?",
                                       [int(identifier)]).fetchone()[0]
        config = store.campaign(int(campaign_id))["config"]
    return genome, config, f"individual {identifier}"


@click.command("draw")
@click.argument("source")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="SVG file to write.")
@click.option("--task", help="Task whose shapes label the nodes (default: the campaign's task for DB:ID).")
def genome_draw(source, out, task) -> None:
    """Draw a genome (GENOME.json or DB:ID) as an SVG picture of its DAG with operations and shapes."""
    from fitness import task_shapes
    from genomes import GenomeError
    from reports.drawing import write_genome_svg

    genome, config, title = _load_genome_argument(source)
    shapes = None
    if task:
        try:
            shapes = task_shapes(task)
        except ValueError as error:
            raise UserError(str(error)) from None
    elif config is not None:
        shapes = _task_shapes(config)
    try:
        path = write_genome_svg(genome, out, *(shapes or (None, None)), title=title)
    except GenomeError as error:
        raise UserError(f"{title} cannot be drawn: {error}") from None
    click.echo(str(path))


def _genome_group(main: click.Group) -> click.Group:
    """Return the `genome` command group, creating it when no other module has."""
    existing = main.commands.get("genome")
    if isinstance(existing, click.Group):
        return existing
    try:
        module = importlib.import_module("evo.genome_commands")
        group = getattr(module, "genome", None)
        if isinstance(group, click.Group):
            main.add_command(group)
            return group
    except ImportError:
        pass

    @click.group("genome")
    def genome() -> None:
        """Inspect one genome."""

    main.add_command(genome)
    return genome


def register_report_commands(main: click.Group) -> None:
    """Add this module's commands to the `evo` group, and `draw` to its `genome` group."""
    for command in (front, report, lineage, motifs, operators, export):
        main.add_command(command)
    _genome_group(main).add_command(genome_draw)
