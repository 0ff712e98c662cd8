"""mc_mode: stochastic regularisers on (module, functional, DropPath), normalisation untouched, flags restored.

TimmStyleAttention and TorchvisionStyleBlock copy the two patterns MC dropout usually misses, so they are
tested even where timm or torchvision are not installed: timm's SDPA call
``dropout_p=self.attn_drop.p if self.training else 0.`` (keyed on the attention module's flag) and
torchvision's ``stochastic_depth(x, p, "row", self.training)`` inside a BatchNorm residual block. The real
timm ViT and torchvision EfficientNet come from the ``timm`` / ``torchvision`` fixtures of
``tests/surgery/conftest.py`` (which work around the PyPI torchvision wheel beside a CPU-only torch).
"""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn


def import_or_skip(name: str) -> types.ModuleType:
    """Import ``name`` or skip (used for transformers; timm and torchvision come from conftest fixtures)."""
    try:
        return __import__(name)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"{name} cannot be imported here: {type(exc).__name__}: {exc}")


class TimmStyleAttention(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2, attn_drop: float = 0.3) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class TimmStyleBlock(nn.Module):
    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = TimmStyleAttention(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.norm(x))


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, mode "row"."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class TorchvisionStyleBlock(nn.Module):
    def __init__(self, c: int = 4, p: float = 0.5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.sd = StochasticDepth(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sd(torch.relu(self.bn(self.conv(x))))


def bn_dropout_net() -> nn.Sequential:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    net.train()
    with torch.no_grad():  # give BN non-trivial running statistics
        for _ in range(3):
            net(torch.randn(32, 6) * 2 + 1)
    return net.eval()


def naive_mc(model: nn.Module) -> None:
    """What many codebases do: eval everything, then train() only nn.Dropout modules."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()


def flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def norm_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def check_mc_mode(model: nn.Module, x, call=lambda m, x: m(x)) -> None:
    """Two calls differ inside mc_mode, norms stay in eval, state untouched, exact output after exit."""
    from dropkit.surgery import is_normalization, mc_mode

    before_flags = flags(model)
    before_state = norm_state(model)
    with torch.no_grad():
        ref = call(model, x)
        with mc_mode(model):
            norms = [m for m in model.modules() if is_normalization(m)]
            assert all(not m.training for m in norms)
            a, b = call(model, x), call(model, x)
        after = call(model, x)
    assert not torch.equal(a, b)
    assert torch.equal(after, ref)
    assert flags(model) == before_flags
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in before_state.items())


def test_sequential_batchnorm_dropout_stats_untouched() -> None:
    from dropkit.surgery import mc_mode

    net = bn_dropout_net()
    bn = net[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    check_mc_mode(net, torch.randn(8, 6))
    with mc_mode(net):
        net(torch.randn(8, 6) * 5)  # with grad, batch of different statistics
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])


def test_naive_toggle_misses_functional_attention_dropout_mc_mode_does_not() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(TimmStyleBlock(), TimmStyleBlock()).eval()
    x = torch.randn(3, 5, 16)
    naive_mc(model)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # the attention dropout never fires
    model.eval()
    check_mc_mode(model, x)


def test_torchvision_style_stochastic_depth_with_batchnorm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(TorchvisionStyleBlock(), TorchvisionStyleBlock())
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 4, 6, 6))
    model.eval()
    check_mc_mode(model, torch.randn(4, 4, 6, 6))


def test_mixed_flags_are_restored_exactly_even_after_an_error() -> None:
    from dropkit.surgery import mc_mode

    net = bn_dropout_net()
    net[0].train()
    net[1].train()  # BN in train: mc_mode must still put it in eval inside, and back to train after
    net[4].train()
    before = flags(net)
    with pytest.raises(RuntimeError, match="boom"):
        with mc_mode(net):
            assert not net[1].training and net[3].training
            raise RuntimeError("boom")
    assert flags(net) == before


def test_keep_eval_and_shared_modules() -> None:
    from dropkit.surgery import mc_mode

    shared = nn.Dropout(0.5)
    net = nn.Sequential(nn.Linear(4, 4), shared, nn.Linear(4, 4), shared).eval()
    with mc_mode(net, keep_eval=nn.Linear):
        assert [m.training for m in net] == [False, True, False, True]
    with mc_mode(net, keep_eval=lambda name, m: name == "1"):
        assert not shared.training
    assert not any(flags(net))
    with pytest.raises(TypeError, match="keep_eval must be"):
        with mc_mode(net, keep_eval=3):
            pass


def test_timm_vit_from_config(timm) -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                              drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.1).eval()
    check_mc_mode(model, torch.randn(2, 3, 32, 32))
    # attention dropout alone (functional SDPA dropout keyed on Attention.training) makes passes differ
    only_attn = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                                  attn_drop_rate=0.3).eval()
    x = torch.randn(2, 3, 32, 32)
    naive_mc(only_attn)
    with torch.no_grad():
        assert torch.equal(only_attn(x), only_attn(x))
    only_attn.eval()
    check_mc_mode(only_attn, x)


def test_huggingface_bert_from_config() -> None:
    transformers = import_or_skip("transformers")
    for impl in ("sdpa", "eager"):
        config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=16,
                                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.3,
                                         attn_implementation=impl)
        torch.manual_seed(0)
        model = transformers.BertModel(config).eval()
        assert model.config._attn_implementation == impl
        ids = torch.randint(0, 50, (2, 7))
        check_mc_mode(model, ids, call=lambda m, x: m(x).last_hidden_state)
        if impl == "sdpa":
            naive_mc(model)
            with torch.no_grad():
                assert torch.equal(model(ids).last_hidden_state, model(ids).last_hidden_state)


def test_torchvision_efficientnet(torchvision) -> None:
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b0(num_classes=5, stochastic_depth_prob=0.2)
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    model.eval()
    check_mc_mode(model, torch.randn(2, 3, 32, 32))


class RunningScale(nn.Module):
    """A custom layer with running statistics and a name no normalisation pattern matches."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(0.9).add_(0.1 * x.mean(0))
        return x - self.running_mean


def test_a_module_with_running_buffers_stays_in_eval_whatever_its_name() -> None:
    from dropkit.surgery import mc_mode

    net = nn.Sequential(nn.Linear(4, 4), RunningScale(4), nn.Dropout(0.5)).eval()
    with torch.no_grad():
        net[1].running_mean.fill_(0.25)
    with mc_mode(net):
        assert [m.training for m in net] == [True, False, True]
        net(torch.randn(8, 4) + 10.0)
    assert torch.equal(net[1].running_mean, torch.full((4,), 0.25))
