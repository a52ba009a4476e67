"""Hypothesis strategies for random valid genomes, shared by the genome and operator tests.

Import it as a plain module (``import strategies``): the ``conftest.py`` next to this file puts
this folder on ``sys.path``. Tests in another folder need the same two lines in their own
``conftest.py``, because a conftest only runs for the tests below it.

``genomes()`` builds a random DAG node by node. Each node reads one to ``max_inputs`` earlier
nodes (or the network input), merges them with ``add`` or ``concat`` and carries a random
operation. A node whose operation cannot take its merged input (a convolution on a flat vector,
a pooling window larger than the sequence) is replaced by an identity node, so every drawn genome
passes ``infer_shapes`` on the requested input shape. Nodes that do not reach the output are kept,
so the genomes include dead nodes.
"""

from __future__ import annotations

import random
from typing import Sequence

from hypothesis import assume
from hypothesis import strategies as st

from genomes import ACTIVATIONS, HEADS, MERGES, OPERATIONS, Genome, Node, SearchSpace, ShapeError, infer_shapes

DEFAULT_OPERATIONS = tuple(OPERATIONS)


def _draw_params(draw: st.DrawFn, op: str, widths: tuple[int, int], kernels: Sequence[int],
                 strides: Sequence[int]) -> dict[str, int]:
    """Draw hyperparameters for ``op``; a parameter left out is filled by the operation's default."""
    params: dict[str, int] = {}
    if op in ("conv", "sepconv", "linear"):
        params["width"] = draw(st.integers(*widths))
        params["bias"] = draw(st.sampled_from((0, 1)))
    if op in ("conv", "sepconv"):
        params["kernel"] = draw(st.sampled_from(kernels))
        params["stride"] = draw(st.sampled_from(strides))
        params["dilation"] = draw(st.sampled_from((1, 2)))
        padding = draw(st.none() | st.integers(0, params["kernel"] // 2))
        if padding is not None:
            params["padding"] = padding
    if op == "conv":
        groups = draw(st.sampled_from((1, 1, 2)))
        # A width that groups does not divide is invalid; round it up to a multiple.
        params["width"] = -(-params["width"] // groups) * groups
        params["groups"] = groups
    if op == "attention":
        params["heads"] = draw(st.sampled_from((1, 2)))
    if op == "dropout":
        params["percent"] = draw(st.sampled_from((0, 10, 50)))
    elif op in ("maxpool", "avgpool"):
        kernel = draw(st.sampled_from([k for k in kernels if k > 1] or [2]))
        params["kernel"] = kernel
        stride = draw(st.none() | st.sampled_from(strides))
        if stride is not None:
            params["stride"] = stride
        # PyTorch rejects pooling padding above half the kernel.
        params["padding"] = draw(st.integers(0, kernel // 2))
    return params


def _fits(nodes: Sequence[Node], input_shape: Sequence[int], num_classes: int) -> bool:
    try:
        infer_shapes(Genome(tuple(nodes), nodes[-1].id), input_shape, num_classes)
    except ShapeError:
        return False
    return True


@st.composite
def genomes(
    draw: st.DrawFn,
    input_shape: Sequence[int] = (1, 40),
    num_classes: int = 10,
    *,
    operations: Sequence[str] = DEFAULT_OPERATIONS,
    activations: Sequence[str] = tuple(ACTIVATIONS),
    heads: Sequence[str] = HEADS,
    min_nodes: int = 1,
    max_nodes: int = 6,
    max_inputs: int = 3,
    widths: tuple[int, int] = (1, 12),
    kernels: Sequence[int] = (1, 2, 3, 5),
    strides: Sequence[int] = (1, 2),
) -> Genome:
    """Draw a valid genome that passes ``infer_shapes(genome, input_shape, num_classes)``.

    Node ids are 1..n in topological order; combine with ``isomorphic_copies`` for other ids and
    orders. The output is the last node at least half the time. Replacing an operation that does not
    fit with ``identity`` can put ``identity`` into a genome even when ``operations`` leaves it out.
    """
    count = draw(st.integers(min_nodes, max_nodes))
    nodes: list[Node] = []
    for node_id in range(1, count + 1):
        inputs = draw(st.lists(st.integers(0, node_id - 1), min_size=1, max_size=max_inputs))
        op = draw(st.sampled_from(operations))
        node = Node(
            node_id,
            op,
            _draw_params(draw, op, widths, kernels, strides),
            activation=draw(st.sampled_from(activations)),
            merge=draw(st.sampled_from(MERGES)),
            inputs=tuple(inputs),
        )
        if not _fits([*nodes, node], input_shape, num_classes):
            node = node.replace(op="identity", params={})
        nodes.append(node)

    output = count if draw(st.booleans()) else draw(st.integers(1, count))
    head = draw(st.sampled_from(heads))
    return Genome(tuple(nodes), output, head)


def genomes_in_space(space: SearchSpace, max_nodes: int | None = None, max_inputs: int = 3) -> st.SearchStrategy[Genome]:
    """Draw genomes that ``space.contains``, from the space's operations, widths and kernels.

    Genomes over the space's parameter or FLOP limit are filtered out, so keep those limits loose.
    The strategy replaces an operation that does not fit with ``identity``, so the space must allow it.
    """
    if "identity" not in space.operations:
        raise ValueError("genomes_in_space needs 'identity' in space.operations to repair bad nodes")
    strategy = genomes(
        space.input_shape,
        space.num_classes,
        operations=space.operations,
        activations=space.activations,
        heads=space.heads,
        max_nodes=min(max_nodes or space.max_nodes, space.max_nodes),
        max_inputs=max_inputs,
        widths=space.widths,
        kernels=space.kernel_sizes,
        strides=space.strides,
    )
    return strategy.filter(space.contains)


@st.composite
def relabelings(draw: st.DrawFn, genome: Genome) -> dict[int, int]:
    """Draw an injective mapping from the genome's node ids to other positive ids."""
    count = len(genome)
    # A shuffled range, stretched and shifted, is injective without filtering out collisions.
    ranks = draw(st.permutations(range(count)))
    stride = draw(st.integers(1, 7))
    offset = draw(st.integers(1, 500))
    return {old: offset + stride * rank for old, rank in zip(genome.ids, ranks)}


@st.composite
def isomorphic_copies(draw: st.DrawFn, genome: Genome) -> Genome:
    """Draw the genome with its ids renamed, its nodes shuffled and its ``add`` inputs shuffled.

    None of these changes the network the genome describes.
    """
    copy = genome.relabeled(draw(relabelings(genome)))
    nodes = list(copy.nodes)
    shuffler = draw(st.randoms(use_true_random=False))
    shuffler.shuffle(nodes)
    nodes = [_shuffle_add_inputs(node, shuffler) for node in nodes]
    return copy.replace_nodes(nodes)


def _shuffle_add_inputs(node: Node, shuffler: random.Random) -> Node:
    if node.merge != "add":
        return node
    inputs = list(node.inputs)
    shuffler.shuffle(inputs)
    return node.replace(inputs=tuple(inputs))


def assume_fits(genome: Genome, input_shape: Sequence[int], num_classes: int = 10) -> None:
    """Skip the example unless the genome passes ``infer_shapes`` on ``input_shape``."""
    try:
        infer_shapes(genome, input_shape, num_classes)
    except ShapeError:
        assume(False)
