"""r_drop_loss(), symmetric_kl(), r_drop_forward()."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import r_drop_forward, r_drop_loss, symmetric_kl


def test_symmetric_kl_matches_kl_div_both_ways():
    a, b = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    la, lb = F.log_softmax(a, 1), F.log_softmax(b, 1)
    kl_ab = F.kl_div(lb, la, log_target=True, reduction="none").sum(1)  # KL(Pa || Pb)
    kl_ba = F.kl_div(la, lb, log_target=True, reduction="none").sum(1)
    assert torch.allclose(symmetric_kl(a, b), 0.5 * (kl_ab + kl_ba))
    assert torch.allclose(symmetric_kl(a, b), symmetric_kl(b, a))


def test_loss_is_ce_plus_alpha_kl():
    a, b = torch.randn(8, 4), torch.randn(8, 4)
    y = torch.randint(0, 4, (8,))
    alpha = 2.5
    expected = 0.5 * (F.cross_entropy(a, y) + F.cross_entropy(b, y)) + alpha * symmetric_kl(a, b).mean()
    assert torch.allclose(r_drop_loss(a, b, y, alpha), expected)
    assert torch.allclose(r_drop_loss(a, a, y, alpha), F.cross_entropy(a, y))


def test_ignore_index_positions_excluded_from_both_terms():
    a, b = torch.randn(2, 3, 5), torch.randn(2, 3, 5)  # (N, C, T)
    y = torch.randint(0, 3, (2, 5))
    y[0, 4] = y[1, 0] = -100
    full = r_drop_loss(a, b, y, 1.0)
    b2 = b.clone()
    b2[0, :, 4] += 10.0
    b2[1, :, 0] -= 7.0
    assert torch.allclose(full, r_drop_loss(a, b2, y, 1.0))


def test_forward_runs_two_different_passes_and_gradients_flow():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3))
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    for concat in (True, False):
        loss, z1, z2 = r_drop_forward(model, x, y, alpha=1.0, concat=concat)
        assert z1.shape == z2.shape == (10, 3) and not torch.equal(z1, z2)
        assert torch.allclose(loss, r_drop_loss(z1, z2, y, 1.0))
        model.zero_grad()
        loss.backward()
        assert model[0].weight.grad.abs().sum() > 0


def test_bad_inputs():
    z = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="got -1"):
        r_drop_loss(z, z, y, alpha=-1.0)
    with pytest.raises(ValueError, match=r"got shape \(4, 2\)"):
        r_drop_loss(z, z[:, :2], y)
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        r_drop_loss(z, z, y[:3])
    with pytest.raises(ValueError, match="got eval mode"):
        r_drop_forward(torch.nn.Linear(3, 3).eval(), z, y)
