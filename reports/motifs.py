"""Motif mining and design rules: which sub-graphs and which shapes of network recur in the winners.

A motif is a connected sub-graph of 2 to 5 live nodes of a genome (edges between input
node 0 and the nodes are left out). It is the induced sub-graph: every edge of the genome
between its nodes belongs to it. Each node is labelled ``operation/activation``, plus
``/add`` or ``/concat`` when the node has two or more inputs in the genome, because a merge
of one input does nothing. Two motifs are the same when a relabelling of their nodes
maps one onto the other, which the canonical form below decides exactly.

Statistics, for the individuals of a campaign with a scored latest evaluation:

- support_front: share of the front members that contain the motif; support_all: share of
  all scored individuals that contain it; lift: support_front / support_all.
- p_value: one-sided exact permutation test of enrichment in the front. Under random
  relabelling of which individuals are front members, the number of front members with the
  motif follows the hypergeometric distribution, so the p-value is its upper tail (the
  exact value of an infinitely long permutation test).
- p_adjusted: Holm's step-down correction for the number of motifs tested, which controls
  the family-wise error rate. Motifs seen in fewer than `min_count` individuals are not tested.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from genomes import INPUT, Genome, GenomeError
from populations import Store
from populations.queries import scored_genomes

from .errors import ReportError
from .operators import campaign_objectives

logger = logging.getLogger(__name__)

MIN_NODES = 2
MAX_NODES = 5
NODE_NAMES = "ABCDE"

# Mining every genome of a very large campaign costs minutes, so past this many scored
# individuals the miner uses every front member plus a fixed-seed random sample of the rest.
DEFAULT_SAMPLE_LIMIT = 5000


@dataclass(frozen=True)
class Motif:
    """A canonical motif: node labels in canonical order and edges as (source, target) positions."""

    labels: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]

    def describe(self) -> str:
        """Return a readable form, for example ``A=conv/relu B=maxpool/identity; A->B``."""
        nodes = " ".join(f"{NODE_NAMES[i]}={label}" for i, label in enumerate(self.labels))
        links = ", ".join(f"{NODE_NAMES[a]}->{NODE_NAMES[b]}" for a, b in self.edges)
        return f"{nodes}; {links}"


def node_label(genome: Genome, node_id: int) -> str:
    """Label a node by operation and activation, and by merge when it has several inputs."""
    node = genome.node(node_id)
    label = f"{node.op}/{node.activation}"
    return f"{label}/{node.merge}" if len(node.inputs) > 1 else label


def canonical_motif(labels: Sequence[str], edges: Iterable[tuple[int, int]]) -> Motif:
    """Return the canonical form of a small labelled directed graph (see _canonical_motif)."""
    return _canonical_motif(tuple(labels), tuple(sorted(edges)))


# The same few label patterns recur across a population, so remembering them saves most of the work.
@functools.lru_cache(maxsize=262144)
def _canonical_motif(labels: tuple[str, ...], edges: tuple[tuple[int, int], ...]) -> Motif:
    """Return the canonical form of a small labelled directed graph.

    Nodes are sorted by label, and among the orders that keep that sort (permutations
    inside each group of equal labels) the one with the smallest sorted edge list wins.
    Two graphs get the same form exactly when they are isomorphic with labels kept.
    """
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    sorted_labels = tuple(labels[i] for i in order)
    groups = [list(group) for _, group in itertools.groupby(order, key=lambda i: labels[i])]
    edge_list = list(edges)
    best: tuple[tuple[int, int], ...] | None = None
    for arrangement in itertools.product(*(itertools.permutations(group) for group in groups)):
        position = {node: index for index, node in enumerate(itertools.chain.from_iterable(arrangement))}
        candidate = tuple(sorted((position[a], position[b]) for a, b in edge_list))
        if best is None or candidate < best:
            best = candidate
    return Motif(sorted_labels, best or ())


def genome_motifs(genome: Genome, min_nodes: int = MIN_NODES, max_nodes: int = MAX_NODES) -> set[Motif]:
    """Return the distinct motifs of a genome's live nodes, from min_nodes to max_nodes nodes."""
    live = genome.pruned()
    edges = [(source, target) for source, target in live.edges() if source != INPUT]
    neighbours: dict[int, set[int]] = {node_id: set() for node_id in live.ids}
    for source, target in edges:
        neighbours[source].add(target)
        neighbours[target].add(source)
    labels = {node_id: node_label(live, node_id) for node_id in live.ids}

    found: set[Motif] = set()
    level = {frozenset([node_id]) for node_id in live.ids}
    for size in range(2, max_nodes + 1):
        # Every connected set of `size` nodes is a connected set of size - 1 plus a neighbour.
        level = {
            subset | {extra}
            for subset in level
            for extra in set().union(*(neighbours[node_id] for node_id in subset)) - subset
        }
        if size < min_nodes:
            continue
        for subset in level:
            members = sorted(subset)
            index = {node_id: i for i, node_id in enumerate(members)}
            inside = [(index[a], index[b]) for a, b in edges if a in subset and b in subset]
            found.add(canonical_motif([labels[node_id] for node_id in members], inside))
    return found


