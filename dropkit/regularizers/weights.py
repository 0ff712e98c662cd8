"""Which parameters count as *weights*: the matrices and kernels, never biases or normalisation parameters."""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

__all__ = ["NORM_TYPES", "iter_weights", "split_decay_params"]

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
)


def iter_weights(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """Yield ``(name, parameter)`` for every weight: parameters with ``ndim >= 2`` outside norm layers.

    Biases (1-D) and the affine parameters of BatchNorm / LayerNorm / GroupNorm / RMSNorm are excluded,
    as in Srivastava et al. (2014) and the usual weight-decay practice.

    Example:
        >>> from torch import nn
        >>> [n for n, _ in iter_weights(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)))]
        ['0.weight', '2.weight']
    """
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, NORM_TYPES):
            for p in module.parameters(recurse=False):
                seen.add(id(p))
            continue
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            if param.ndim >= 2:
                yield (f"{module_name}.{name}" if module_name else name), param


def split_decay_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Return ``(weights, others)``: the parameters to decay and those to leave alone."""
    weight_ids = {id(p) for _, p in iter_weights(model)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if id(p) in weight_ids else no_decay).append(p)
    return decay, no_decay
