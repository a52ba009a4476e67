"""Transfer between campaigns: seeds from the front of a stored campaign, operator priors.

A seed ``db:PATH#front`` stands for every member of the front of the last committed
generation of the only campaign in the population database PATH; ``db:PATH#CAMPAIGN#front``
names the campaign when the file has several. PATH is relative to the working directory.
Each front member becomes one seed, labelled ``db:PATH#CAMPAIGN#front@ID`` in the lineage.
A member that does not fit the new search space is logged and skipped by the engine, like
any other seed.

With ``[search] transfer_operators = true`` the operator probabilities and quality estimates
stored with that last generation (by a campaign that ran with ``adaptive_operators``) are the
starting point of the new campaign's adaptive operator selection.

With ``[search] transfer_motifs = true`` the motifs mined from the source campaign (its last
front against all its scored individuals, as ``evo motifs`` ranks them) are handed to the
``insert_motif`` operator from generation 0 on, before the new campaign has a front of its own.
They are stored with every generation of the new campaign, so a resume uses the same motifs
even if the source file has changed since. NOTE: a campaign stopped before its generation 0 was
committed mines the source again when it restarts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from evo.config import TRANSFER_PREFIX, ConfigError
from genomes import Genome, GenomeError
from populations import Store, StoreError, StoreNotFoundError

log = logging.getLogger(__name__)

FRONT_SUFFIX = "front"


class TransferError(ConfigError):
    """A transfer seed names a file, campaign or generation that cannot be used."""


@dataclass(frozen=True)
class TransferSource:
    """A parsed ``db:`` seed: the database path and the campaign name (None: the only one)."""

    spec: str
    path: Path
    campaign: str | None


def parse_transfer_spec(spec: str) -> TransferSource:
    """Parse ``db:PATH#front`` or ``db:PATH#CAMPAIGN#front``. TransferError names both valid forms."""
    usage = "use db:PATH#front or db:PATH#CAMPAIGN#front"
    if not spec.startswith(TRANSFER_PREFIX):
        raise TransferError(f"seed {spec!r} is not a transfer seed; {usage}")
    parts = spec[len(TRANSFER_PREFIX):].split("#")
    if len(parts) not in (2, 3) or parts[-1] != FRONT_SUFFIX or not parts[0]:
        raise TransferError(f"[search] seeds: {spec!r} is invalid; {usage}")
    campaign = parts[1] if len(parts) == 3 else None
    if campaign is not None and not campaign:
        raise TransferError(f"[search] seeds: {spec!r} has an empty campaign name; {usage}")
    return TransferSource(spec, Path(parts[0]), campaign)


def _open_source(source: TransferSource) -> Store:
    try:
        return Store(source.path, readonly=True)
    except StoreNotFoundError:
        raise TransferError(f"seed {source.spec!r}: database {source.path} not found; "
                            f"check the path (relative to {Path.cwd()})") from None
    except StoreError as error:
        raise TransferError(f"seed {source.spec!r}: {source.path} cannot be used as a population "
                            f"database: {error}") from None


def _source_campaign(store: Store, source: TransferSource) -> dict[str, Any]:
    campaigns = store.campaigns()
    names = ", ".join(repr(row["name"]) for row in campaigns) or "none"
    if source.campaign is not None:
        found = store.campaign(source.campaign)
        if found is None:
            raise TransferError(f"seed {source.spec!r}: campaign {source.campaign!r} not found in "
                                f"{source.path}; campaigns there: {names}")
        return found
    if not campaigns:
        raise TransferError(f"seed {source.spec!r}: {source.path} contains no campaign; "
                            f"run one there first or name another database")
    if len(campaigns) > 1:
        raise TransferError(f"seed {source.spec!r}: {source.path} contains several campaigns ({names}); "
                            f"name one with db:PATH#CAMPAIGN#front")
    return campaigns[0]


def _last_generation(store: Store, source: TransferSource, campaign: dict[str, Any]) -> dict[str, Any]:
    last = store.last_generation(campaign["id"])
    if last is None:
        raise TransferError(f"seed {source.spec!r}: campaign {campaign['name']!r} in {source.path} has no "
                            f"committed generation yet, so it has no front")
    return last


