"""dropkit.memory.saved_tensor_bytes: distinct storages autograd saves, exclusions, and dropout's costs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dropkit.functional import dropout
from dropkit.memory import saved_tensor_bytes


def test_counts_each_storage_once_and_leaves_out_excluded_ones() -> None:
    w = torch.randn(8, 16, requires_grad=True)
    x = torch.randn(32, 16)
    assert saved_tensor_bytes(lambda: F.linear(x, w)) == x.numel() * 4  # x, for the weight gradient
    # x saved twice, once through a view: one storage, counted once; or not at all when excluded.
    twice = lambda: F.linear(x, w) + F.linear(x.view(2, 16, 16).view(32, 16), w)  # noqa: E731
    assert saved_tensor_bytes(twice) == x.numel() * 4
    assert saved_tensor_bytes(twice, exclude=[x]) == 0
    assert saved_tensor_bytes(lambda: x.exp()) == 0  # nothing requires grad: nothing is saved


def test_measures_what_each_dropout_keeps() -> None:
    x = torch.randn(256, 128, requires_grad=True)
    assert saved_tensor_bytes(lambda: F.dropout(x, 0.3)) == x.numel() * 4  # torch's CPU mask: float32
    assert saved_tensor_bytes(lambda: dropout(x, 0.3)) == x.numel()  # native: a bool mask
    assert saved_tensor_bytes(lambda: dropout(x, 0.3, backend="portable")) == 16  # portable: [seed, offset]
