"""The small transformer: embeddings, pooling, where each dropout sits, registry and config wiring."""

from __future__ import annotations

import pytest
import torch

from dropkit.models import build_model, model_names
from dropkit.models.transformer import Transformer
from dropkit.nn import DropPath, MultiHeadSelfAttention, ResidualDropout, TokenDropout
from dropkit.train.config import Config


@pytest.mark.parametrize(
    "shape,patch,tokens",
    [((1, 28, 28), 7, 16), ((1, 28, 28), 4, 49), ((40,), 4, 10), ((2, 12), 3, 4)],
)
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_shapes(shape, patch, tokens, pool):
    model = Transformer(shape, 10, d_model=16, heads=2, depth=2, patch=patch, pool=pool)
    assert model.embed.num_tokens == tokens
    assert model.pos_embed.shape == (1, tokens + (pool == "cls"), 16)
    assert model(torch.randn(3, *shape)).shape == (3, 10)


def test_eval_is_deterministic_and_equals_the_no_dropout_model():
    kw = dict(d_model=16, heads=2, depth=3, patch=7)
    noisy = Transformer((1, 28, 28), 10, attn_p=0.5, resid_p=0.5, drop_path=0.5, token_p=0.5, **kw).eval()
    clean = Transformer((1, 28, 28), 10, **kw).eval()
    clean.load_state_dict(noisy.state_dict())
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(noisy(x), noisy(x))
    assert torch.equal(noisy(x), clean(x))
    noisy.train()
    assert not torch.equal(noisy(x), noisy(x))


def test_dropout_placement_and_depth_rates():
    model = Transformer((40,), 5, d_model=16, heads=2, depth=4, patch=4, attn_p=0.1, resid_p=0.2, drop_path=0.3, token_p=0.25)
    assert isinstance(model.token_drop, TokenDropout) and model.token_drop.num_prefix_tokens == 1
    assert model.token_drop.p == 0.25
    for i, block in enumerate(model.blocks):
        assert isinstance(block.attn, MultiHeadSelfAttention)
        assert block.attn.attn_p == 0.1 and block.attn.proj_p == 0.2
        assert isinstance(block.mlp_residual, ResidualDropout) and block.mlp_residual.p == 0.2
        assert isinstance(block.drop_path1, DropPath)
        assert block.drop_path1.p == block.drop_path2.p == pytest.approx(0.1 * i)


def test_token_dropout_runs_on_fewer_tokens_in_training():
    model = Transformer((1, 28, 28), 10, d_model=16, heads=2, depth=1, patch=7, token_p=0.75)
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    model(torch.randn(2, 1, 28, 28))
    model.eval()(torch.randn(2, 1, 28, 28))
    assert seen == [1 + 4, 1 + 16]


def test_registry_and_config():
    assert "transformer" in model_names()
    cfg = Config(model="transformer", d_model=32, heads=4, depth=2, patch=4, attn_p=0.2, resid_p=0.0, drop_path=0.1, token_p=0.5, pool="mean")
    model = build_model(cfg, (40,), 10)
    assert isinstance(model, Transformer) and model.pool == "mean" and len(model.blocks) == 2
    assert model.blocks[1].drop_path1.p == pytest.approx(0.1) and model.token_drop.p == 0.5
    assert model(torch.randn(2, 40)).shape == (2, 10)


def test_learns_a_toy_task():
    torch.manual_seed(0)
    x = torch.randn(64, 40)
    y = (x[:, :20].sum(1) > x[:, 20:].sum(1)).long()
    model = Transformer((40,), 2, d_model=16, heads=2, depth=1, patch=4, attn_p=0.1, resid_p=0.1, drop_path=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert torch.nn.functional.cross_entropy(model(x), y).item() < 0.8 * first


def test_bad_arguments():
    with pytest.raises(ValueError, match="got 5"):
        Transformer((1, 28, 28), 10, patch=5)
    with pytest.raises(ValueError, match="got 30"):
        Transformer((40,), 10, d_model=30, heads=4)
    with pytest.raises(ValueError, match="got 'max'"):
        Transformer((40,), 10, pool="max")
    with pytest.raises(ValueError, match="got 1"):
        Transformer((40,), 10, token_p=1.0)
    with pytest.raises(ValueError, match=r"got \(1, 2, 28, 28\)"):
        Transformer((1, 2, 28, 28), 10)
