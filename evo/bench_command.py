"""``evo bench``: search strategies side by side, on tabular NAS benchmarks and on MNIST-1D.

``evo bench nb201|macro`` compares strategies on a lookup table. ``evo bench mnist1d-strategies``,
``mnist1d-paper`` and ``feedback`` train networks on MNIST-1D (see evo.bench_mnist1d).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click

from evo import bench_mnist1d
from evo.bench import STRATEGIES, compare
from evo.config import ConfigError
from fitness.tabular import TabularError, load_macro, load_nb201


def _parse_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers, e.g. 100,200") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"{text!r} must list positive evaluation counts, e.g. 100,200")
    return counts


@click.group()
def bench() -> None:
    """Compare search strategies side by side; one subcommand per table."""


def tabular_options(function):
    """Options shared by the nb201 and macro subcommands."""
    options = [
        click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
                     help="The table: nb201_accuracies.csv or nas-bench-macro_cifar10.json."),
        click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1),
                     help="Independent runs (seeds) per strategy and budget."),
        click.option("--evaluations", default="100,200", show_default=True,
                     help="Comma-separated numbers of fitness queries per run."),
        click.option("--strategies", default=",".join(STRATEGIES), show_default=True,
                     help="Comma-separated strategies to compare."),
        click.option("--seed", default=10000, show_default=True, type=int, help="Seed of the first run."),
        click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@bench.command("nb201")
@tabular_options
@click.option("--dataset", default="cifar10", show_default=True,
              type=click.Choice(["cifar10", "cifar100", "imagenet16"]), help="NAS-Bench-201 dataset.")
def nb201(data_path, runs, evaluations, strategies, seed, dataset, as_json) -> None:
    """Compare strategies on NAS-Bench-201: search on the 12-epoch validation accuracy, report the
    200-epoch test accuracy of the returned cell (mean and std over runs)."""
    run_tabular("nb201", data_path, runs, evaluations, strategies, seed, dataset, as_json)


@bench.command("macro")
@tabular_options
def macro(data_path, runs, evaluations, strategies, seed, as_json) -> None:
    """Compare strategies on NAS-Bench-Macro: search on one training seed's test accuracy, report
    the mean over three seeds (mean and std over runs)."""
    run_tabular("macro", data_path, runs, evaluations, strategies, seed, "cifar10", as_json)


def run_tabular(benchmark, data_path, runs, evaluations, strategies, seed, dataset, as_json) -> None:
    """Run the strategies on a tabular benchmark and print one row per strategy and budget."""
    names = [name.strip() for name in strategies.split(",") if name.strip()]
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown:
        raise click.BadParameter(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}",
                                 param_hint="--strategies")
    try:
        space = load_nb201(data_path, dataset) if benchmark == "nb201" else load_macro(data_path)
    except TabularError as error:
        raise click.ClickException(str(error)) from None
    rows = compare(space, names, _parse_counts(evaluations), runs, seed)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{space.name}: best reported accuracy in the table {space.best_report():.2f}; "
               f"{runs} runs from seed {seed}")
    click.echo(f"{'strategy':<24}{'evaluations':>12}{'mean':>9}{'std':>7}")
    for row in rows:
        click.echo(f"{row['strategy']:<24}{row['evaluations']:>12}{row['mean']:>9.2f}{row['std']:>7.2f}")


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers, e.g. 0,1,2",
                                 param_hint="--seeds") from None
    if any(seed < 0 for seed in seeds):
        raise click.BadParameter(f"{text!r} lists a negative seed; seeds are integers >= 0, e.g. 0,1,2",
                                 param_hint="--seeds")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise click.BadParameter(f"{text!r} lists seed {repeated[0]} more than once; each seed is one row "
                                 "of the table", param_hint="--seeds")
    return seeds


def _check_out(out: Path | None) -> None:
    """Reject an --out file that cannot be written, before hours of benchmark run."""
    if out is None:
        return
    if str(out) in ("", ".") or out.is_dir():
        raise click.BadParameter(f"{str(out)!r} is not a file name; give a .csv or .md file", param_hint="--out")
    folder = out.parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} of {str(out)!r} does not exist; create it first",
                                 param_hint="--out")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {str(folder)!r} is not writable; choose another place", param_hint="--out")


def mnist1d_options(population: int, generations: int, steps: int | None):
    """Options shared by the MNIST-1D subcommands, with each subcommand's default scale."""
    def decorate(function):
        options = [
            click.option("--seeds", default="0,1,2", show_default=True,
                         help="Comma-separated campaign seeds, one table row each."),
            click.option("--population", default=population, show_default=True, type=click.IntRange(min=2),
                         help="Population size of every campaign (and Optuna's NSGA-II)."),
            click.option("--generations", default=generations, show_default=True, type=click.IntRange(min=0),
                         help="Generations after generation 0; evaluations = population x (generations + 1)."),
            click.option("--steps", default=steps, type=click.IntRange(min=1), show_default=True,
                         help="Training steps per evaluation (default: the preset's)."),
            click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
                         help="Evaluation processes."),
            click.option("--preset", default="mnist1d", show_default=True,
                         help="Preset whose task, training budget and search space every method uses."),
            click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help="Also write the table to this file: CSV for a .csv name, markdown otherwise."),
            click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON instead of a table."),
        ]
        for option in reversed(options):
            function = option(function)
        return function
    return decorate


