"""Tabular NAS benchmarks: fitness looked up in a table of architectures trained in advance.

NAS-Bench-201 (Dong & Yang, ICLR 2020) is a cell of 4 nodes whose 6 edges each carry one of 5
operations, so 5^6 = 15,625 cells. Its search protocol uses the 12-epoch CIFAR-10 validation
accuracy as fitness and reports the 200-epoch CIFAR-10 test accuracy of the returned cell.

NAS-Bench-Macro (Su et al., 2021) is a chain of 8 layers, each one of 3 choices (identity or one
of two MobileNet blocks), so 3^8 = 6,561 networks. The table has CIFAR-10 test accuracy of three
training seeds: one seed's value serves as the noisy search fitness and the mean is reported.

The tables are not shipped with the product; each loader takes the path of the user's copy.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomes import INPUT, Genome, Node

NB201_OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edge order of the cell string: node 1 <- 0 | node 2 <- 0, 1 | node 3 <- 0, 1, 2.
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
MACRO_CHOICES = 3
MACRO_LAYERS = 8


class TabularError(ValueError):
    """A benchmark table is missing, malformed, or asked for an architecture it does not contain."""


def nb201_string(cell: tuple[int, ...]) -> str:
    """Format 6 operation indices (in NB201_EDGES order) as the benchmark's own cell string."""
    names = [f"{NB201_OPERATIONS[op]}~{source}" for op, (_, source) in zip(cell, NB201_EDGES)]
    return f"|{names[0]}|+|{names[1]}|{names[2]}|+|{names[3]}|{names[4]}|{names[5]}|"


def parse_nb201_string(text: str) -> tuple[int, ...]:
    """Operation indices of a cell string such as ``|nor_conv_3x3~0|+|...|``."""
    cell = []
    for node in text.strip("|").split("|+|"):
        for edge in node.split("|"):
            name, _, _ = edge.partition("~")
            if name not in NB201_OPERATIONS:
                raise TabularError(f"unknown NAS-Bench-201 operation {name!r} in {text!r}")
            cell.append(NB201_OPERATIONS.index(name))
    if len(cell) != len(NB201_EDGES):
        raise TabularError(f"a NAS-Bench-201 cell has 6 edges, {text!r} has {len(cell)}")
    return tuple(cell)


@dataclass(frozen=True)
class TabularSpace:
    """A finite space of architectures, each a tuple of ``length`` choices in range(``choices``).

    ``search`` is the fitness a strategy may see (higher is better); ``report`` is the number to
    report for the returned architecture. Both are indexed by ``index(arch)``.
    """

    name: str
    length: int
    choices: int
    search: np.ndarray
    report: np.ndarray

    def index(self, arch: tuple[int, ...]) -> int:
        value = 0
        for choice in arch:
            value = value * self.choices + choice
        return value

    def size(self) -> int:
        return self.choices ** self.length

    def random_architecture(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple(int(c) for c in rng.integers(self.choices, size=self.length))

    def best_report(self) -> float:
        return float(np.nanmax(self.report))


def _require_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise TabularError(f"{what} table {path} not found; pass the path of your copy of the table")
    return path


def load_nb201(path: str | Path, dataset: str = "cifar10") -> TabularSpace:
    """Load ``nb201_accuracies.csv``: search on the 12-epoch validation accuracy of ``dataset``,
    report its 200-epoch test accuracy (both in percent)."""
    path = _require_file(path, "NAS-Bench-201")
    search_column = f"{dataset}_valid_acc_12ep"
    report_column = f"{dataset}_test_acc_200ep"
    size = len(NB201_OPERATIONS) ** len(NB201_EDGES)
    search = np.full(size, np.nan)
    report = np.full(size, np.nan)
    space = TabularSpace(f"nb201-{dataset}", len(NB201_EDGES), len(NB201_OPERATIONS), search, report)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"arch", search_column, report_column} - set(reader.fieldnames or ())
        if missing:
            raise TabularError(f"{path} lacks column(s) {sorted(missing)}; is it nb201_accuracies.csv?")
        for row in reader:
            position = space.index(parse_nb201_string(row["arch"]))
            search[position] = float(row[search_column])
            report[position] = float(row[report_column])
    if np.isnan(search).any():
        raise TabularError(f"{path} covers {int((~np.isnan(search)).sum())} of {size} cells; expected all")
    return space


def load_macro(path: str | Path, search_seed: int = 0) -> TabularSpace:
    """Load ``nas-bench-macro_cifar10.json``: search on the test accuracy of training seed
    ``search_seed`` (0, 1 or 2), report the mean over the three seeds (percent)."""
    path = _require_file(path, "NAS-Bench-Macro")
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TabularError(f"{path} is not valid JSON: {error}") from None
    size = MACRO_CHOICES ** MACRO_LAYERS
    search = np.full(size, np.nan)
    report = np.full(size, np.nan)
    space = TabularSpace("macro-cifar10", MACRO_LAYERS, MACRO_CHOICES, search, report)
    for key, entry in table.items():
        position = space.index(tuple(int(c) for c in key))
        search[position] = float(entry["test_acc"][search_seed])
        report[position] = float(entry["mean_acc"])
    if np.isnan(search).any():
        raise TabularError(f"{path} covers {int((~np.isnan(search)).sum())} of {size} networks; expected all")
    return space


# Genome operation of each NAS-Bench-201 edge operation. "none" edges are left out.
_NB201_NODE_OPS = {
    "skip_connect": ("identity", {}),
    "nor_conv_1x1": ("conv", {"width": 16, "kernel": 1}),
    "nor_conv_3x3": ("conv", {"width": 16, "kernel": 3}),
    "avg_pool_3x3": ("avgpool", {"kernel": 3, "stride": 1, "padding": 1}),
}


def nb201_genome(cell: tuple[int, ...]) -> Genome | None:
    """Build the cell as a genome: one node per edge that is not ``none`` and one ``add`` node per cell
    node. Returns None when no path of live edges joins the input to the output (the cell
    outputs zeros). Isomorphic cells, and cells that differ only in dead edges, get the same
    canonical hash."""
    nodes: list[Node] = []
    value_of = {0: INPUT}
    next_id = 1
    for target in (1, 2, 3):
        incoming = []
        for (edge_target, source), op in zip(NB201_EDGES, cell):
            name = NB201_OPERATIONS[op]
            if edge_target != target or name == "none" or source not in value_of:
                continue
            node_op, params = _NB201_NODE_OPS[name]
            nodes.append(Node(next_id, node_op, params, "identity", "add", (value_of[source],)))
            incoming.append(next_id)
            next_id += 1
        if incoming:
            nodes.append(Node(next_id, "identity", {}, "identity", "add", tuple(incoming)))
            value_of[target] = next_id
            next_id += 1
    if 3 not in value_of:
        return None
    return Genome(tuple(nodes), value_of[3])
