"""Probes for decoded networks, shared by the genome tests: node output shapes, module construction."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


def node_output_shapes(network: nn.Module, batch: torch.Tensor) -> dict[int, tuple[int, ...]]:
    """Run ``batch`` through a decoded network and return each node's output shape, batch included."""
    shapes: dict[int, tuple[int, ...]] = {}
    handles = []
    for name, cell in network.cells.items():
        def record(module, inputs, output, node_id=int(name)):
            shapes[node_id] = tuple(output.shape)

        handles.append(cell.register_forward_hook(record))
    try:
        with torch.no_grad():
            network(batch)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


@contextlib.contextmanager
def count_module_inits(monkeypatch) -> Iterator[list[str]]:
    """Record the class name of every ``nn.Module`` constructed inside the block.

    The original ``__init__`` still runs, so modules behave as usual.
    """
    created: list[str] = []
    original = nn.Module.__init__

    def counting_init(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(nn.Module, "__init__", counting_init)
        yield created
