"""Tests for dropkit.nn.LockedDropout and dropkit.nn.EmbeddingDropout."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from dropkit.functional import locked_dropout
from dropkit.nn import LockedDropout


def test_module_matches_functional_and_shares_mask_over_time() -> None:
    layer = LockedDropout(0.5, batch_first=True, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 9, 8)
    y = layer(x)
    assert torch.equal(y, locked_dropout(x, 0.5, batch_first=True, generator=torch.Generator().manual_seed(0)))
    y = layer(torch.ones(3, 9, 8))
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert layer.extra_repr() == "p=0.5, batch_first=True"


def test_eval_identity_and_packed_input() -> None:
    layer = LockedDropout(0.5)
    x = torch.randn(4, 2, 3)
    assert layer.eval()(x) is x
    packed = pack_padded_sequence(torch.randn(4, 2, 3), torch.tensor([4, 3]))
    out = layer.train()(packed)
    assert out.data.shape == packed.data.shape and torch.equal(out.batch_sizes, packed.batch_sizes)


def test_bad_p() -> None:
    with pytest.raises(ValueError, match="LockedDropout: p must be in \\[0, 1\\], got 1.5"):
        LockedDropout(1.5)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.nn.locked_dropout"), raise_on_error=True).attempted > 0
