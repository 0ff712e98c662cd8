"""Activation lookup by name, shared by every model builder."""

from __future__ import annotations

from torch import nn

from dropkit._validation import check_choice

__all__ = ["ACTIVATIONS", "make_activation"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    check_choice("make_activation", "activation", name, list(ACTIVATIONS))
    return ACTIVATIONS[name]()
