"""ResidualDropout and RDropLoss modules."""

from __future__ import annotations

import pytest
import torch

from dropkit.functional import r_drop_loss, residual_dropout
from dropkit.nn import RDropLoss, ResidualDropout


def test_residual_module_matches_functional():
    x, b = torch.randn(4, 6), torch.randn(4, 6)
    m = ResidualDropout(0.3, generator=torch.Generator().manual_seed(2))
    ref = residual_dropout(x, b, 0.3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(m(x, b), ref)
    assert torch.equal(m.eval()(x, b), x + b)
    assert repr(m) == "ResidualDropout(p=0.3)"


def test_rdrop_module_matches_functional():
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    y = torch.randint(0, 4, (5,))
    assert torch.equal(RDropLoss(alpha=0.7)(a, b, y), r_drop_loss(a, b, y, 0.7))


def test_bad_arguments():
    with pytest.raises(ValueError, match="got 1.1"):
        ResidualDropout(1.1)
    with pytest.raises(ValueError, match="got -2"):
        RDropLoss(alpha=-2.0)
