"""Tests for dropkit.functional.locked_dropout."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dropkit.functional import locked_dropout


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("batch_first", [False, True])
def test_values_are_zero_or_scaled_and_mask_is_constant_over_time(batch_first: bool) -> None:
    x = torch.randn(6, 5, 7) + 3.0  # nonzero everywhere
    p = 0.4
    y = locked_dropout(x, p, batch_first=batch_first, generator=gen())
    ratio = y / x
    assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / (1 - p))))
    kept = ratio != 0
    time_dim = 1 if batch_first else 0
    assert torch.equal(kept, kept.narrow(time_dim, 0, 1).expand_as(kept))  # same mask at every step


def test_eval_and_p_zero_are_identity() -> None:
    x = torch.randn(4, 3, 2)
    assert locked_dropout(x, 0.5, training=False) is x
    assert locked_dropout(x, 0.0) is x


def test_p_one_gives_zeros_with_finite_gradient() -> None:
    x = torch.randn(4, 3, 2, requires_grad=True)
    y = locked_dropout(x, 1.0)
    assert torch.equal(y, torch.zeros_like(y))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_mask_is_fresh_per_sequence_and_per_call() -> None:
    x = torch.ones(3, 8, 64)  # 8 identical sequences
    y1 = locked_dropout(x, 0.5, generator=gen(1))
    y2 = locked_dropout(x, 0.5, generator=gen(2))
    assert not torch.equal(y1[0, 0], y1[0, 1])
    assert not torch.equal(y1, y2)
    g = gen(3)
    assert not torch.equal(locked_dropout(x, 0.5, generator=g), locked_dropout(x, 0.5, generator=g))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_fraction_within_binomial_bound(p: float) -> None:
    batch, feat = 200, 100
    n = batch * feat  # independent mask entries (time shares them)
    y = locked_dropout(torch.ones(5, batch, feat), p, generator=gen(4))
    frac = (y[0] == 0).float().mean().item()
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_gradcheck_float64_pinned_generator() -> None:
    x = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: locked_dropout(t, 0.3, generator=gen(5)), (x,))


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_equals_padded_for_the_same_generator(enforce_sorted: bool) -> None:
    lengths = torch.tensor([6, 4, 3]) if enforce_sorted else torch.tensor([3, 6, 1, 4])
    x = torch.randn(6, len(lengths), 5)
    padded = locked_dropout(x, 0.5, generator=gen(6))
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    out, out_lengths = pad_packed_sequence(locked_dropout(packed, 0.5, generator=gen(6)))
    assert torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out[:n, b], padded[:n, b])


def test_packed_eval_and_p_one() -> None:
    packed = pack_padded_sequence(torch.randn(4, 2, 3), torch.tensor([4, 2]))
    assert locked_dropout(packed, 0.5, training=False) is packed
    assert torch.equal(locked_dropout(packed, 1.0).data, torch.zeros_like(packed.data))


def test_bad_inputs() -> None:
    x = torch.randn(3, 2, 4)
    with pytest.raises(ValueError, match="got 1.5"):
        locked_dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"got shape \(3, 4\)"):
        locked_dropout(torch.randn(3, 4), 0.5)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        locked_dropout(torch.ones(3, 2, 4, dtype=torch.long), 0.5)
    with pytest.raises(TypeError, match="got str"):
        locked_dropout(x, "0.5")  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.functional.locked_dropout"), raise_on_error=True).attempted > 0
