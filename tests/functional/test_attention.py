"""attention(): training-aware attention-probability dropout, SDPA fast path and explicit path."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import attention
from dropkit.functional import native_keep_mask
from dropkit.rng import keep_scale


def _qkv(n=2, h=3, L=6, E=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return tuple(torch.randn(n, h, L, E, generator=g, dtype=dtype) for _ in range(3))


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_eval_is_bit_exact_no_dropout_result_on_both_paths():
    q, k, v = _qkv()
    ref = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    for _ in range(3):  # SDPA itself would drop here: dropout_p applies regardless of mode
        assert torch.equal(attention(q, k, v, attn_p=0.9, training=False), ref)
    explicit = attention(q, k, v, attn_p=0.9, training=False, generator=_gen())
    assert torch.allclose(explicit, ref, atol=1e-6)
    assert torch.equal(explicit, attention(q, k, v, attn_p=0.0, training=True, generator=_gen(5)))


def test_p0_training_equals_no_dropout():
    q, k, v = _qkv()
    ref = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(attention(q, k, v, attn_p=0.0, training=True), ref)


def test_explicit_path_replays_the_generator_mask():
    q, k, v = _qkv()
    p = 0.4
    out = attention(q, k, v, attn_p=p, training=True, generator=_gen(3))
    probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    keep = native_keep_mask(probs.shape, p, generator=_gen(3))  # the native mask of dropkit.functional.dropout
    assert torch.allclose(out, (probs * keep * keep_scale(p)) @ v, atol=1e-6)
    assert not torch.allclose(out, attention(q, k, v, attn_p=p, training=True, generator=_gen(4)))


@pytest.mark.parametrize("use_generator", [False, True])
def test_dropped_fraction_within_binomial_bound(use_generator):
    # v = identity turns the output into the dropped probability matrix itself
    L, p = 64, 0.3
    q = torch.randn(4, 1, L, L)
    k = torch.randn(4, 1, L, L)
    v = torch.eye(L).expand(4, 1, L, L)
    gen = _gen(7) if use_generator else None
    out = attention(q, k, v, attn_p=p, training=True, generator=gen)
    n = out.numel()
    frac = (out == 0).float().mean().item()
    assert abs(frac - p) < 6 * math.sqrt(p * (1 - p) / n)
    probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(L), dim=-1)
    kept = out != 0
    assert torch.allclose(out[kept], probs[kept] / (1 - p), rtol=1e-4)


def test_unbiased_mean_over_draws():
    q, k, v = _qkv(n=1, h=1, L=5, E=4)
    ref = attention(q, k, v, attn_p=0.0, training=False)
    draws = torch.stack([attention(q, k, v, attn_p=0.5, training=True, generator=_gen(s)) for s in range(400)])
    se = draws.std(0) / math.sqrt(draws.shape[0])
    assert ((draws.mean(0) - ref).abs() <= 6 * se + 1e-6).all()


def test_masks_and_causal_match_sdpa_in_eval():
    q, k, v = _qkv()
    L = q.shape[-2]
    bool_mask = torch.rand(L, L, generator=_gen(2)) > 0.3
    bool_mask.fill_diagonal_(True)
    float_mask = torch.randn(L, L, generator=_gen(3))
    for kw in ({"mask": bool_mask}, {"mask": float_mask}, {"is_causal": True}):
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=kw.get("mask"), is_causal=kw.get("is_causal", False))
        got = attention(q, k, v, attn_p=0.5, training=False, generator=_gen(), **kw)
        assert torch.allclose(got, ref, atol=1e-5)
    causal = attention(q, k, v, attn_p=0.5, training=True, is_causal=True, generator=_gen())
    v2 = v.clone()
    v2[..., -1, :] += 100.0  # changing the last key's value must not affect earlier queries
    causal2 = attention(q, k, v2, attn_p=0.5, training=True, is_causal=True, generator=_gen())
    assert torch.equal(causal[..., :-1, :], causal2[..., :-1, :])


def test_gradcheck_explicit_path_float64():
    q, k, v = (t.requires_grad_() for t in _qkv(n=1, h=2, L=4, E=3, dtype=torch.float64))

    def fn(q, k, v):
        return attention(q, k, v, attn_p=0.3, training=True, generator=_gen(11))

    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_compile_matches_eager_with_fixed_generator():
    q, k, v = _qkv(n=1, h=2, L=5, E=4)

    def fn(q, k, v, g):
        return attention(q, k, v, attn_p=0.5, training=True, generator=g)

    compiled = torch.compile(fn, backend="aot_eager")
    assert torch.equal(compiled(q, k, v, _gen(9)), fn(q, k, v, _gen(9)))


def test_bad_inputs():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="got 1.5"):
        attention(q, k, v, attn_p=1.5, training=True)
    with pytest.raises(ValueError, match="is_causal=True"):
        attention(q, k, v, attn_p=0.1, training=True, mask=torch.ones(6, 6, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match=r"got shapes \(2, 3, 6, 8\) and \(2, 3, 6, 5\)"):
        attention(q, k[..., :5], v, attn_p=0.1, training=True)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        attention(q.long(), k, v, attn_p=0.1, training=True)
