"""The ``evo`` command line: a thin layer over the library.

Exit status: 0 on success, 1 on a user error (one line naming the bad value and the fix),
2 on a usage error (click's own).
"""

from __future__ import annotations

import logging
import signal
import sys

import click

from evo.config import CampaignConfig, ConfigError, load_config, load_preset, preset_names
from evo.messages import resume_command

log = logging.getLogger("evo")


class UserError(click.ClickException):
    exit_code = 1


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.INFO
    if quiet:
        level = logging.WARNING
    elif verbose:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not verbose:
        # One line per evaluation drowns the per-generation summary; -v brings them back.
        logging.getLogger("fitness").setLevel(max(level, logging.WARNING))


def _open_store(db: str, readonly: bool = True):
    from populations import Store, StoreError

    try:
        return Store(db, readonly=readonly)
    except (StoreError, OSError) as error:
        raise UserError(str(error)) from None


def _pick_campaign(store, name: str | None) -> dict:
    campaigns = store.campaigns()
    if not campaigns:
        raise UserError(f"{store.path} contains no campaign yet; start one with `evo run`")
    if name is None:
        if len(campaigns) > 1:
            names = ", ".join(c["name"] for c in campaigns)
            raise UserError(f"{store.path} contains several campaigns ({names}); choose one with --campaign")
        return campaigns[0]
    campaign = store.campaign(name)
    if campaign is None:
        names = ", ".join(c["name"] for c in campaigns)
        raise UserError(f"campaign {name!r} not found in {store.path}; campaigns: {names}")
    return campaign


class _Commands(click.Group):
    """The `evo` group: a file that SQLite finds damaged during a read gives one error line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:  # sqlite3's or pandas' DatabaseError, from any command
            text = str(error)
            if type(error).__name__ != "DatabaseError" or not any(sign in text for sign in DAMAGE_SIGNS):
                raise
            message = text.rsplit(": ", 1)[-1]
            raise UserError(
                f"the population database is damaged: SQLite reports {message!r}. Restore it from a "
                "backup, or save what it can with `sqlite3 DB .recover | sqlite3 recovered.sqlite`."
            ) from None


# Words of SQLite's messages about a damaged file, as in "database disk image is malformed".
DAMAGE_SIGNS = ("malformed", "file is not a database")


@click.group(cls=_Commands)
@click.option("-v", "--verbose", count=True, help="Log debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only; no progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Evolve neural-network architectures and inspect the population database."""
    _setup_logging(verbose, quiet)
    ctx.obj = {"quiet": quiet, "verbose": verbose}


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--preset", help=f"Built-in campaign: {', '.join(preset_names())}.")
@click.option("--db", help="Population database file (default: the config's run.db).")
@click.option("--generations", type=int, help="Number of generations after the initial one.")
@click.option("--population", type=int, help="Population size kept by NSGA-II.")
@click.option("--workers", type=int, help="Evaluation worker processes.")
@click.option("--executor", help="Where evaluations run: serial, process, dask-local:N or dask://HOST:PORT.")
@click.option("--seed", type=int, help="Campaign seed.")
@click.pass_context
def run(ctx, config_file, preset, db, generations, population, workers, executor, seed) -> None:
    """Start a campaign, or continue it when the database already contains one of the same name."""
    if bool(config_file) == bool(preset):
        raise click.UsageError("give either a CONFIG_FILE or --preset NAME")
    try:
        config = load_config(config_file) if config_file else load_preset(preset)
        config = config.with_overrides(generations=generations, population=population, workers=workers,
                                       executor=executor, seed=seed, db=db)
    except ConfigError as error:
        raise UserError(str(error)) from None
    _run_campaign(config, ctx.obj["quiet"], ctx.obj["verbose"])


@main.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--campaign", "campaign_name", help="Campaign name, when the file contains several.")
@click.option("--generations", type=int,
              help="Run to this generation number (default: the largest target stored, which an "
                   "earlier --generations may have raised).")
