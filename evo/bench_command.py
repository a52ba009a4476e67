"""``evo bench``: search strategies side by side on tabular NAS benchmarks."""

from __future__ import annotations

import json

import click

from evo.bench import STRATEGIES, compare
from fitness.tabular import TabularError, load_macro, load_nb201


def _parse_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers, e.g. 100,200") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"{text!r} must list positive evaluation counts, e.g. 100,200")
    return counts


@click.command()
@click.argument("benchmark", type=click.Choice(["nb201", "macro"]))
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="The table: nb201_accuracies.csv or nas-bench-macro_cifar10.json.")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1),
              help="Independent runs (seeds) per strategy and budget.")
@click.option("--evaluations", default="100,200", show_default=True,
              help="Comma-separated numbers of fitness queries per run.")
@click.option("--strategies", default=",".join(STRATEGIES), show_default=True,
              help="Comma-separated strategies to compare.")
@click.option("--seed", default=10000, show_default=True, type=int, help="Seed of the first run.")
@click.option("--dataset", default="cifar10", show_default=True,
              type=click.Choice(["cifar10", "cifar100", "imagenet16"]), help="NAS-Bench-201 dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def bench(benchmark, data_path, runs, evaluations, strategies, seed, dataset, as_json) -> None:
    """Compare strategies on BENCHMARK: mean and std of the reported accuracy of the returned network.

    NAS-Bench-201 follows its own protocol: search on the 12-epoch validation accuracy and report
    the 200-epoch test accuracy. NAS-Bench-Macro searches on one training seed's test accuracy
    and reports the mean over three seeds.
    """
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
