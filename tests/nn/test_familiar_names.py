"""Defaults and argument names users bring from timm: ``DropPath()`` drops nothing (timm's default 0),
``MultiHeadSelfAttention`` takes timm's ``num_heads`` / ``attn_drop`` / ``proj_drop`` (the old names still work)."""

from __future__ import annotations

import pytest
import torch

from dropkit.nn import DropPath, MultiHeadSelfAttention


def test_drop_path_defaults_to_no_drop_as_in_timm() -> None:
    m = DropPath().train()
    x = torch.randn(64, 8)
    assert m.p == 0.0 and torch.equal(m(x), x)  # before: p=0.1, so about 6 of 64 rows were zeroed


def test_attention_takes_timm_names_and_the_old_ones() -> None:
    new = MultiHeadSelfAttention(16, num_heads=4, attn_drop=0.3, proj_drop=0.2, qkv_bias=False)
    old = MultiHeadSelfAttention(16, heads=4, attn_p=0.3, proj_p=0.2, qkv_bias=False)
    positional = MultiHeadSelfAttention(16, 4, attn_drop=0.3, proj_drop=0.2, qkv_bias=False)
    for m in (new, old, positional):
        assert (m.heads, m.attn_p, m.proj_p, m.qkv.bias) == (4, 0.3, 0.2, None)
    old.load_state_dict(new.state_dict())  # the same parameters: the same module
    x = torch.randn(2, 5, 16)
    assert torch.equal(new.eval()(x), old.eval()(x))
    with pytest.raises(TypeError, match=r"give attn_drop or attn_p \(its earlier name\), not both"):
        MultiHeadSelfAttention(16, attn_drop=0.1, attn_p=0.2)
    with pytest.raises(ValueError, match="got 1.5"):
        MultiHeadSelfAttention(16, attn_drop=1.5)