@click.option("--workers", type=int, help="Evaluation worker processes.")
@click.option("--executor", help="Where evaluations run: serial, process, dask-local:N or dask://HOST:PORT.")
@click.pass_context
def resume(ctx, db, campaign_name, generations, workers, executor) -> None:
    """Continue the campaign stored in DB with its stored config."""
    with _open_store(db) as store:
        campaign = _pick_campaign(store, campaign_name)
        last = store.last_generation(campaign["id"])
    try:
        config = CampaignConfig.from_dict(campaign["config"])
    except ConfigError as error:
        raise UserError(f"the config stored in {db} is invalid: {error}") from None
    # An earlier `resume --generations` may have raised the target above the stored config's,
    # and every commit stores the target it ran to.
    target = config.search.generations
    if last is not None:
        target = max(target, int(last["state"].get("target_generations", target)))
    if generations is None:
        generations = target
    elif last is not None and generations < last["number"]:
        raise UserError(f"--generations {generations} is below generation {last['number']}, the last one "
                        f"committed in {db}; give {last['number']} or more, or leave --generations out to "
                        f"continue to generation {target}")
    try:
        config = config.with_overrides(generations=generations, workers=workers, executor=executor, db=db)
    except ConfigError as error:
        raise UserError(f"invalid command-line option: {error}") from None
    _run_campaign(config, ctx.obj["quiet"], ctx.obj["verbose"])


def _run_campaign(config: CampaignConfig, quiet: bool, verbose: int = 0) -> None:
    from evo.campaign import Campaign
    from evo.executors import ExecutorError
    from evo.run_lock import CampaignRunningError
    from populations import Store, StoreError

    path = config.db_path
    if not verbose and config.run.executor_name.startswith("dask"):
        # Dask logs each client, worker and comm it opens or closes at INFO, and sets its
        # loggers' levels from its config when first imported; -v brings these messages back.
        import dask

        dask.config.set({"logging.distributed": "warning"})
    log.info("campaign %r: task %s, %d generations of %d, executor %s, database %s", config.name,
             config.task.name, config.search.generations, config.search.population,
             config.run.executor_name, path)
    from fitness import BudgetError, TaskError
    from genomes import GenomeError

    # SIGTERM (a scheduler or `kill`) stops the campaign like Ctrl-C does.
    _received_signal[0] = signal.SIGINT
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with Store(path) as store:
            summary = Campaign(config, store, progress=not quiet).run()
            several = len(store.campaigns()) > 1
    except ExecutorError as error:
        hint = f" with: {resume_command(path, config.name)}" if error.resumable else ""
        raise UserError(f"{error}{hint}") from None
    except (ConfigError, StoreError, TaskError, BudgetError, GenomeError, CampaignRunningError) as error:
        raise UserError(str(error)) from None
    except KeyboardInterrupt:
        _mark_stopped(path, config.name)
        click.echo(f"\ninterrupted; the last committed generation is kept. Continue with: "
                   f"{resume_command(path, config.name)}", err=True)
        # The shell's convention, 128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM.
        sys.exit(128 + _received_signal[0])
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    choose = f" --campaign {config.name}" if several else ""
    click.echo(f"campaign {summary['name']!r} finished at generation {summary['generation']}: "
               f"{summary['individuals']} individuals in {path}")
    click.echo(f"see the front with: evo front {path}{choose}")


# The signal that stopped the running campaign; Ctrl-C arrives as KeyboardInterrupt alone.
_received_signal = [signal.SIGINT]


def _raise_keyboard_interrupt(signum, frame) -> None:
    _received_signal[0] = signum
    raise KeyboardInterrupt


def _mark_stopped(path, name: str) -> None:
    """Record that the campaign stopped, so readers can tell it from a running one.

    Campaign.run marks it itself while it holds the run lock. This covers an interruption
    that its marking missed, and takes the lock first: once the engine released it, another
    engine may have resumed the campaign, which must then stay ``running``.
    """
    from evo.campaign import mark_stopped
    from evo.run_lock import CampaignRunningError, RunLock
    from populations import Store, StoreError

    try:
        with RunLock(path, name), Store(path) as store:
            mark_stopped(store, name)
    except CampaignRunningError:
        log.debug("campaign %r in %s is run by another engine now; its status is left as it is", name, path)
    except (StoreError, OSError) as error:
        log.warning("could not mark campaign %r as stopped in %s: %s", name, path, error)


from evo.bench_command import bench  # noqa: E402  (commands defined in other modules)

main.add_command(bench)

from evo.report_commands import register_report_commands  # noqa: E402

register_report_commands(main)

from evo.evaluate_command import evaluate_command  # noqa: E402

main.add_command(evaluate_command)

from evo.genome_commands import genome, seeds  # noqa: E402

main.add_command(genome)
main.add_command(seeds)

from evo.status_command import status  # noqa: E402

main.add_command(status)


if __name__ == "__main__":
    main()
