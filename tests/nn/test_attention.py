"""MultiHeadSelfAttention: eval is deterministic (the SDPA-in-eval bug fixed)."""

from __future__ import annotations

import pytest
import torch

from dropkit.nn import MultiHeadSelfAttention


def _no_dropout_twin(m: MultiHeadSelfAttention) -> MultiHeadSelfAttention:
    twin = MultiHeadSelfAttention(m.dim, m.heads)
    twin.load_state_dict(m.state_dict())
    return twin


def test_eval_deterministic_and_equal_to_no_dropout_module():
    m = MultiHeadSelfAttention(16, heads=4, attn_p=0.9, proj_p=0.5).eval()
    x = torch.randn(3, 7, 16)
    assert torch.equal(m(x), m(x))
    assert torch.equal(m(x), _no_dropout_twin(m).eval()(x))


def test_training_is_stochastic_and_generator_reproducible():
    x = torch.randn(2, 5, 16)
    m = MultiHeadSelfAttention(16, heads=2, attn_p=0.5, proj_p=0.2)
    assert not torch.equal(m(x), m(x))
    a = MultiHeadSelfAttention(16, heads=2, attn_p=0.5, proj_p=0.2, generator=torch.Generator().manual_seed(1))
    b = MultiHeadSelfAttention(16, heads=2, attn_p=0.5, proj_p=0.2, generator=torch.Generator().manual_seed(1))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x))


def test_mask_blocks_padded_keys():
    m = MultiHeadSelfAttention(8, heads=2).eval()
    x = torch.randn(1, 4, 8)
    keep = torch.tensor([True, True, True, False]).view(1, 1, 1, 4)
    x2 = x.clone()
    x2[0, 3] += 5.0  # the masked key/value changes; the other tokens' outputs must not
    assert torch.allclose(m(x, keep)[:, :3], m(x2, keep)[:, :3], atol=1e-6)


def test_rates_settable_and_repr():
    m = MultiHeadSelfAttention(8, heads=2, attn_p=0.1, proj_p=0.2)
    m.proj_p = 0.3
    assert m.proj_drop.p == 0.3
    assert "attn_p=0.1, proj_p=0.3" in repr(m)


def test_bad_arguments():
    with pytest.raises(ValueError, match="got 10"):
        MultiHeadSelfAttention(10, heads=4)
    with pytest.raises(ValueError, match="got 1.2"):
        MultiHeadSelfAttention(8, heads=2, attn_p=1.2)
    with pytest.raises(ValueError, match="got -0.1"):
        MultiHeadSelfAttention(8, heads=2, proj_p=-0.1)
