"""An SVG picture of one genome: its DAG from the input to the classifier head.

Nodes are placed in layers by their longest path from the input, so every edge points
down. Each box names the node id, operation, the parameters the genome sets (defaults are
left out), activation and merge, and, when
the task's input shape is known, the node's output shape. The SVG is plain text with
every label XML-escaped, so it can be written to a file or put inline in an HTML page.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Sequence

from genomes import INPUT, Genome, infer_shapes

BOX_WIDTH = 190
BOX_HEIGHT = 46
COLUMN_GAP = 30
LAYER_GAP = 44
MARGIN = 16

OPERATION_COLOURS = {
    "conv": "#cfe3f7",
    "maxpool": "#fde2c4",
    "avgpool": "#fbe9d3",
    "linear": "#d9f0d3",
    "batchnorm": "#eadcf2",
    "identity": "#eeeeee",
}

PARAMETER_ABBREVIATIONS = {"width": "w", "kernel": "k", "stride": "s", "padding": "p"}


def _layers(genome: Genome) -> dict[int, int]:
    """Return each live node's layer: 1 + the longest path from the input (layer 0)."""
    layer = {INPUT: 0}
    for node_id in genome.topological_order():
        node = genome.node(node_id)
        layer[node_id] = 1 + max(layer[source] for source in node.inputs)
    return layer


def _node_label(genome: Genome, node_id: int) -> str:
    node = genome.node(node_id)
    params = " ".join(
        f"{PARAMETER_ABBREVIATIONS.get(key, key)}{value}" for key, value in sorted(node.params)
    )
    return f"{node_id}: {node.op} {params}".rstrip()


def _node_detail(genome: Genome, node_id: int, shapes: dict[int, tuple[int, ...]] | None) -> str:
    node = genome.node(node_id)
    parts = [node.activation]
    if len(node.inputs) > 1:
        parts.append(node.merge)
    if shapes is not None:
        parts.append("x".join(str(size) for size in shapes[node_id]))
    return " · ".join(parts)


def genome_svg(
    genome: Genome,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    *,
    title: str | None = None,
) -> str:
    """Draw a genome as an SVG document and return its text.

    With input_shape and num_classes, each box also shows the node's output shape (shape
    inference runs first, so a genome that does not fit the task raises GenomeError).
    Nodes without a path to the output are left out, as the decoder leaves them out.
    """
    live = genome.validate().pruned()
    shapes = None
    if input_shape is not None and num_classes is not None:
        plan = infer_shapes(live, input_shape, num_classes)
        shapes = {node_id: plan.shape_of(node_id) for node_id in (INPUT, *plan.order)}

    layer_of = _layers(live)
    head_layer = max(layer_of.values()) + 1
    by_layer: dict[int, list[int]] = {}
    for node_id, layer in sorted(layer_of.items(), key=lambda item: (item[1], item[0])):
        by_layer.setdefault(layer, []).append(node_id)
    widest = max(len(ids) for ids in by_layer.values())
    width = 2 * MARGIN + widest * BOX_WIDTH + (widest - 1) * COLUMN_GAP
    top = MARGIN + (24 if title else 0)
    height = top + (head_layer + 1) * (BOX_HEIGHT + LAYER_GAP) - LAYER_GAP + MARGIN

    centres: dict[int, tuple[float, float]] = {}
    for layer, ids in by_layer.items():
        row_width = len(ids) * BOX_WIDTH + (len(ids) - 1) * COLUMN_GAP
        left = (width - row_width) / 2
        for position, node_id in enumerate(ids):
            x = left + position * (BOX_WIDTH + COLUMN_GAP) + BOX_WIDTH / 2
            centres[node_id] = (x, top + layer * (BOX_HEIGHT + LAYER_GAP) + BOX_HEIGHT / 2)
    head_centre = (width / 2, top + head_layer * (BOX_HEIGHT + LAYER_GAP) + BOX_HEIGHT / 2)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    if title:
        parts.append(f'<text x="{MARGIN}" y="{MARGIN + 10}" font-size="14" font-weight="bold">{escape(title)}</text>')

    edges = [(source, node.id) for node in live.nodes for source in node.inputs]
    edges.append((live.output, None))
    for source, target in edges:
        x1, y1 = centres[source]
        x2, y2 = head_centre if target is None else centres[target]
        y1 += BOX_HEIGHT / 2
        y2 -= BOX_HEIGHT / 2
        middle = (y1 + y2) / 2
        parts.append(
            f'<path d="M {x1:.1f} {y1:.1f} C {x1:.1f} {middle:.1f}, {x2:.1f} {middle:.1f}, {x2:.1f} {y2:.1f}" '
            'fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )

    def box(centre: tuple[float, float], fill: str, first: str, second: str) -> None:
        x, y = centre
        parts.append(
            f'<rect x="{x - BOX_WIDTH / 2:.1f}" y="{y - BOX_HEIGHT / 2:.1f}" width="{BOX_WIDTH}" '
            f'height="{BOX_HEIGHT}" rx="6" fill="{fill}" stroke="#333"/>'
        )
        parts.append(f'<text x="{x:.1f}" y="{y - 4:.1f}" text-anchor="middle">{escape(first)}</text>')
        parts.append(f'<text x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle" fill="#444">{escape(second)}</text>')

    input_detail = "x".join(str(size) for size in shapes[INPUT]) if shapes is not None else "after the stem"
    box(centres[INPUT], "#ffffff", "0: input", input_detail)
    for node_id in live.topological_order():
        node = live.node(node_id)
        box(centres[node_id], OPERATION_COLOURS.get(node.op, "#eeeeee"),
            _node_label(live, node_id), _node_detail(live, node_id, shapes))
    classes = f"linear to {num_classes} classes" if num_classes is not None else "linear classifier"
    box(head_centre, "#fff6bf", f"head: {live.head}", classes)
    parts.append("</svg>")
    return "\n".join(parts)


def write_genome_svg(
    genome: Genome,
    out_path: str | os.PathLike[str],
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write genome_svg() to out_path and return the path."""
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(genome_svg(genome, input_shape, num_classes, title=title), encoding="utf-8")
    return path

