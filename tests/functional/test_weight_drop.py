"""Tests for dropkit.functional.weight_drop (DropConnect on a weight tensor)."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch

from dropkit.functional import weight_drop


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_entries_zero_or_scaled_and_identity_cases() -> None:
    w = torch.randn(64, 16) + 4.0
    y = weight_drop(w, 0.25, generator=gen())
    ratio = y / w
    assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / 0.75)))
    assert weight_drop(w, 0.25, training=False) is w
    assert weight_drop(w, 0.0) is w
    assert torch.equal(weight_drop(w, 1.0), torch.zeros_like(w))


def test_row_mode_drops_whole_rows() -> None:
    y = weight_drop(torch.ones(40, 8), 0.5, broadcast_dims=(1,), generator=gen(1))
    assert torch.all((y == 0).all(1) | (y == 2).all(1))


def test_drop_fraction_within_binomial_bound() -> None:
    n, p = 256 * 128, 0.3
    frac = (weight_drop(torch.ones(256, 128), p, generator=gen(2)) == 0).float().mean().item()
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_gradcheck_float64_pinned_generator() -> None:
    w = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: weight_drop(t, 0.5, generator=gen(3)), (w,))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        weight_drop(torch.ones(2, 2), 1.5)
    with pytest.raises(ValueError, match="got 2"):
        weight_drop(torch.ones(2, 2), 0.5, broadcast_dims=(2,))
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        weight_drop(torch.ones(2, 2, dtype=torch.long), 0.5)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.functional.weight_drop"), raise_on_error=True).attempted > 0
