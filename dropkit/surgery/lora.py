"""Fuse LoRA's input dropout into the ``lora_A`` projection of Hugging Face PEFT models, in place.

PEFT computes a LoRA update as ``lora_B(lora_A(dropout(x))) * scaling`` (Hu et al. 2021,
https://arxiv.org/abs/2106.09685). With ``lora_dropout > 0`` autograd keeps the dropped copy of ``x`` for
``lora_A``'s weight gradient and the dropout mask, next to ``x``, which the layer's input keeps alive
anyway: about one extra activation copy per adapted layer (huggingface/peft#2196; torchtune set its default
LoRA dropout to 0 for this reason). :func:`fuse_lora_dropout` replaces each ``lora_A`` by a
:class:`~dropkit.nn.DropoutLinear` that shares its Parameters and regenerates the dropped input from a
seed (CUDA) or generator state (CPU) in backward, and the adapter's dropout by ``nn.Identity``: the same computation (a different random
stream draws the masks), the same ``state_dict`` keys, without that copy.

PEFT is not imported: LoRA layers are recognised by their ``lora_A`` / ``lora_dropout`` module dicts.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from dropkit.nn.dropout import Dropout as DropkitDropout
from dropkit.nn.dropout_linear import DropoutLinear

__all__ = ["fuse_lora_dropout", "unfuse_lora_dropout"]


def _lora_layers(model: nn.Module):
    for name, module in model.named_modules():
        lora_a, lora_dropout = getattr(module, "lora_A", None), getattr(module, "lora_dropout", None)
        if isinstance(lora_a, nn.ModuleDict) and isinstance(lora_dropout, nn.ModuleDict):
            yield name, module, lora_a, lora_dropout


def _base_layer(module: nn.Module) -> Any:
    get = getattr(module, "get_base_layer", None)
    return get() if callable(get) else getattr(module, "base_layer", None)


def _element_wise_rate(dropout: nn.Module) -> float | None:
    """The rate of a plain element-wise dropout module (torch's or dropkit's), else None."""
    if type(dropout) is nn.Dropout:
        return float(dropout.p)
    if type(dropout) is DropkitDropout and not dropout.broadcast_dims and dropout.stream is None:
        return float(dropout.p)
    return None


def _skip_reason(variant: bool, linear_base: bool, projection: Any, dropout: nn.Module, p: float | None) -> str:
    """Why an adapter cannot be fused ("" when it can)."""
    if variant:
        return "a LoRA variant uses the dropped input elsewhere"
    if not linear_base:
        return "its base layer is not an nn.Linear"
    if type(projection) is not nn.Linear:
        return f"lora_A is {type(projection).__name__}"
    if p is None:
        return f"its dropout is {type(dropout).__name__}, not element-wise"
    return "p = 0" if p == 0.0 else ""


def fuse_lora_dropout(model: nn.Module, **layer_kwargs: Any) -> dict[str, float]:
    """Move every vanilla LoRA adapter's input dropout into its ``lora_A`` projection, in place.

    An adapter is fused when its layer's base layer is an ``nn.Linear`` (PEFT's ``lora.Linear`` and the
    bitsandbytes ones, whose base layers subclass it), its ``lora_A`` is an ``nn.Linear`` and its dropout
    an element-wise ``nn.Dropout`` (or dropkit ``Dropout``) with ``p > 0``. Adapters with a LoRA variant
    (DoRA and others reuse the dropped input elsewhere) and other layer kinds are left as they are, with
    one warning naming them. Parameters are shared, not copied, so an optimizer built before the call
    keeps working, and ``state_dict`` keys do not change (adapter checkpoints load either way).

    Args:
        model: a model with PEFT LoRA layers (e.g. from ``peft.get_peft_model``); changed in place.
        **layer_kwargs: ``generator``, ``stream`` or ``backend`` for each :class:`~dropkit.nn.DropoutLinear`.

    Returns:
        ``{"<layer name>.<adapter>": p}`` for each fused adapter.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class TinyLora(nn.Module):  # the attributes PEFT's lora.Linear has
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.base_layer = nn.Linear(8, 8)
        ...         self.lora_A = nn.ModuleDict({"default": nn.Linear(8, 2, bias=False)})
        ...         self.lora_B = nn.ModuleDict({"default": nn.Linear(2, 8, bias=False)})
        ...         self.lora_dropout = nn.ModuleDict({"default": nn.Dropout(0.1)})
        >>> layer = TinyLora()
        >>> fuse_lora_dropout(layer)
        {'default': 0.1}
        >>> type(layer.lora_A["default"]).__name__, type(layer.lora_dropout["default"]).__name__
        ('DropoutLinear', 'Identity')
    """
    fused: dict[str, float] = {}
    skipped: list[str] = []
    for name, module, lora_a, lora_dropout in _lora_layers(model):
        variants = set(getattr(module, "lora_variant", None) or {})  # DoRA, aLoRA, ... (PEFT >= 0.17)
        variants |= {k for k, on in (getattr(module, "use_dora", None) or {}).items() if on}  # older PEFT
        linear_base = isinstance(_base_layer(module), nn.Linear)
        for adapter, dropout in lora_dropout.items():
            qualified = f"{name}.{adapter}" if name else adapter
            projection = lora_a[adapter] if adapter in lora_a else None
            if isinstance(dropout, nn.Identity) or isinstance(projection, DropoutLinear):
                continue  # no dropout, or fused already
            p = _element_wise_rate(dropout)
            why = _skip_reason(adapter in variants, linear_base, projection, dropout, p)
            if why:
                skipped.append(f"{qualified} ({why})")
                continue
            lora_a[adapter] = DropoutLinear.from_linear(projection, p, **layer_kwargs)
            lora_dropout[adapter] = nn.Identity()
            fused[qualified] = p
    if skipped:
        warnings.warn("fuse_lora_dropout: left unfused: " + ", ".join(skipped), stacklevel=2)
    return fused


def unfuse_lora_dropout(model: nn.Module) -> dict[str, float]:
    """Undo :func:`fuse_lora_dropout`: plain ``nn.Linear`` projections (sharing the Parameters) and
    ``nn.Dropout(p)`` again. Returns ``{"<layer name>.<adapter>": p}`` for each adapter restored."""
    restored: dict[str, float] = {}
    for name, _module, lora_a, lora_dropout in _lora_layers(model):
        for adapter, projection in list(lora_a.items()):
            if not isinstance(projection, DropoutLinear):
                continue
            plain = nn.Linear(projection.in_features, projection.out_features, bias=False, device="meta")
            plain.weight, plain.bias = projection.weight, projection.bias
            plain.train(projection.training)
            lora_a[adapter] = plain
            lora_dropout[adapter] = nn.Dropout(projection.p).train(projection.training)
            restored[f"{name}.{adapter}" if name else adapter] = projection.p
    return restored
