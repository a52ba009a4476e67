"""The population database: one SQLite file per search, written by the engine, read by anyone.

API (every method is documented on Store)::

    from populations import Store

    Store(path, *, readonly=False, timeout=30.0)    # also a context manager; close()
    store.path, store.readonly, store.db            # store.db: the sqlite-utils Database
    store.snapshot()                                # context manager: reads on one snapshot

    # campaigns
    store.create_campaign(name, config: dict, seed: int) -> int
    store.campaign(name_or_id) -> dict | None       # config decoded
    store.campaigns() -> list[dict]
    store.set_campaign_status(campaign_id, status)  # running | finished | stopped

    # objectives: one REAL column of `evaluations` each
    store.objective_names() -> list[str]
    store.objectives() -> dict[str, Objective]      # Objective(name, direction, unit)
    store.declare_objective(name, direction, unit=None)   # direction: maximize | minimize

    # writing, one transaction per generation
    store.next_individual_id() -> int
    store.commit_generation(campaign_id, number, *, individuals, lineage, evaluations,
                            members, front, hypervolume, state) -> None

    # reading
    store.last_generation(campaign_id) -> dict | None      # members, front, state decoded
    store.generations(campaign_id) -> DataFrame
    store.individuals(campaign_id=None) -> DataFrame
    store.genome(individual_id) -> dict
    store.lineage(campaign_id=None) -> DataFrame
    store.ancestors(individual_id, depth=None) -> DataFrame
    store.descendants(individual_id, depth=None) -> DataFrame
    store.evaluations(campaign_id=None, *, latest=False) -> DataFrame
    store.front(campaign_id, generation=None) -> DataFrame
    store.evaluation_for_hash(genome_hash, task_key) -> dict | None
    store.summary(campaign_id) -> dict

Records for commit_generation:

- individual: ``{"id", "genome" (dict or JSON text), "genome_hash", "generation", "origin"}``
- lineage link: ``{"child_id", "parent_id", "operator"}``
- evaluation: ``{"individual_id", "status", "objectives": {name: float | None},
  "metrics": dict, "error": str | None, "seconds": float | None, "task_key": str | None}``

Tables: meta, campaigns, individuals, lineage, evaluations, generations, objectives.
Views: latest_evaluation has one row per evaluated individual, and each of its objective
columns contains the latest value measured by an `ok` or `cached` evaluation. current_front
lists the front of each campaign's last committed generation, with latest_evaluation values.

Errors derive from StoreError (a ValueError): StoreNotFoundError, ForeignDatabaseError,
DamagedStoreError, DatabaseLockedError, SchemaVersionError and RecordNotFoundError (also a
LookupError).
"""

from .errors import (
    DamagedStoreError,
    DatabaseLockedError,
    ForeignDatabaseError,
    RecordNotFoundError,
    SchemaVersionError,
    StoreError,
    StoreNotFoundError,
)
from .records import Objective
from .schema import CAMPAIGN_STATUSES, EVALUATION_STATUSES, SCHEMA_VERSION, SCORED_STATUSES
from .store import Store

__all__ = [
    "CAMPAIGN_STATUSES",
    "EVALUATION_STATUSES",
    "SCHEMA_VERSION",
    "SCORED_STATUSES",
    "DamagedStoreError",
    "DatabaseLockedError",
    "ForeignDatabaseError",
    "Objective",
    "RecordNotFoundError",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "StoreNotFoundError",
]