def front_genomes(spec: str) -> list[tuple[str, Genome]]:
    """Return (seed label, genome) for each front member of the source's last generation."""
    source = parse_transfer_spec(spec)
    with _open_source(source) as store:
        campaign = _source_campaign(store, source)
        last = _last_generation(store, source, campaign)
        seeds = []
        for individual_id in last["front"]:
            label = f"{TRANSFER_PREFIX}{source.path}#{campaign['name']}#{FRONT_SUFFIX}@{individual_id}"
            stored = store.genome(int(individual_id))
            try:
                genome = Genome.from_dict(stored if isinstance(stored, dict) else json.loads(stored))
            except GenomeError as error:
                log.warning("seed %r left out: the stored genome is invalid (%s)", label, error)
                continue
            seeds.append((label, genome))
    log.info("seed %r: %d front members of campaign %r, generation %d", spec, len(seeds), campaign["name"],
             last["number"])
    return seeds


def expand_seeds(names: Sequence[str]) -> Iterator[tuple[str, Genome | None]]:
    """Yield (name, None) for zoo and module seeds, and (label, genome) for each transferred front member."""
    for name in names:
        if name.startswith(TRANSFER_PREFIX):
            yield from front_genomes(name)
        else:
            yield name, None


def operator_priors(names: Sequence[str]) -> dict[str, Any] | None:
    """Return the adaptive operator state stored with the last generation of the first ``db:`` seed.

    Returns None (and logs why) when no seed is a ``db:`` seed or the source campaign ran
    without adaptive operators; the new campaign then starts from uniform probabilities.
    """
    specs = [name for name in names if name.startswith(TRANSFER_PREFIX)]
    if not specs:
        log.warning("transfer_operators = true but no seed is a db: seed; operator probabilities start uniform")
        return None
    source = parse_transfer_spec(specs[0])
    with _open_source(source) as store:
        campaign = _source_campaign(store, source)
        state = _last_generation(store, source, campaign)["state"].get("adaptive_operators")
    if not state:
        log.warning("campaign %r in %s stored no operator probabilities (adaptive_operators was off); "
                    "operator probabilities start uniform", campaign["name"], source.path)
        return None
    return state.get("next")


def front_motifs(genomes: Sequence[Genome], in_front: Sequence[bool], count: int) -> list[str]:
    """Return up to ``count`` motifs that front members contain, best ranked first, in text form.

    The ranking is that of ``reports.motifs.mine_motifs``. When no motif of two or more nodes
    occurs in the front (for example, every front member has one live node), the front
    members' single node labels serve as one-node motifs.
    """
    from reports.motifs import mine_motifs, node_label

    table = mine_motifs(list(genomes), list(in_front), min_count=1)
    motifs = list(table[table["front_count"] > 0].head(count)["motif"])
    if motifs:
        return motifs
    labels = {node_label(genome, node_id) for genome, member in zip(genomes, in_front) if member
              for node_id in genome.live_ids()}
    return [f"A={label}" for label in sorted(labels)][:count]


def motif_priors(names: Sequence[str], count: int) -> list[str]:
    """Return up to ``count`` motifs mined from the campaign of the first ``db:`` seed.

    Raises TransferError when no seed is a ``db:`` seed or the source has no scored front member.
    """
    from reports.motifs import load_campaign_genomes

    specs = [name for name in names if name.startswith(TRANSFER_PREFIX)]
    if not specs:
        raise TransferError("[search] transfer_motifs = true needs a db:PATH#front seed; add one to [search] seeds")
    source = parse_transfer_spec(specs[0])
    with _open_source(source) as store:
        campaign = _source_campaign(store, source)
        _last_generation(store, source, campaign)
        mined = load_campaign_genomes(store, campaign["id"])
    if not mined.in_front.any():
        raise TransferError(f"seed {source.spec!r}: campaign {campaign['name']!r} in {source.path} has no scored "
                            f"front member to mine motifs from; set transfer_motifs = false")
    motifs = front_motifs(mined.genomes, mined.in_front, count)
    log.info("transfer_motifs: %d motifs from campaign %r in %s: %s", len(motifs), campaign["name"],
             source.path, motifs)
    return motifs


def merge_motifs(own: Sequence[str], priors: Sequence[str]) -> list[str]:
    """Return the campaign's own motifs followed by the transferred ones it has not mined itself."""
    return [*own, *(motif for motif in priors if motif not in own)]
