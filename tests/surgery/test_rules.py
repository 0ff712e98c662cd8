"""Surgery rules: select by type / name / position, replace, insert after layers, re-rate, swap torch -> dropkit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.nn import Dropout as DkDropout
from dropkit.surgery import (
    Select,
    get_rate,
    insert_dropout,
    is_stochastic,
    remove_inserted_dropout,
    replace_modules,
    select_modules,
    set_dropout_rate,
    swap_dropout,
)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 8), nn.Dropout(0.4))
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.encoder(x)))


def names(pairs: list[tuple[str, nn.Module]]) -> list[str]:
    return [n for n, _ in pairs]


def test_select_by_type_glob_regex_position_and_predicate() -> None:
    net = Net()
    assert names(select_modules(net, Select(types=nn.Linear))) == ["encoder.0", "encoder.3", "head"]
    assert names(select_modules(net, Select(name="encoder.*"))) == ["encoder.0", "encoder.1", "encoder.2",
                                                                     "encoder.3", "encoder.4"]
    assert names(select_modules(net, Select(regex=r"^encoder\.[24]$"))) == ["encoder.2", "encoder.4"]
    assert names(select_modules(net, Select(types=nn.Linear, positions=-1))) == ["head"]
    assert names(select_modules(net, Select(types=nn.Linear, positions=[0, 2]))) == ["encoder.0", "head"]
    assert names(select_modules(net, Select(types=nn.Linear, positions=slice(1, None)))) == ["encoder.3", "head"]
    assert names(select_modules(net, Select(types=(nn.Dropout, nn.BatchNorm1d), name="encoder.*"))) == [
        "encoder.2", "encoder.4"]
    assert names(select_modules(net, Select(where=lambda n, m: get_rate(m) == 0.4))) == ["encoder.4"]
    assert names(select_modules(net, Select(types=Net))) == []
    assert names(select_modules(net, Select(types=Net, include_root=True))) == [""]


def test_select_bad_rules() -> None:
    with pytest.raises(ValueError, match="regex must be a valid regular expression, got '\\('"):
        Select(regex="(")
    with pytest.raises(TypeError, match="types must be a class"):
        Select(types="Linear")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="positions must be"):
        Select(positions="0")  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="positions must be in \\[-3, 2\\] for 3 matching modules, got 3"):
        select_modules(Net(), Select(types=nn.Linear, positions=3))
    with pytest.raises(TypeError, match="rule must be a Select"):
        select_modules(Net(), "Linear")  # type: ignore[arg-type]


def test_replace_keeps_training_flag_and_rejects_root() -> None:
    net = Net().eval()
    done = replace_modules(net, Select(types=nn.ReLU), lambda name, old: nn.GELU())
    assert list(done) == ["encoder.1"] and isinstance(net.encoder[1], nn.GELU) and not net.encoder[1].training
    with pytest.raises(ValueError, match="must not select the model itself"):
        replace_modules(net, Select(include_root=True, types=Net), lambda n, m: nn.Identity())
    with pytest.raises(TypeError, match="factory must return an nn.Module or None"):
        replace_modules(net, Select(types=nn.GELU), lambda n, m: 3)  # type: ignore[arg-type,return-value]


def test_insert_after_linear_layers_keeps_keys_and_eval_outputs() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    x = torch.randn(64, 6)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    ref = net(x)
    assert insert_dropout(net, Select(types=nn.Linear, positions=slice(0, -1)), p=0.5) == ["0", "2"]
    assert list(net.state_dict()) == list(state)
    assert torch.equal(net(x), ref)  # eval: identity
    fresh = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    insert_dropout(fresh, Select(types=nn.Linear, positions=slice(0, -1)), p=0.5)
    fresh.load_state_dict(state, strict=True)  # old checkpoints load into the new model
    # in training the first layer's output is 0 or 2 * value (p = 0.5), with roughly half dropped
    net.train()
    captured = {}
    handle = net[1].register_forward_pre_hook(lambda m, a: captured.update(h=a[0].detach()))
    net(x)
    handle.remove()
    pre = net[0].weight @ x.T
    h, full = captured["h"], (pre.T + net[0].bias)
    dropped = h == 0
    assert torch.allclose(h[~dropped], 2 * full[~dropped], atol=1e-5)
    n = h.numel()
    assert abs(dropped.float().mean().item() - 0.5) < 6 * (0.25 / n) ** 0.5
    assert is_stochastic(net[0].dropout_after)
    with pytest.raises(ValueError, match="without inserted dropout, got '0'"):
        insert_dropout(net, Select(types=nn.Linear, positions=0))
    assert remove_inserted_dropout(net) == ["0", "2"]
    net.eval()
    assert torch.equal(net(x), ref) and list(net.state_dict()) == list(state)
    with pytest.raises(ValueError, match="insert_dropout: p must be in \\[0, 1\\], got 1.5"):
        insert_dropout(net, Select(types=nn.Linear), p=1.5)


def test_set_dropout_rate_constant_and_function() -> None:
    net = Net()
    assert set_dropout_rate(net, 0.1) == {"encoder.2": (0.2, 0.1), "encoder.4": (0.4, 0.1)}
    assert set_dropout_rate(net, lambda n, m, old: old * 2, Select(name="encoder.4")) == {"encoder.4": (0.1, 0.2)}
    assert net.encoder[4].p == 0.2
    zero = nn.Sequential(nn.Dropout(0.0), nn.MultiheadAttention(8, 2, dropout=0.0), nn.Linear(2, 2))
    assert set(set_dropout_rate(zero, 0.25)) == {"0", "1"}  # rate-0 regularisers are re-rated too
    assert zero[1].dropout == 0.25 and is_stochastic(zero[1])
    with pytest.raises(ValueError, match="set_dropout_rate: p must be in \\[0, 1\\], got 2"):
        set_dropout_rate(net, 2.0)
    with pytest.raises(ValueError, match="got -0.5"):
        set_dropout_rate(net, lambda n, m, old: -0.5)


def test_swap_torch_to_dropkit_same_keys_rates_flags_and_eval_outputs() -> None:
    torch.manual_seed(0)
    net = Net()
    net.train()
    with torch.no_grad():
        net(torch.randn(16, 6))
    net.eval()
    net.encoder[2].train()  # mixed flags survive the swap
    x = torch.randn(5, 6)
    keys = list(net.state_dict())
    net.encoder[2].eval()
    ref = net(x)
    net.encoder[2].train()
    done = swap_dropout(net)
    assert sorted(done) == ["encoder.2", "encoder.4"]
    assert all(type(new) is DkDropout for _, new in done.values())
    assert [net.encoder[2].p, net.encoder[4].p] == [0.2, 0.4]
    assert net.encoder[2].training and not net.encoder[4].training
    assert list(net.state_dict()) == keys
    net.eval()
    assert torch.equal(net(x), ref)
    assert swap_dropout(net) == {}  # nothing left to swap


def test_swap_restricted_by_rule_and_bad_mapping() -> None:
    net = Net()
    assert list(swap_dropout(net, Select(positions=-1))) == ["encoder.4"]
    assert type(net.encoder[2]) is nn.Dropout
    with pytest.raises(RuntimeError, match="state_dict keys"):
        swap_dropout(net, mapping={nn.Dropout: lambda old: nn.Linear(1, 1)})
    assert type(net.encoder[2]) is nn.Dropout  # restored


def test_swap_on_timm_style_attention_keeps_functional_rate() -> None:
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location("mc_models", pathlib.Path(__file__).with_name("test_mc_mode.py"))
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    block = mod.TimmStyleBlock().eval()
    swap_dropout(block)
    assert type(block.attn.attn_drop) is DkDropout and block.attn.attn_drop.p == 0.3
    mod.check_mc_mode(block, torch.randn(2, 5, 16))
