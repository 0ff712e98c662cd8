"""Tests for dropkit.nn.EmbeddingDropout."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn

from dropkit.nn import EmbeddingDropout


def test_state_dict_round_trip_with_plain_embedding() -> None:
    emb = EmbeddingDropout(20, 4, p=0.3, padding_idx=0)
    plain = nn.Embedding(20, 4, padding_idx=0)
    plain.load_state_dict(emb.state_dict())
    emb2 = EmbeddingDropout(20, 4, p=0.3)
    emb2.load_state_dict(plain.state_dict())
    ids = torch.tensor([[0, 3, 19]])
    assert torch.equal(emb2.eval()(ids), plain(ids))


def test_training_drops_whole_rows_and_eval_is_lookup() -> None:
    emb = EmbeddingDropout(100, 6, p=0.5, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(100).repeat(2, 1)
    y = emb(ids)
    dropped = (y == 0).all(-1)
    assert torch.equal(dropped[0], dropped[1])  # same word, same mask
    assert torch.all(dropped | torch.isclose(y, emb.weight[ids] * 2).all(-1))
    assert torch.equal(emb.eval()(ids), emb.weight[ids])


def test_from_embedding_shares_the_weight() -> None:
    base = nn.Embedding(10, 3)
    emb = EmbeddingDropout.from_embedding(base, p=0.2)
    assert emb.weight is base.weight
    assert "p=0.2" in repr(emb)
    with pytest.raises(TypeError, match="got Linear"):
        EmbeddingDropout.from_embedding(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_bad_p() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        EmbeddingDropout(10, 3, p=1.5)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.nn.embedding_dropout"), raise_on_error=True).attempted > 0
