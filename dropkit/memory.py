"""Measure what autograd keeps for backward: the activation memory a layer or a training step costs.

Dropout variants differ less in arithmetic than in what they leave behind for backward: a float mask
(torch's CPU dropout: 4 bytes per element in float32), a bool mask (1 byte), a seed (16 bytes per call), or
the dropped copy of an input (LoRA's pattern). :func:`saved_tensor_bytes` measures it with
``torch.autograd.graph.saved_tensors_hooks``: every tensor autograd saves passes through the hook, and the
bytes of the distinct storages behind them are summed, so views of one storage count once. It is what the
benchmarks' ``saved_bytes_per_elem`` / ``saved_mb`` columns and the memory tests report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["saved_tensor_bytes"]


def _key(t: Tensor) -> tuple[str, int]:
    return str(t.device), t.untyped_storage().data_ptr()


def saved_tensor_bytes(fn: Callable[[], Any], *, exclude: Iterable[Tensor] = ()) -> int:
    """Run ``fn()`` and return the bytes autograd saved for backward meanwhile (distinct storages, summed).

    Args:
        fn: the work to measure, e.g. ``lambda: model(x)`` or a whole step ``lambda: model(x).sum().backward()``
            (saved tensors are counted when they are saved, whether or not backward has freed them since).
        exclude: tensors whose storages exist anyway and are not counted, e.g. ``model.parameters()`` and
            the input (default: ``()``).

    Returns:
        The number of bytes.

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(256, 8)
        >>> x = torch.randn(64, 256)
        >>> saved_tensor_bytes(lambda: layer(x))  # x (64 x 256 float32) is kept for the weight gradient
        65536
        >>> saved_tensor_bytes(lambda: layer(x), exclude=[x, *layer.parameters()])  # nothing beyond them
        0
    """
    skip = {_key(t) for t in exclude}
    storages: dict[tuple[str, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        key = _key(t)
        if key not in skip:
            storages[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())
