"""L2 penalty, decoupled weight decay and max-norm act on weights only, with the documented maths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.regularizers import apply_max_norm, decay_param_groups, iter_weights, l2_penalty


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.LayerNorm(8), nn.Linear(8, 3))


def test_weights_exclude_biases_and_norm_parameters() -> None:
    names = [n for n, _ in iter_weights(_model())]
    assert names == ["0.weight", "3.weight", "5.weight"]


def test_l2_penalty_value_and_gradient() -> None:
    model = _model()
    lam = 0.01
    expected = lam * sum(float((w.detach() ** 2).sum()) for _, w in iter_weights(model))
    penalty = l2_penalty(model, lam)
    assert penalty.item() == pytest.approx(expected, rel=1e-6)
    penalty.backward()
    for name, param in model.named_parameters():
        if name in ("0.weight", "3.weight", "5.weight"):
            torch.testing.assert_close(param.grad, 2 * lam * param.detach())
        else:
            assert param.grad is None
    assert float(l2_penalty(model, 0.0)) == 0.0
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -1"):
        l2_penalty(model, -1)


def test_decoupled_weight_decay_groups_only_decay_weights() -> None:
    model = _model()
    groups = decay_param_groups(model, 0.1)
    decayed = {id(p) for p in groups[0]["params"]}
    assert decayed == {id(w) for _, w in iter_weights(model)}
    assert groups[1]["weight_decay"] == 0.0
    # One AdamW step with zero gradients shrinks weights by lr * wd and leaves biases alone.
    opt = torch.optim.AdamW(groups, lr=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        factor = 1 - 0.5 * 0.1 if n in ("0.weight", "3.weight", "5.weight") else 1.0
        torch.testing.assert_close(p.detach(), before[n] * factor)
    with pytest.raises(ValueError, match="got -0.5"):
        decay_param_groups(model, -0.5)


def test_max_norm_projects_each_unit_and_leaves_small_ones() -> None:
    layer = nn.Linear(5, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4, 0, 0, 0], [0.1, 0, 0, 0, 0], [0, 0, 6, 8, 0], [1, 1, 1, 1, 1]]))
        layer.bias.fill_(100.0)
    clipped = apply_max_norm(layer, 2.0)
    norms = layer.weight.norm(dim=1)
    assert clipped == 3
    torch.testing.assert_close(norms, torch.tensor([2.0, 0.1, 2.0, 2.0]))
    torch.testing.assert_close(layer.weight[0], torch.tensor([1.2, 1.6, 0, 0, 0]))  # direction kept
    assert torch.all(layer.bias == 100.0)
    conv = nn.Conv2d(2, 3, 3)
    with torch.no_grad():
        conv.weight.mul_(100)
    apply_max_norm(conv, 1.5)
    assert torch.all(conv.weight.flatten(1).norm(dim=1) <= 1.5 + 1e-5)
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0, got 0"):
        apply_max_norm(layer, 0)
