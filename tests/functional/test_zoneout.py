"""Tests for dropkit.functional.zoneout."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch

from dropkit.functional import zoneout


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_each_unit_is_previous_or_new() -> None:
    prev, new = torch.randn(16, 32), torch.randn(16, 32)
    out = zoneout(prev, new, 0.3, generator=gen())
    is_prev, is_new = out == prev, out == new
    assert torch.all(is_prev | is_new)
    assert is_prev.any() and is_new.any()


def test_edges_and_eval_expectation() -> None:
    prev, new = torch.randn(4, 5), torch.randn(4, 5)
    assert zoneout(prev, new, 0.0) is new
    assert zoneout(prev, new, 1.0) is prev
    assert zoneout(prev, new, 0.0, training=False) is new
    assert torch.allclose(zoneout(prev, new, 0.3, training=False), 0.3 * prev + 0.7 * new)


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_keep_previous_fraction_within_binomial_bound(p: float) -> None:
    n = 40000
    out = zoneout(torch.zeros(n), torch.ones(n), p, generator=gen(1))
    frac = (out == 0).float().mean().item()
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_fresh_mask_per_call() -> None:
    g = gen(2)
    prev, new = torch.zeros(256), torch.ones(256)
    assert not torch.equal(zoneout(prev, new, 0.5, generator=g), zoneout(prev, new, 0.5, generator=g))


def test_gradcheck_float64_pinned_generator() -> None:
    prev = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    new = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: zoneout(a, b, 0.4, generator=gen(3)), (prev, new))
    assert torch.autograd.gradcheck(lambda a, b: zoneout(a, b, 0.4, training=False), (prev, new))


def test_bad_inputs() -> None:
    a = torch.randn(2, 3)
    with pytest.raises(ValueError, match="got 1.5"):
        zoneout(a, a, 1.5)
    with pytest.raises(ValueError, match=r"got \(3, 2\)"):
        zoneout(a, torch.randn(3, 2), 0.1)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        zoneout(a.long(), a, 0.1)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.functional.zoneout"), raise_on_error=True).attempted > 0