def run_mnist1d(measure, seeds: str, population: int, generations: int, steps: int | None, workers: int,
                preset: str, out: Path | None, as_json: bool, **options) -> None:
    """Run one MNIST-1D benchmark, print its table and write it to ``out``."""
    _check_out(out)
    scale = bench_mnist1d.Scale(preset, population, generations, steps, workers)
    logging.getLogger("evo.campaign").setLevel(logging.WARNING)
    try:
        rows = measure(_parse_seeds(seeds), scale, **options)
    except (bench_mnist1d.BenchError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    if out is not None:
        bench_mnist1d.write_table(rows, out)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{preset} preset, population {population}, {generations} generations after generation 0 "
               f"({scale.evaluations} evaluations), training steps {steps or 'of the preset'}")
    click.echo(bench_mnist1d.markdown_table(rows))


ENGINE_OPTION = click.option(
    "--engine", "engine", type=click.Choice(list(bench_mnist1d.ENGINE_VARIANTS)), default="preset",
    show_default=True, help="Engine settings: the preset as it is, with adaptive operator selection, or with "
         "adaptive selection and insert_motif.")


@bench.command("mnist1d-strategies")
@mnist1d_options(population=16, generations=8, steps=None)
@ENGINE_OPTION
@click.option("--strategies", default=",".join(bench_mnist1d.STRATEGIES), show_default=True,
              help="Comma-separated strategies: engine, random, optuna (needs the bench extra).")
def mnist1d_strategies(strategies, engine, **options) -> None:
    """Compare the engine, random search and Optuna's NSGA-II by hypervolume of accuracy against FLOPs.

    Each strategy gets the same number of evaluations, training budget and space limits. Columns
    engine/random and engine/optuna are the ratios of hypervolumes (targets: 1.15 and 1.05).
    """
    names = tuple(name.strip() for name in strategies.split(",") if name.strip())
    run_mnist1d(bench_mnist1d.compare_strategies, strategies=names,
                engine_search=bench_mnist1d.ENGINE_VARIANTS[engine], **options)


@bench.command("mnist1d-paper")
@mnist1d_options(population=16, generations=8, steps=None)
@ENGINE_OPTION
@click.option("--max-params", default=bench_mnist1d.PAPER_TARGET_PARAMS, show_default=True,
              type=click.IntRange(min=1), help="Largest parameter count of the engine's network.")
def mnist1d_paper(max_params, engine, **options) -> None:
    """Compare the engine's best network of at most --max-params parameters with the MNIST-1D paper's CNN.

    The best network has the highest validation accuracy among those the campaign evaluated.
    Both networks' test accuracies are reported. Target: at least 0.94 at 1,300 parameters.
    """
    run_mnist1d(bench_mnist1d.compare_with_paper, max_params=max_params,
                engine_search=bench_mnist1d.ENGINE_VARIANTS[engine], **options)


@bench.command("feedback")
@mnist1d_options(population=8, generations=5, steps=400)
@click.option("--transfer-motifs/--no-transfer-motifs", default=True, show_default=True,
              help="Also carry the donor's mined motifs to the warm campaign's insert_motif.")
def feedback(transfer_motifs, **options) -> None:
    """Compare transfer plus adaptive operators with a cold start by last-generation hypervolume.

    The warm/cold column is the ratio (target: at least 1.10 on every seed).
    """
    run_mnist1d(bench_mnist1d.feedback_loop, transfer_motifs=transfer_motifs, **options)
