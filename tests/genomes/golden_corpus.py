"""Golden corpus: canonical hashes, shape plans and operator children recorded from fixed seeds.

The corpus pins outputs that must never change. These are canonical hashes (stored in databases
and used as cache keys), ``infer_shapes`` plans (shapes, parameters, FLOPs), search-space
violations and error messages. For each recorded operator call (parents, search space, generator
seed) it pins the child or the reason there is none. ``test_golden_corpus.py`` here and
``tests/operators/test_golden_variation.py`` check that the code still reproduces every entry.

The genomes are of these kinds:

- zoo seeds for each space's input;
- operator children from chains of random operator calls, one chain per space;
- random DAGs with concat merges, repeated inputs, dead nodes, and some broken ones;
- identical parallel branches, and rings of identical nodes;
- relabelled, shuffled copies of some of the above.

Regenerate the data only when an output is meant to change, and say why in the commit::

    python tests/genomes/golden_corpus.py
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genomes import ACTIVATIONS, HEADS, INPUT, MERGES, OPERATIONS, Genome, InnovationCounter, Node, SearchSpace, infer_shapes
from genomes.shapes import NetworkPlan
from genomes.zoo import SEEDS

DATA_PATH = Path(__file__).resolve().parent / "data" / "golden_corpus.json.gz"
FORMAT = 1

# The first space is the smoke preset's (scikit-learn digits, 8x8 images).
SPACES: list[dict[str, Any]] = [
    dict(input_shape=(1, 8, 8), num_classes=10, widths=(4, 32), kernel_sizes=(1, 3), max_nodes=6,
         max_parameters=50_000),
    dict(input_shape=(1, 40), num_classes=10, widths=(2, 24), max_nodes=14, max_parameters=200_000),
    dict(input_shape=(20,), num_classes=5, widths=(2, 24), max_nodes=8, max_parameters=200_000),
    dict(input_shape=(3, 16, 16), num_classes=10, widths=(4, 64), max_nodes=20, max_parameters=None,
         max_flops=20_000_000),
    dict(input_shape=(4, 24), num_classes=3,
         operations=("conv", "sepconv", "identity", "attention", "layernorm", "maxpool", "linear"),
         activations=("relu", "gelu", "identity"), widths=(4, 16), groups=(1, 2), max_nodes=10,
         max_parameters=100_000),
]

MOTIFS = (
    "A=conv/relu B=maxpool/identity; A->B",
    "A=conv/relu B=conv/gelu C=identity/identity/concat; A->C, B->C",
    "A=linear/relu",
    "A=identity/relu B=identity/relu C=identity/identity/add; A->B, A->C, B->C",
)

CHAIN_STEPS = 700
RANDOM_GENOMES = 600
RELABELLED_COPIES = 300


def build_spaces() -> list[SearchSpace]:
    return [SearchSpace(**settings) for settings in SPACES]


def error_outcome(error: Exception) -> list[str]:
    return [type(error).__name__, str(error)]


def flop_parts(count) -> list[int]:
    return [count.matmul, count.attention, count.elementwise]


def plan_summary(plan: NetworkPlan) -> dict[str, Any]:
    """Everything a NetworkPlan carries, as plain JSON data.

    The costs of each input adapter are left out because the node's totals include them.
    """
    nodes = []
    for nid in plan.order:
        node_plan = plan.nodes[nid]
        inputs = [[adapter.source, list(adapter.shape), adapter.flatten,
                   None if adapter.resample_to is None else list(adapter.resample_to), adapter.project_to]
                  for adapter in node_plan.inputs]
        nodes.append([nid, node_plan.node_id, list(node_plan.merged_shape), list(node_plan.output_shape),
                      node_plan.op_parameters, flop_parts(node_plan.op_flops), flop_parts(node_plan.merge_flops),
                      flop_parts(node_plan.activation_flops), inputs, node_plan.parameters, node_plan.flops])
    return {
        "input": list(plan.input_shape),
        "classes": plan.num_classes,
        "order": list(plan.order),
        "keys": list(plan.nodes),
        "nodes": nodes,
        "head": [plan.head_features, plan.head_pooled, plan.head_parameters, flop_parts(plan.head_flop_count)],
        "parameters": plan.parameters,
        "flops": flop_parts(plan.flop_count),
    }


def plan_outcome(genome: Genome, input_shape, num_classes: int) -> Any:
    try:
        return plan_summary(infer_shapes(genome, input_shape, num_classes))
    except Exception as error:  # noqa: BLE001 - the corpus records every exception
        return error_outcome(error)


def hash_outcome(genome: Genome) -> Any:
    try:
        return genome.canonical_hash()
    except Exception as error:  # noqa: BLE001
        return error_outcome(error)


def order_outcome(genome: Genome) -> Any:
    try:
        return genome.topological_order()
    except Exception as error:  # noqa: BLE001
        return error_outcome(error)


def totals_outcome(genome: Genome, input_shape, num_classes: int) -> Any:
    try:
        plan = infer_shapes(genome, input_shape, num_classes)
    except Exception as error:  # noqa: BLE001
        return error_outcome(error)
    return [plan.parameters, plan.flops]


def genome_record(genome: Genome, spaces: list[SearchSpace], home: int) -> dict[str, Any]:
    """The outputs the corpus pins for one genome, computed by the code under test.

    ``plan`` is the full shape plan for the input of ``spaces[home]``, the space the genome was
    made for. ``totals`` contains the parameters and FLOPs, or the error, for every space.
    """
    return {
        "json": genome.to_json(),
        "hash": hash_outcome(genome),
        "order": order_outcome(genome),
        "live": sorted(genome.live_ids()),
        "home": home,
        "plan": plan_outcome(genome, spaces[home].input_shape, spaces[home].num_classes),
        "totals": [totals_outcome(genome, space.input_shape, space.num_classes) for space in spaces],
        "violations": [space.violation(genome) for space in spaces],
    }


# -- genomes ---------------------------------------------------------------------------------------


def zoo_genomes(space: SearchSpace) -> list[Genome]:
    built = []
    for seed in SEEDS.values():
        try:
            built.append(seed.build(space.input_shape, space.num_classes))
        except Exception:  # noqa: BLE001 - a seed that cannot take this input is left out
            continue
    return built


def random_params(chooser: random.Random, op: str) -> dict[str, Any]:
    """Hyperparameters for ``op``, some left to their defaults, some out of range on purpose."""
    params: dict[str, Any] = {}
    if op in ("conv", "sepconv", "linear"):
        params["width"] = chooser.randint(1, 40)
        if chooser.random() < 0.3:
            params["bias"] = chooser.choice((0, 1))
        if chooser.random() < 0.1:
            params["identity_init"] = 1
    if op in ("conv", "sepconv"):
        if chooser.random() < 0.8:
            params["kernel"] = chooser.choice((1, 2, 3, 5, 7))
        if chooser.random() < 0.6:
            params["stride"] = chooser.choice((1, 2, 3))
        if chooser.random() < 0.4:
            params["dilation"] = chooser.choice((1, 2))
        if chooser.random() < 0.4:
            params["padding"] = chooser.randint(0, 3)
    if op == "conv" and chooser.random() < 0.4:
        groups = chooser.choice((1, 2, 4))
        params["width"] = -(-params["width"] // groups) * groups
        params["groups"] = groups
    if op in ("maxpool", "avgpool"):
        if chooser.random() < 0.8:
            params["kernel"] = chooser.choice((1, 2, 3, 4))
        if chooser.random() < 0.5:
            params["stride"] = chooser.choice((1, 2))
        if chooser.random() < 0.5:
            params["padding"] = chooser.randint(0, 2)
    if op == "attention" and chooser.random() < 0.8:
        params["heads"] = chooser.choice((1, 2, 3, 4))
    if op == "dropout" and chooser.random() < 0.7:
        params["percent"] = chooser.choice((0, 10, 50, 90))
    return params


def break_genome(chooser: random.Random, nodes: list[Node], ids: list[int]) -> list[Node]:
    """Introduce one defect that validation must name."""
    index = chooser.randrange(len(nodes))
    node = nodes[index]
    defect = chooser.choice(("cycle", "dangling", "op", "param", "unknown_param", "type", "duplicate",
                       "activation", "merge", "self_loop", "no_inputs"))
    if defect == "cycle" and index + 1 < len(nodes):
        node = node.replace(inputs=(*node.inputs, ids[chooser.randrange(index + 1, len(nodes))]))
    elif defect == "dangling":
        node = node.replace(inputs=(*node.inputs, 999))
    elif defect == "op":
        node = node.replace(op="convolution", params={})
    elif defect == "param":
        node = node.replace(op="conv", params={"width": chooser.choice((0, -3)), "kernel": 3})
    elif defect == "unknown_param":
        node = node.replace(params={**dict(node.params), "size": 3})
    elif defect == "type":
        node = node.replace(op="linear", params={"width": "8"})
    elif defect == "duplicate" and index > 0:
        node = node.replace(id=ids[index - 1])
    elif defect == "activation":
        node = node.replace(activation="swish")
    elif defect == "merge":
        node = node.replace(merge="mul")
    elif defect == "self_loop":
        node = node.replace(inputs=(node.id,))
    elif defect == "no_inputs":
        node = node.replace(inputs=())
    nodes[index] = node
    return nodes


def random_genome(chooser: random.Random) -> Genome:
    """A random DAG with shuffled ids, repeated inputs, concat merges and, sometimes, a defect."""
    count = chooser.randint(1, 10)
    ids = chooser.sample(range(1, 80), count)
    nodes = []
    for position, nid in enumerate(ids):
        earlier = [INPUT, *ids[:position]]
        inputs = tuple(chooser.choice(earlier) for _ in range(chooser.choice((1, 1, 1, 2, 2, 3, 4))))
        op = chooser.choice(sorted(OPERATIONS))
        params = random_params(chooser, op)
        activation = chooser.choice(sorted(ACTIVATIONS))
        nodes.append(Node(nid, op, params, activation, chooser.choice(MERGES), inputs))
    if chooser.random() < 0.15:
        nodes = break_genome(chooser, nodes, ids)
    if chooser.random() < 0.5:
        chooser.shuffle(nodes)
    output = ids[-1] if chooser.random() < 0.6 else chooser.choice(ids)
    head = chooser.choice(HEADS) if chooser.random() < 0.97 else "pool"
    if chooser.random() < 0.02:
        output = 500
    return Genome(tuple(nodes), output, head)


def ring_genome(ring_sizes: list[int], op: str = "identity", params: dict | None = None) -> Genome:
    """Return identical nodes wired as rings, which colour refinement alone cannot order.

    A ring of size k has k nodes that read the input and k add-nodes, each adding two
    neighbours on the ring. A final add reads every add-node. Colour refinement cannot tell one
    ring of size 2k from two rings of size k, so these genomes need the search over ties.
    """
    nodes: list[Node] = []
    adders: list[int] = []
    next_id = 1
    for size in ring_sizes:
        members = list(range(next_id, next_id + size))
        next_id += size
        nodes += [Node(nid, op, params or {}, "relu", inputs=(INPUT,)) for nid in members]
        for position in range(size):
            pair = (members[position], members[(position + 1) % size])
            nodes.append(Node(next_id, "identity", {}, "relu", "add", inputs=pair))
            adders.append(next_id)
            next_id += 1
    nodes.append(Node(next_id, "identity", {}, "relu", "add", inputs=tuple(adders)))
    return Genome(tuple(nodes), next_id)


def parallel_branches(count: int, merge: str) -> Genome:
    convs = [Node(i, "conv", {"width": 2}, "relu", inputs=(INPUT,)) for i in range(1, count + 1)]
    pools = [Node(count + i, "maxpool", {}, "identity", inputs=(i,)) for i in range(1, count + 1)]
    total = Node(2 * count + 1, "identity", merge=merge, inputs=tuple(n.id for n in pools))
    return Genome((*convs, *pools, total), total.id)


def symmetric_genomes() -> list[Genome]:
    built = []
    for rings in ([2, 1, 1], [3, 1, 2], [3, 1, 1, 1], [4, 2, 2], [5, 2, 3], [6], [3, 3], [6, 2, 2, 2]):
        built.append(ring_genome(rings))
    built.append(ring_genome([4, 4], "conv", {"width": 3}))
    for count in (2, 3, 8, 16):
        built.append(parallel_branches(count, "add"))
        built.append(parallel_branches(count, "concat"))
    # One source read twice by a concat, and an add of the same node with itself.
    built.append(Genome((Node(1, "conv", {"width": 4}, "relu"),
                         Node(2, "identity", {}, "identity", "concat", (1, 1, INPUT)),
                         Node(3, "identity", {}, "identity", "add", (2, 2))), 3, "gap"))
    return built


def relabelled_copy(chooser: random.Random, genome: Genome) -> Genome:
    new_ids = chooser.sample(range(1, 5000), len(genome))
    copy = genome.relabeled(dict(zip(genome.ids, new_ids)))
    nodes = list(copy.nodes)
    chooser.shuffle(nodes)
    return copy.replace_nodes(nodes)


# -- operator chains -------------------------------------------------------------------------------


def operator_chain(chooser: random.Random, space_index: int, space: SearchSpace, seeds: list[Genome],
                   add_genome) -> list[list[Any]]:
    """Run CHAIN_STEPS random operator calls; each applied child joins the pool of parents."""
    from operators import OPERATORS, MotifInsertion

    names = [*sorted(OPERATORS), "insert_motif"]
    motif_operator = MotifInsertion(MOTIFS)
    pool = list(seeds)
    cases = []
    for _ in range(CHAIN_STEPS):
        name = chooser.choice(names)
        operator = motif_operator if name == "insert_motif" else OPERATORS[name]
        candidates = pool[-40:] + seeds
        parents = [chooser.choice(candidates) for _ in range(operator.arity)]
        seed = chooser.randrange(2**32)
        counter_start = None
        if chooser.random() < 0.5:
            counter_start = max(g.next_id() for g in pool) + chooser.randrange(50)
        rng = np.random.default_rng(seed)
        new_id = None if counter_start is None else InnovationCounter(counter_start)
        variation = operator(parents, rng, space, new_id=new_id)
        next_draw = int(rng.integers(2**62))
        child = None
        if variation.applied:
            child = add_genome(variation.genome)
            pool.append(variation.genome)
        cases.append([name, space_index, [add_genome(p) for p in parents], seed, counter_start, child,
                      variation.reason, next_draw])
    return cases


def build_corpus() -> dict[str, Any]:
    chooser = random.Random(20240611)
    spaces = build_spaces()
    genomes: list[Genome] = []
    homes: list[int] = []
    index_of: dict[str, int] = {}

    def add_genome(genome: Genome, home: int) -> int:
        text = genome.to_json()
        if text not in index_of:
            index_of[text] = len(genomes)
            genomes.append(genome)
            homes.append(home)
        return index_of[text]

    for space_index, space in enumerate(spaces):
        for genome in zoo_genomes(space):
            add_genome(genome, space_index)
    for genome in symmetric_genomes():
        add_genome(genome, len(genomes) % len(spaces))
    for _ in range(RANDOM_GENOMES):
        add_genome(random_genome(chooser), len(genomes) % len(spaces))

    cases = []
    for space_index, space in enumerate(spaces):
        cases += operator_chain(chooser, space_index, space, zoo_genomes(space),
                                lambda genome, home=space_index: add_genome(genome, home))

    for index in chooser.sample(range(len(genomes)), RELABELLED_COPIES):
        add_genome(relabelled_copy(chooser, genomes[index]), homes[index])

    return {
        "format": FORMAT,
        "spaces": [space.to_dict() for space in spaces],
        "motifs": list(MOTIFS),
        "genomes": [genome_record(genome, spaces, home) for genome, home in zip(genomes, homes)],
        "operator_cases": cases,
    }


def load_corpus() -> dict[str, Any]:
    with gzip.open(DATA_PATH, "rt", encoding="utf-8") as stream:
        return json.load(stream)


def main() -> int:
    corpus = build_corpus()
    DATA_PATH.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(corpus, separators=(",", ":"), sort_keys=True)
    with gzip.GzipFile(DATA_PATH, "wb", compresslevel=9, mtime=0) as stream:
        stream.write(text.encode())
    print(f"{len(corpus['genomes'])} genomes, {len(corpus['operator_cases'])} operator cases, "
          f"{DATA_PATH.stat().st_size} bytes in {DATA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
