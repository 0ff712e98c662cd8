"""residual_dropout(): x + dropout(branch_out, p)."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import residual_dropout


def test_eval_and_p0_are_exact_sum():
    x, b = torch.randn(4, 5), torch.randn(4, 5)
    assert torch.equal(residual_dropout(x, b, 0.7, training=False), x + b)
    assert torch.equal(residual_dropout(x, b, 0.0), x + b)


def test_skip_path_never_dropped_and_branch_values_exact():
    x = torch.randn(200, 50)
    b = torch.ones(200, 50)
    p = 0.25
    y = residual_dropout(x, b, p, generator=torch.Generator().manual_seed(0))
    delta = y - x
    dropped = delta.abs() < 1e-6
    assert torch.allclose(delta[~dropped], torch.full_like(delta[~dropped], 1 / (1 - p)))
    frac = dropped.float().mean().item()
    assert abs(frac - p) < 6 * math.sqrt(p * (1 - p) / b.numel())


def test_p1_drops_whole_branch():
    x, b = torch.randn(3, 2), torch.randn(3, 2, requires_grad=True)
    y = residual_dropout(x, b, 1.0)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.isfinite(b.grad).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="got 2"):
        residual_dropout(torch.ones(2), torch.ones(2), 2.0)
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        residual_dropout(torch.ones(2), torch.ones(3), 0.1)
