"""Tests for dropkit.functional.embedding_dropout."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import embedding_dropout


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_rows_dropped_whole_and_same_word_same_mask() -> None:
    vocab, dim, p = 50, 6, 0.5
    w = torch.randn(vocab, dim) + 5.0
    ids = torch.randint(0, vocab, (8, 20), generator=gen(0))
    y = embedding_dropout(ids, w, p, generator=gen(1))
    ref = F.embedding(ids, w)
    dropped = (y == 0).all(-1)
    kept = torch.isclose(y, ref / (1 - p)).all(-1)
    assert torch.all(dropped ^ kept)  # each looked-up row is entirely zero or entirely scaled
    for word in ids.unique().tolist():
        states = dropped[ids == word]
        assert states.all() or (~states).all()  # one mask value per word in the batch
    assert dropped.any() and kept.any()


def test_eval_and_p_zero_equal_plain_embedding() -> None:
    w, ids = torch.randn(10, 3), torch.tensor([[1, 2, 3]])
    assert torch.equal(embedding_dropout(ids, w, 0.5, training=False), F.embedding(ids, w))
    assert torch.equal(embedding_dropout(ids, w, 0.0), F.embedding(ids, w))


def test_p_one_zeros_and_finite_gradient() -> None:
    w = torch.randn(10, 3, requires_grad=True)
    y = embedding_dropout(torch.tensor([1, 4]), w, 1.0)
    assert torch.equal(y, torch.zeros(2, 3))
    y.sum().backward()
    assert torch.isfinite(w.grad).all()


def test_gradient_only_reaches_looked_up_kept_rows() -> None:
    w = torch.randn(30, 4, requires_grad=True)
    ids = torch.tensor([[0, 3, 3, 7], [7, 9, 0, 12]])
    y = embedding_dropout(ids, w, 0.5, generator=gen(2))
    y.sum().backward()
    looked_up = torch.zeros(30, dtype=torch.bool)
    looked_up[ids.flatten()] = True
    assert torch.equal(w.grad[~looked_up], torch.zeros_like(w.grad[~looked_up]))
    for word in ids.unique().tolist():
        row_kept = bool((y[ids == word] != 0).any())
        count = int((ids == word).sum())
        expected = torch.full((4,), count / 0.5) if row_kept else torch.zeros(4)
        assert torch.allclose(w.grad[word], expected)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropped_vocabulary_fraction_within_binomial_bound(p: float) -> None:
    n = 20000
    w = torch.ones(n, 1)
    y = embedding_dropout(torch.arange(n), w, p, generator=gen(3))
    frac = (y == 0).float().mean().item()
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_fresh_mask_per_call() -> None:
    w, ids = torch.ones(200, 2), torch.arange(200)
    g = gen(4)
    assert not torch.equal(embedding_dropout(ids, w, 0.5, generator=g), embedding_dropout(ids, w, 0.5, generator=g))


def test_gradcheck_float64_pinned_generator() -> None:
    w = torch.randn(12, 3, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([[1, 5, 5], [11, 0, 1]])
    assert torch.autograd.gradcheck(lambda t: embedding_dropout(ids, t, 0.4, generator=gen(5)), (w,))


def test_padding_idx_row_stays_zero() -> None:
    w = torch.randn(10, 3)
    w[0] = 0
    y = embedding_dropout(torch.tensor([0, 0, 2]), w, 0.3, padding_idx=0)
    assert torch.equal(y[:2], torch.zeros(2, 3))


def test_bad_inputs() -> None:
    w = torch.randn(10, 3)
    with pytest.raises(ValueError, match="got 1.5"):
        embedding_dropout(torch.tensor([1]), w, 1.5)
    with pytest.raises(TypeError, match="got dtype torch.float32"):
        embedding_dropout(torch.tensor([1.0]), w, 0.5)
    with pytest.raises(ValueError, match=r"got shape \(10,\)"):
        embedding_dropout(torch.tensor([1]), torch.randn(10), 0.5)
    with pytest.raises(TypeError, match="got list"):
        embedding_dropout([1, 2], w, 0.5)  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.functional.embedding_dropout"), raise_on_error=True).attempted > 0
