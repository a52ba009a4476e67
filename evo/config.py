"""Campaign configuration: frozen dataclasses loaded from TOML, unknown keys rejected with a hint.

A campaign file has a top-level ``name`` and ``seed`` and the sections ``[task]`` (fitness.TaskSpec),
``[budget]`` (fitness.Budget), ``[search]``, ``[space]`` and ``[run]``. Presets are TOML files in
``evo/presets``. The resolved config (every default filled in) is stored with the campaign.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fitness import OBJECTIVES, Budget, TaskSpec, validate_objective_names
from genomes.ops import ACTIVATIONS as ACTIVATION_NAMES
from genomes.ops import OPERATIONS as OPERATION_NAMES
from genomes.zoo import SEEDS, is_module_spec
from evo.executors import EXECUTOR_PATTERN
from evo.selection import ConstraintError, validate_constraints
from evo.messages import toml_value
from operators import CROSSOVERS, GUIDED_OPERATORS, MUTATIONS, OPERATORS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESETS_DIR = Path(__file__).parent / "presets"

# Seeds that start with this prefix are fronts of stored campaigns (see evo.transfer).
TRANSFER_PREFIX = "db:"


# Worst value of each cost objective that still adds to the hypervolume: parameters, FLOPs per
# sample, milliseconds.
DEFAULT_HYPERVOLUME_REFERENCE = {"params": 1e6, "flops": 1e8, "latency": 100.0}


# Sanity limits: a population or generation count beyond these is a typo, not a campaign
# (every member is a trained network, kept in memory and in each generation's row).
MAX_POPULATION = 100_000
MAX_GENERATIONS = 10_000_000


class ConfigError(ValueError):
    """The campaign configuration is invalid; the message names the key and the fix."""


def _check_keys(data: Mapping[str, Any], cls: type, section: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{section}] must be a table of keys, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {key!r} in [{section}].{hint} Valid keys: {', '.join(names)}")


def _tuple_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}


ALGORITHMS = ("generational", "steady_state", "aging")


@dataclass(frozen=True)
class SearchConfig:
    """The evolutionary loop: NSGA-II with ``population`` survivors and ``offspring`` children.

    ``hypervolume_reference`` gives, per cost objective, the worst value that still counts; see
    ``evo.selection.normalise`` for the scaling.

    ``algorithm`` is one of ALGORITHMS. ``generational`` evaluates ``offspring`` children per
    generation and waits for all of them. ``steady_state`` and ``aging`` make a new child as soon
    as a slot is free, with ``concurrency`` children in flight; see ``evo.steady_state``.
    ``aging`` is regularized evolution: parents win a tournament of ``tournament_size`` random
    members, and the oldest member dies.
    """

    population: int = 16
    offspring: int | None = None
    generations: int = 8
    crossover_rate: float = 0.2
    operators: tuple[str, ...] = tuple(OPERATORS)
    seeds: tuple[str, ...] = ("mnist1d_cnn", "mnist1d_mlp", "small_cnn", "small_mlp", "linear")
    objectives: tuple[str, ...] = ("accuracy", "flops")
    hypervolume_reference: Mapping[str, float] = field(default_factory=dict)
    algorithm: str = "generational"
    concurrency: int = 4
    tournament_size: int = 4
    adaptive_operators: bool = False
    operator_floor: float = 0.02
    transfer_operators: bool = False
    transfer_motifs: bool = False
    motif_count: int = 5
    constraints: Mapping[str, float] = field(default_factory=dict)
    inherit_weights: bool = False
    # Off when empty; {rungs = R, eta = E} turns it on (see evo.halving).
    successive_halving: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_engine_settings()
        if self.algorithm not in ALGORITHMS:
            close = difflib.get_close_matches(str(self.algorithm), ALGORITHMS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"[search] algorithm = {toml_value(self.algorithm)} is invalid.{hint} Use one of {', '.join(ALGORITHMS)}")
        for name in ("concurrency", "tournament_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[search] {name} = {toml_value(value)} is invalid; use a positive integer")

        for name, low, high in (("population", 2, MAX_POPULATION), ("generations", 0, MAX_GENERATIONS),
                                ("offspring", 1, MAX_POPULATION)):
            value = getattr(self, name)
            if name == "offspring" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"[search] {name} = {toml_value(value)} is invalid; use an integer from {low} to {high:,}")
        if not 0.0 <= float(self.crossover_rate) <= 1.0:
            raise ConfigError(f"[search] crossover_rate = {toml_value(self.crossover_rate)} is invalid; use a value in [0, 1]")
        unknown = [name for name in self.operators if name not in OPERATORS and name not in GUIDED_OPERATORS]
        if unknown or not self.operators:
            known = ", ".join([*OPERATORS, *GUIDED_OPERATORS])
            raise ConfigError(f"[search] operators {unknown or '[]'} invalid; known: {known}")
        self._check_feedback_settings()
        for name in self.seeds:
            # FILE.py:CLASS seeds are imported when the campaign starts; one that fails is logged and skipped.
            if name.startswith(TRANSFER_PREFIX):
                from evo.transfer import parse_transfer_spec

                parse_transfer_spec(name)
                continue
            if name not in SEEDS and not is_module_spec(name):
                close = difflib.get_close_matches(name, list(SEEDS), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"[search] seeds: unknown seed {name!r}.{hint} Known: {', '.join(SEEDS)}")
        try:
            names = validate_objective_names(self.objectives)
        except ValueError as error:
            raise ConfigError(f"[search] objectives: {error}") from None
        if len(names) < 1:
            raise ConfigError("[search] objectives is empty; list at least one of " + ", ".join(OBJECTIVES))
        reference = {**DEFAULT_HYPERVOLUME_REFERENCE, **dict(self.hypervolume_reference)}
        for key, value in reference.items():
            if key not in OBJECTIVES or OBJECTIVES[key].maximize:
                raise ConfigError(f"[search] hypervolume_reference: {key!r} is not a cost objective")
            if not float(value) > 0:
                raise ConfigError(f"[search] hypervolume_reference.{key} = {toml_value(value)}; use a positive number")
        object.__setattr__(self, "hypervolume_reference", reference)
        from evo.halving import parse_settings

        object.__setattr__(self, "successive_halving", parse_settings(self.successive_halving, self.algorithm))

    def _check_engine_settings(self) -> None:
        """Validate constraints and inherit_weights, and store the constraint limits as floats."""
        if not isinstance(self.constraints, Mapping):
            raise ConfigError(
                f"[search] constraints = {toml_value(self.constraints)} is invalid; use a table of maxima, "
                f"for example {{ params = 50000, flops = 2e6 }}"
            )
        try:
            limits = validate_constraints(self.constraints)
        except ConstraintError as error:
            raise ConfigError(f"[search] constraints: {error}") from None
        if "latency" in limits and "latency" not in self.objectives:
            raise ConfigError(
                "[search] constraints: latency is limited but not measured; add \"latency\" to "
                "[search] objectives or remove the latency limit"
            )
        object.__setattr__(self, "constraints", limits)
        if not isinstance(self.inherit_weights, bool):
            raise ConfigError(f"[search] inherit_weights = {toml_value(self.inherit_weights)} is invalid; use true or false")

    def _check_feedback_settings(self) -> None:
        """Validate adaptive_operators, operator_floor, transfer_operators, transfer_motifs and motif_count."""
        for name in ("adaptive_operators", "transfer_operators", "transfer_motifs"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"[search] {name} = {toml_value(getattr(self, name))} is invalid; use true or false")
        if isinstance(self.motif_count, bool) or not isinstance(self.motif_count, int) or self.motif_count < 1:
            raise ConfigError(f"[search] motif_count = {toml_value(self.motif_count)} is invalid; use a positive integer")
        floor = self.operator_floor
        largest_group = max(sum(1 for name in self.operators if name in MUTATIONS or name in GUIDED_OPERATORS),
                            sum(1 for name in self.operators if name in CROSSOVERS))
        if (isinstance(floor, bool) or not isinstance(floor, (int, float)) or floor < 0
                or (largest_group > 1 and floor * largest_group >= 1)):
            limit = 1 / largest_group if largest_group > 1 else 1
            raise ConfigError(
                f"[search] operator_floor = {toml_value(floor)} is invalid; use a probability >= 0 and below "
                f"{limit:.4g} (1 divided by the {largest_group} operators of the largest group)"
            )
        if self.adaptive_operators and self.algorithm != "generational":
            raise ConfigError(
                f"[search] adaptive_operators = true needs algorithm = \"generational\", not {toml_value(self.algorithm)}; "
                f"the asynchronous loops have no generation boundary to update the probabilities at"
            )
        if "insert_motif" in self.operators and self.algorithm != "generational":
            raise ConfigError(
                f"[search] operators: insert_motif needs algorithm = \"generational\", not {toml_value(self.algorithm)}; "
                f"the asynchronous loops do not mine motifs for it"
            )
        if self.transfer_motifs and "insert_motif" not in self.operators:
            raise ConfigError("[search] transfer_motifs = true needs insert_motif in [search] operators; "
                              "add it, or set transfer_motifs = false")
        if self.transfer_motifs and not any(name.startswith(TRANSFER_PREFIX) for name in self.seeds):
            raise ConfigError("[search] transfer_motifs = true needs a db:PATH#front seed to take the motifs "
                              "from; add one to [search] seeds, or set transfer_motifs = false")

    @property
    def offspring_count(self) -> int:
        return self.offspring or self.population


@dataclass(frozen=True)
class SpaceConfig:
    """Search-space limits (``genomes.SearchSpace``); the task supplies the input shape and class count.

    The defaults allow every operation and activation, and 24 nodes, so every known architecture fits.
    """

    operations: tuple[str, ...] = tuple(OPERATION_NAMES)
    activations: tuple[str, ...] = tuple(ACTIVATION_NAMES)
    widths: tuple[int, int] = (4, 128)
    kernel_sizes: tuple[int, ...] = (1, 3, 5)
    strides: tuple[int, ...] = (1, 2)
    pool_sizes: tuple[int, ...] = (2, 3)
    dilations: tuple[int, ...] = (1, 2)
    groups: tuple[int, ...] = (1, 2, 4)
    attention_heads: tuple[int, ...] = (1, 2, 4)
    dropout_percents: tuple[int, ...] = (10, 25, 50)
    max_nodes: int = 24
    max_parameters: int | None = 1_000_000
    max_flops: int | None = None


EXECUTORS = ("serial", "process", "dask-local:N", "dask://HOST:PORT")


@dataclass(frozen=True)
class RunConfig:
    """Run settings: database path, executor and workers. ``db`` may use ``{name}`` for the campaign name.

    ``evaluation_timeout`` (seconds, None for no limit) stops a worker whose evaluation runs
    longer and records the evaluation as ``timeout``. ``retries`` is how often a job whose
    worker died runs again before it is recorded as ``failed``.
    """

    db: str = "runs/{name}.sqlite"
    executor: str | None = None
    workers: int = 1
    evaluation_timeout: float | None = None
    retries: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"[run] workers = {toml_value(self.workers)} is invalid; use a positive integer")
        if self.executor is not None and not EXECUTOR_PATTERN.fullmatch(str(self.executor)):
            raise ConfigError(f"[run] executor = {toml_value(self.executor)} is invalid; use one of {', '.join(EXECUTORS)}")
        timeout = self.evaluation_timeout
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
            raise ConfigError(f"[run] evaluation_timeout = {toml_value(timeout)} is invalid; use a positive number of seconds")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"[run] retries = {toml_value(self.retries)} is invalid; use an integer >= 0")

    @property
    def executor_name(self) -> str:
        return self.executor or ("process" if self.workers > 1 else "serial")


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    seed: int = 0
    task: TaskSpec = field(default_factory=lambda: TaskSpec("mnist1d"))
    budget: Budget = field(default_factory=Budget)
    search: SearchConfig = field(default_factory=SearchConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"name = {toml_value(self.name)} is invalid; give the campaign a non-empty name")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed = {toml_value(self.seed)} is invalid; use an integer in [0, 2**32)")
        if self.search.successive_halving:
            from evo.halving import check_budget

            check_budget(self.search.successive_halving, self.budget.steps)

    @property
    def db_path(self) -> Path:
        return Path(self.run.db.format(name=self.name))

    def replace(self, **sections: Any) -> CampaignConfig:
        """Return a copy with top-level fields or whole sections replaced."""
        return dataclasses.replace(self, **sections)

    def with_overrides(self, *, generations: int | None = None, population: int | None = None,
                       workers: int | None = None, executor: str | None = None,
                       seed: int | None = None, db: str | None = None) -> CampaignConfig:
        """Apply command-line overrides; None leaves a value as configured."""
        search, run, config = self.search, self.run, self
        if generations is not None:
            search = dataclasses.replace(search, generations=generations)
        if population is not None:
            search = dataclasses.replace(search, population=population)
        if workers is not None:
            run = dataclasses.replace(run, workers=workers)
        if executor is not None:
            run = dataclasses.replace(run, executor=executor)
        if db is not None:
            run = dataclasses.replace(run, db=db)
        if seed is not None:
            config = dataclasses.replace(config, seed=seed)
        return dataclasses.replace(config, search=search, run=run)

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "seed": self.seed, "task": self.task.to_dict(),
                "budget": self.budget.to_dict()}
        for section in ("search", "space", "run"):
            values = dataclasses.asdict(getattr(self, section))
            data[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignConfig:
        _check_keys(data, cls, "top level")
        if "name" not in data:
            raise ConfigError("the campaign needs a top-level name, for example: name = \"my-campaign\"")
        sections: dict[str, Any] = {"name": data["name"], "seed": data.get("seed", 0)}
        try:
            sections["task"] = TaskSpec.coerce(data.get("task", {"name": "mnist1d"}))
            sections["budget"] = Budget.coerce(data.get("budget", {}))
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for section, section_cls in (("search", SearchConfig), ("space", SpaceConfig), ("run", RunConfig)):
            values = data.get(section, {})
            _check_keys(values, section_cls, section)
            try:
                sections[section] = section_cls(**_tuple_fields(values))
            except TypeError as error:
                raise ConfigError(f"[{section}] {error}") from None
        return cls(**sections)


def load_config(path: str | Path) -> CampaignConfig:
    """Read a campaign TOML file; ConfigError names the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"campaign file {path} not found; pass a TOML file or use --preset") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"campaign file {path} is not valid TOML: {error}") from None
    try:
        return CampaignConfig.from_dict(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_preset(name: str) -> CampaignConfig:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.exists():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown preset {name!r}.{hint} Presets: {', '.join(preset_names())}")
    return load_config(path)
