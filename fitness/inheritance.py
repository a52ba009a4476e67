"""Lamarckian weight inheritance: a child network starts from its parent's trained weights.

Weights travel and are stored as the bytes of a NumPy .npz archive (np.savez, read back
with allow_pickle=False), one array per state_dict entry, so loading them never runs
pickled code.

A child node inherits when the parent has a node with the same id and the same
definition (operation, parameters, activation, merge and inputs), and every tensor of the
decoded cell has the same shape in both networks. The shape check catches a node whose
definition is unchanged but whose input width changed upstream. Batch-norm running
statistics of an inherited node are copied with its weights. The classifier head is never
inherited, because a change anywhere before it can change what its features mean.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from genomes import Genome


class WeightsFormatError(ValueError):
    """Bytes that are not an .npz archive of numeric arrays."""


def state_to_bytes(model: nn.Module) -> bytes:
    """Return the model's state_dict as .npz bytes (float tensors keep their dtype)."""
    arrays = {
        name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def bytes_to_state(data: bytes) -> dict[str, torch.Tensor]:
    """Read .npz bytes written by state_to_bytes back into tensors, never unpickling."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: torch.from_numpy(archive[name].copy()) for name in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise WeightsFormatError(
            f"weights are not a readable .npz archive of numeric arrays ({error}). "
            f"Store them with fitness.inheritance.state_to_bytes"
        ) from error


def inherit_weights(
    model: nn.Module,
    genome: Genome,
    parent_genome: Genome,
    parent_state: Mapping[str, torch.Tensor],
) -> list[int]:
    """Copy the parent's tensors into every node of model that the parent shares unchanged.

    model is the decoded network of genome. Returns the ids of the inherited nodes that
    have tensors, sorted.
    """
    own_state = model.state_dict()
    inherited = []
    for node_id in genome.ids:
        if node_id not in parent_genome or parent_genome.node(node_id) != genome.node(node_id):
            continue
        prefix = f"cells.{node_id}."
        names = [name for name in own_state if name.startswith(prefix)]
        if not names:
            continue
        matches = all(
            name in parent_state and parent_state[name].shape == own_state[name].shape
            for name in names
        )
        if not matches:
            continue
        with torch.no_grad():
            for name in names:
                own_state[name].copy_(parent_state[name])
        inherited.append(node_id)
    return sorted(inherited)
