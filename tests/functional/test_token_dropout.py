"""token_dropout(): timm PatchDropout semantics."""

from __future__ import annotations

import pytest
import torch

from dropkit.functional import num_kept_tokens, token_dropout


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_eval_and_p0_identity():
    x = torch.randn(3, 9, 4)
    assert token_dropout(x, 0.5, training=False) is x
    assert token_dropout(x, 0.0) is x
    y, idx = token_dropout(x, 0.5, num_prefix_tokens=1, training=False, return_indices=True)
    assert y is x and torch.equal(idx, torch.arange(8).expand(3, 8))


@pytest.mark.parametrize("L,p,expected", [(10, 0.7, 3), (10, 0.5, 5), (16, 0.75, 4), (7, 0.99, 1), (49, 0.1, 44)])
def test_keeps_exactly_the_right_count(L, p, expected):
    assert num_kept_tokens(L, p) == expected
    x = torch.randn(2, L + 1, 3)
    y = token_dropout(x, p, num_prefix_tokens=1, generator=_gen())
    assert y.shape == (2, 1 + expected, 3)


def test_prefix_kept_and_tokens_are_distinct_originals():
    n, L, P = 5, 20, 2
    x = torch.arange(n * L, dtype=torch.float32).view(n, L, 1).expand(n, L, 3).contiguous()
    y, idx = token_dropout(x, 0.6, num_prefix_tokens=P, return_indices=True, generator=_gen(1))
    assert torch.equal(y[:, :P], x[:, :P])
    assert idx.shape == (n, num_kept_tokens(L - P, 0.6))
    for i in range(n):
        assert len(set(idx[i].tolist())) == idx.shape[1]  # no token twice
        assert torch.equal(y[i, P:], x[i, P:][idx[i]])  # unscaled originals, from the same sample


def test_ordered_keeps_order_and_masks_differ_between_samples():
    x = torch.arange(64.0).view(1, 64, 1).expand(8, 64, 1).contiguous()
    _, idx = token_dropout(x, 0.5, ordered=True, return_indices=True, generator=_gen(2))
    assert (idx[:, 1:] > idx[:, :-1]).all()
    assert len({tuple(r.tolist()) for r in idx}) > 1


def test_uniform_selection_frequency():
    # each of L tokens is kept with probability K / L; check the counts against a 6-sigma bound
    L, trials = 10, 2000
    x = torch.zeros(trials, L, 1)
    _, idx = token_dropout(x, 0.7, return_indices=True, generator=_gen(3))
    counts = torch.bincount(idx.flatten(), minlength=L).float()
    k = num_kept_tokens(L, 0.7)
    mean = trials * k / L
    sd = (trials * (k / L) * (1 - k / L)) ** 0.5
    assert ((counts - mean).abs() < 6 * sd).all()


def test_gradient_flows_to_kept_tokens_only():
    x = torch.randn(2, 8, 3, requires_grad=True)
    y, idx = token_dropout(x, 0.5, return_indices=True, generator=_gen(4))
    y.sum().backward()
    kept = torch.zeros(2, 8, dtype=torch.bool)
    kept.scatter_(1, idx, True)
    assert torch.equal(x.grad[..., 0] != 0, kept)


def test_bad_inputs():
    with pytest.raises(ValueError, match="got 1"):
        token_dropout(torch.randn(2, 5, 3), 1.0)
    with pytest.raises(ValueError, match=r"got shape \(2, 5\)"):
        token_dropout(torch.randn(2, 5), 0.5)
    with pytest.raises(ValueError, match="got 5"):
        token_dropout(torch.randn(2, 5, 3), 0.5, num_prefix_tokens=5)
    with pytest.raises(ValueError, match="got -1"):
        token_dropout(torch.randn(2, 5, 3), 0.5, num_prefix_tokens=-1)