@functools.lru_cache(maxsize=65536)
def cached_motifs(genome: Genome) -> frozenset[Motif]:
    """Return genome_motifs() with default sizes, remembered per genome value."""
    return frozenset(genome_motifs(genome))


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Return Holm's step-down adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    count = len(p)
    if count == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (count - np.arange(count)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(count)
    adjusted[order] = adjusted_sorted
    return adjusted


MOTIF_COLUMNS = [
    "rank", "motif", "nodes", "front_count", "total_count", "support_front", "support_all", "lift",
    "p_value", "p_adjusted",
]


def mine_motifs(
    genomes: Sequence[Genome], in_front: Sequence[bool], *, min_count: int = 2,
    min_nodes: int = MIN_NODES, max_nodes: int = MAX_NODES,
) -> pd.DataFrame:
    """Rank the motifs of a set of genomes by enrichment among the front members.

    `in_front[i]` marks genome i as a front member. Returns one row per tested motif (seen
    in at least `min_count` genomes), best first: by adjusted p-value, then p-value, then
    lift. Columns are MOTIF_COLUMNS; `motif` is the readable form from Motif.describe().
    """
    if len(genomes) != len(in_front):
        raise ReportError(f"got {len(genomes)} genomes but {len(in_front)} front flags; give one flag per genome")
    front_mask = np.asarray(in_front, dtype=bool)
    motif_index: dict[Motif, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    default_sizes = (min_nodes, max_nodes) == (MIN_NODES, MAX_NODES)
    for row, genome in enumerate(genomes):
        motifs = cached_motifs(genome) if default_sizes else genome_motifs(genome, min_nodes, max_nodes)
        for motif in motifs:
            rows.append(row)
            columns.append(motif_index.setdefault(motif, len(motif_index)))
    motifs_in_order = list(motif_index)

    total_count = np.bincount(columns, minlength=len(motifs_in_order))
    front_rows = front_mask[np.asarray(rows, dtype=int)] if rows else np.zeros(0, dtype=bool)
    front_count = np.bincount(np.asarray(columns, dtype=int)[front_rows], minlength=len(motifs_in_order))
    tested = np.flatnonzero(total_count >= min_count)
    if len(tested) == 0 or not front_mask.any():
        return pd.DataFrame(columns=MOTIF_COLUMNS)

    population, front_size = len(genomes), int(front_mask.sum())
    k, big_k = front_count[tested], total_count[tested]
    # P(X >= k) for X ~ Hypergeometric(population, big_k successes, front_size draws).
    p_values = stats.hypergeom.sf(k - 1, population, big_k, front_size)
    support_front = k / front_size
    support_all = big_k / population
    table = pd.DataFrame({
        "motif": [motifs_in_order[i].describe() for i in tested],
        "nodes": [len(motifs_in_order[i].labels) for i in tested],
        "front_count": k,
        "total_count": big_k,
        "support_front": support_front,
        "support_all": support_all,
        "lift": support_front / support_all,
        "p_value": p_values,
        "p_adjusted": holm_adjust(p_values),
    })
    table = table.sort_values(["p_adjusted", "p_value", "lift", "motif"], ascending=[True, True, False, True])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)[MOTIF_COLUMNS]


# --- campaign level --------------------------------------------------------------------


@dataclass(eq=False)
class MinedCampaign:
    """Scored individuals of a campaign, their parsed genomes and front flags, as the miner saw them."""

    individuals: pd.DataFrame
    genomes: list[Genome]
    in_front: np.ndarray
    sampled_from: int

    @property
    def sampled(self) -> bool:
        return self.sampled_from > len(self.genomes)

    @functools.cached_property
    def features(self) -> pd.DataFrame:
        """genome_features() of each genome, in row order."""
        return feature_table(self.genomes)


def load_campaign_genomes(
    store: Store, campaign_id: int, *, sample_limit: int = DEFAULT_SAMPLE_LIMIT, seed: int = 0
) -> MinedCampaign:
    """Read the scored individuals of a campaign and mark the members of the last stored front.

    Past `sample_limit` scored individuals, keeps every front member and a random sample
    (numpy default_rng(seed)) of the others, so that the result has `sample_limit` rows.
    """
    with store.snapshot():
        scored = scored_genomes(store, campaign_id)
        last = store.last_generation(campaign_id)
    front_ids = set(last["front"]) if last else set()
    in_front = scored["individual_id"].isin(front_ids).to_numpy()
    total = len(scored)
    if total > sample_limit:
        rng = np.random.default_rng(seed)
        others = np.flatnonzero(~in_front)
        keep_others = rng.choice(others, size=max(0, sample_limit - int(in_front.sum())), replace=False)
        keep = np.sort(np.concatenate([np.flatnonzero(in_front), keep_others]))
        scored = scored.iloc[keep].reset_index(drop=True)
        in_front = in_front[keep]

    parsed: dict[str, Genome | None] = {}
    genomes: list[Genome] = []
    readable = np.ones(len(scored), dtype=bool)
    for row, (genome_hash, text) in enumerate(zip(scored["genome_hash"], scored["genome"])):
        if genome_hash not in parsed:
            try:
                parsed[genome_hash] = Genome.from_json(text).validate()
            except (GenomeError, ValueError, TypeError, KeyError) as error:
                logger.warning("individual %s: genome skipped by the motif miner: %s",
                               scored["individual_id"].iloc[row], error)
                parsed[genome_hash] = None
        genome = parsed[genome_hash]
        if genome is None:
            readable[row] = False
        else:
            genomes.append(genome)
    individuals = scored.drop(columns=["genome"])[readable].reset_index(drop=True)
    return MinedCampaign(individuals, genomes, in_front[readable], total)


def campaign_motifs(store: Store, campaign_id: int, *, mined: MinedCampaign | None = None,
                    min_count: int = 2) -> pd.DataFrame:
    """Mine the motifs of a campaign: its last stored front against all scored individuals."""
    mined = mined or load_campaign_genomes(store, campaign_id)
    return mine_motifs(mined.genomes, mined.in_front, min_count=min_count)


# --- design rules ----------------------------------------------------------------------


def genome_features(genome: Genome) -> dict[str, float]:
    """Describe a genome's live graph by numbers.

    depth: nodes on the longest path from the input. width: the largest `width`
    parameter (0 when no node has one). skip_density: inputs beyond the first per node,
    so 0 for a chain. share_<op>: the fraction of live nodes with that operation.
    """
    live = genome.pruned()
    depth: dict[int, int] = {INPUT: 0}
    for node_id in live.topological_order():
        depth[node_id] = 1 + max(depth[source] for source in live.node(node_id).inputs)
    node_count = len(live.nodes)
    features = {
        "depth": float(max(depth.values())),
        "width": float(max((dict(node.params).get("width", 0) for node in live.nodes), default=0)),
        "skip_density": (len(live.edges()) - node_count) / node_count,
    }
    for node in live.nodes:
        key = f"share_{node.op}"
        features[key] = features.get(key, 0.0) + 1.0 / node_count
    return features


def feature_table(genomes: Sequence[Genome]) -> pd.DataFrame:
    """Return genome_features() of each genome, one row each, missing operation shares as 0."""
    cache: dict[Genome, dict[str, float]] = {}
    rows = []
    for genome in genomes:
        if genome not in cache:
            cache[genome] = genome_features(genome)
        rows.append(cache[genome])
    return pd.DataFrame(rows).fillna(0.0)


RULE_COLUMNS = ["feature", "objective", "spearman", "ci_low", "ci_high", "n"]


def spearman_interval(rho: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return a confidence interval of a Spearman correlation by Fisher's z transform.

    Uses the standard error sqrt(1.06 / (n - 3)) of Fieller, Hartley and Pearson (1957) for
    rank correlations. NaN bounds when n < 4 or rho is NaN.
    """
    if n < 4 or not math.isfinite(rho):
        return math.nan, math.nan
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


def design_rules(features: pd.DataFrame, objectives: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Correlate each feature with each objective by Spearman's rank correlation, with a 95% interval.

    Rows with a NaN objective are left out of that objective's correlations. A feature
    that is constant over the rows gets NaN. Sorted by the absolute correlation.
    """
    rows = []
    for objective, values in objectives.items():
        target = np.asarray(values, dtype=float)
        usable = np.isfinite(target)
        for feature in features.columns:
            column = features[feature].to_numpy(dtype=float)[usable]
            n = int(usable.sum())
            if n < 3 or np.all(column == column[0]) or np.all(target[usable] == target[usable][0]):
                rho = math.nan
            else:
                rho = float(stats.spearmanr(column, target[usable]).statistic)
            low, high = spearman_interval(rho, n)
            rows.append({"feature": feature, "objective": objective, "spearman": rho,
                         "ci_low": low, "ci_high": high, "n": n})
    table = pd.DataFrame(rows, columns=RULE_COLUMNS)
    order = table["spearman"].abs().sort_values(ascending=False, na_position="last").index
    return table.loc[order].reset_index(drop=True)


def campaign_design_rules(store: Store, campaign_id: int, *, mined: MinedCampaign | None = None) -> pd.DataFrame:
    """Compute design_rules() for the scored individuals of a campaign and its objectives."""
    mined = mined or load_campaign_genomes(store, campaign_id)
    features = mined.features
    names = [name for name, _ in campaign_objectives(store, campaign_id)]
    objectives = {name: mined.individuals[name].to_numpy(dtype=float) for name in names}
    return design_rules(features, objectives)


def _ecdf(axes: Any, values: np.ndarray, label: str) -> None:
    values = np.sort(values[np.isfinite(values)])
    if len(values) == 0:
        return
    axes.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=f"{label} (n={len(values)})")


def ecdf_figure(mined: MinedCampaign, motifs: pd.DataFrame, objective: str = "accuracy") -> Figure:
    """Draw empirical distribution functions of an objective with and without a feature.

    Left: with and without the top-ranked motif. Right: with and without skip connections.
    """
    figure = Figure(figsize=(11, 4), dpi=100)
    by_motif, by_skip = figure.subplots(1, 2)
    values = (
        mined.individuals[objective].to_numpy(dtype=float)
        if objective in mined.individuals.columns else np.full(len(mined.genomes), np.nan)
    )
    if not motifs.empty:
        top = motifs.iloc[0]["motif"]
        top_motif = next(
            motif for genome in mined.genomes for motif in cached_motifs(genome) if motif.describe() == top
        )
        has = np.array([top_motif in cached_motifs(genome) for genome in mined.genomes], dtype=bool)
        _ecdf(by_motif, values[has], "with")
        _ecdf(by_motif, values[~has], "without")
        by_motif.set_title(f"top motif: {top}", fontsize="small", parse_math=False)
    else:
        by_motif.set_title("no motif tested", fontsize="small")
    skips = mined.features["skip_density"].to_numpy() > 0 if mined.genomes else np.zeros(0, bool)
    _ecdf(by_skip, values[skips], "with skip connections")
    _ecdf(by_skip, values[~skips], "chain only")
    by_skip.set_title("skip connections", fontsize="small")
    for axes in (by_motif, by_skip):
        axes.set_xlabel(objective)
        axes.set_ylabel("share of individuals at or below")
        axes.grid(True, color="0.9")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small", loc="upper left")
    figure.tight_layout()
    return figure


__all__ = [
    "DEFAULT_SAMPLE_LIMIT", "MOTIF_COLUMNS", "RULE_COLUMNS", "MinedCampaign", "Motif", "campaign_design_rules",
    "campaign_motifs", "canonical_motif", "design_rules", "ecdf_figure", "feature_table", "genome_features",
    "genome_motifs", "holm_adjust", "load_campaign_genomes", "mine_motifs", "spearman_interval",
]
