"""Training diagnostics: per-layer gradient norms and their spread.

A network whose layers receive gradients of very different sizes (vanishing or exploding
gradients) trains poorly. The spread is the standard deviation of log10 of the gradient
norms over the layers, in decades. 0 means every layer gets a gradient of the same size,
and 2 means the norms typically differ from their mean by a factor of 100.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

# A gradient norm below this counts as this value, so that a layer with an exactly zero
# gradient (a dead ReLU branch) gives a large but finite spread.
MIN_GRADIENT_NORM = 1e-30


def layer_gradient_norms(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> dict[str, float]:
    """Return the L2 norm of the cross-entropy gradient of each weight tensor on one batch.

    A layer is a parameter named ``*weight`` with at least 2 dimensions (convolutions,
    linear layers and the classifier), so biases and normalisation scales are left out.
    The forward pass runs in train mode, as in training. The model's parameters, buffers,
    mode and .grad fields are the same afterwards: batch-norm running statistics updated
    by the pass are restored, and gradients are taken with torch.autograd.grad.
    """
    layers = {
        name: parameter
        for name, parameter in model.named_parameters()
        if name.endswith("weight") and parameter.dim() >= 2 and parameter.requires_grad
    }
    if not layers:
        return {}
    buffers = {name: buffer.detach().clone() for name, buffer in model.named_buffers()}
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    try:
        with torch.enable_grad():
            loss = nn.functional.cross_entropy(model(x), y)
            gradients = torch.autograd.grad(loss, list(layers.values()), allow_unused=True)
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        for module, training in modes:
            module.training = training
    norms = {}
    for name, gradient in zip(layers, gradients):
        norms[name] = 0.0 if gradient is None else float(gradient.norm())
    return norms


def gradient_spread(norms: dict[str, float]) -> float:
    """Return the standard deviation of log10 of the norms, or NaN when a norm is not finite.

    A single layer has a spread of 0.
    """
    if not norms:
        return math.nan
    values = np.array(list(norms.values()), dtype=np.float64)
    if not np.isfinite(values).all():
        return math.nan
    return float(np.std(np.log10(np.maximum(values, MIN_GRADIENT_NORM))))
