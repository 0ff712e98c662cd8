"""Tests for dropkit.nn.weight_drop: weight drop through parametrize, fused kernel kept."""

from __future__ import annotations

import copy
import doctest
import importlib
import math
import warnings

import pytest
import torch
import torch.nn.modules.rnn as rnn_module
from torch import nn
from torch.func import functional_call

from dropkit.nn import WeightDrop, WeightDropGRU, WeightDropLSTM, apply_weight_drop, remove_weight_drop
from dropkit.functional import native_keep_mask
from dropkit.rng import keep_scale


class _SpyVF:
    """Stands in for ``torch._VF`` inside nn.modules.rnn and records the fused calls' weights."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls: list[tuple[str, list[torch.Tensor]]] = []

    def __getattr__(self, name: str) -> object:
        fn = getattr(self.real, name)
        if name not in ("lstm", "gru"):
            return fn

        def wrapped(*args: object) -> object:
            weights = next(a for a in args if isinstance(a, list))
            self.calls.append((name, list(weights)))
            return fn(*args)

        return wrapped


@pytest.fixture()
def spy(monkeypatch: pytest.MonkeyPatch) -> _SpyVF:
    s = _SpyVF(rnn_module._VF)
    monkeypatch.setattr(rnn_module, "_VF", s)
    return s


def _plain(module: nn.Module) -> nn.Module:
    cls = nn.LSTM if isinstance(module, nn.LSTM) else nn.GRU
    plain = cls(module.input_size, module.hidden_size, module.num_layers, batch_first=module.batch_first)
    plain.load_state_dict(module.state_dict())
    return plain


@pytest.mark.parametrize("cls", [WeightDropLSTM, WeightDropGRU])
def test_forward_calls_fused_op_with_dropped_hh_weight_and_matches_plain_rnn(cls: type, spy: _SpyVF) -> None:
    p = 0.5
    rnn = cls(3, 6, num_layers=2, weight_p=p)
    x = torch.randn(7, 4, 3)
    out, _ = rnn(x)
    assert len(spy.calls) == 1 and spy.calls[0][0] == ("lstm" if cls is WeightDropLSTM else "gru")
    seen = dict(zip(rnn._flat_weights_names, spy.calls[0][1]))
    params = {name: getattr(rnn.parametrizations, name).original if name.startswith("weight_hh") else getattr(rnn, name)
              for name in rnn._flat_weights_names}
    for name, w in seen.items():
        if name.startswith("weight_hh"):
            ratio = w / params[name]
            assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / (1 - p))))
            assert (ratio == 0).any()
        else:
            assert w is params[name]  # untouched parameters go to the kernel as they are
    plain = _plain(rnn)
    expected, _ = functional_call(plain, {k: v.detach() for k, v in seen.items()}, (x,))
    assert torch.allclose(out, expected, atol=1e-6)


def test_parametrization_evaluated_once_per_call_and_mask_fresh_per_call(spy: _SpyVF, monkeypatch: pytest.MonkeyPatch) -> None:
    rnn = WeightDropLSTM(3, 8, num_layers=2, weight_p=0.5)
    count = {"n": 0}
    real_forward = WeightDrop.forward

    def counting(self: WeightDrop, w: torch.Tensor) -> torch.Tensor:
        count["n"] += 1
        return real_forward(self, w)

    monkeypatch.setattr(WeightDrop, "forward", counting)
    x = torch.randn(5, 2, 3)
    rnn(x)
    assert count["n"] == 2  # one evaluation (one mask) per weight_hh per call, shared by all steps
    rnn(x)
    first, second = spy.calls[0][1][1], spy.calls[1][1][1]  # weight_hh_l0 of each call
    assert not torch.equal(first == 0, second == 0)


def test_eval_is_plain_rnn_with_original_parameters(spy: _SpyVF) -> None:
    rnn = WeightDropLSTM(3, 5, weight_p=0.9).eval()
    x = torch.randn(6, 2, 3)
    out, (h, c) = rnn(x)
    assert spy.calls[-1][1][1] is rnn.parametrizations.weight_hh_l0.original
    ref, (rh, rc) = _plain(rnn)(x)
    assert torch.equal(out, ref) and torch.equal(h, rh) and torch.equal(c, rc)


def test_p_zero_is_identity() -> None:
    rnn = WeightDropGRU(3, 5, weight_p=0.0)
    x = torch.randn(6, 2, 3)
    assert torch.equal(rnn(x)[0], _plain(rnn)(x)[0])


def test_no_warnings_and_gradient_reaches_original_through_the_mask() -> None:
    p = 0.5
    rnn = WeightDropLSTM(3, 5, weight_p=p, generator=torch.Generator().manual_seed(0))
    x = torch.randn(6, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = rnn(x)
        out.sum().backward()
    g = rnn.parametrizations.weight_hh_l0.original.grad
    # replay: same generator seed -> same mask; a plain LSTM with the dropped weight as a leaf
    mask = native_keep_mask((20, 5), p, generator=torch.Generator().manual_seed(0)) * keep_scale(p)
    plain = _plain(rnn)
    dropped = (rnn.parametrizations.weight_hh_l0.original.detach() * mask).requires_grad_()
    params = {**dict(plain.named_parameters()), "weight_hh_l0": dropped}
    functional_call(plain, params, (x,))[0].sum().backward()
    assert torch.allclose(g, dropped.grad * mask, atol=1e-6)
    assert torch.equal(g[mask == 0], torch.zeros_like(g[mask == 0]))


def test_state_dict_compatible_with_plain_lstm_both_ways() -> None:
    wd = WeightDropLSTM(4, 6, num_layers=2, weight_p=0.3)
    plain = nn.LSTM(4, 6, num_layers=2)
    assert sorted(wd.state_dict()) == sorted(plain.state_dict())
    plain.load_state_dict(wd.state_dict())  # strict
    assert torch.equal(plain.weight_hh_l1, wd.parametrizations.weight_hh_l1.original)
    other = nn.LSTM(4, 6, num_layers=2)
    wd.load_state_dict(other.state_dict())
    assert torch.equal(wd.parametrizations.weight_hh_l0.original, other.weight_hh_l0)
    wrapped = nn.Sequential(WeightDropLSTM(4, 6, weight_p=0.3))  # prefixed keys
    wrapped.load_state_dict(nn.Sequential(nn.LSTM(4, 6)).state_dict())
    assert "0.weight_hh_l0" in wrapped.state_dict()


def test_deepcopy_after_training_step_and_remove() -> None:
    rnn = apply_weight_drop(nn.GRU(3, 4), 0.5)
    out, _ = rnn(torch.randn(5, 2, 3))
    out.sum().backward()
    clone = copy.deepcopy(rnn)
    assert torch.equal(clone.parametrizations.weight_hh_l0.original, rnn.parametrizations.weight_hh_l0.original)
    remove_weight_drop(clone)
    assert isinstance(clone.weight_hh_l0, nn.Parameter) and not clone._forward_pre_hooks
    x = torch.randn(5, 2, 3)
    assert torch.equal(clone(x)[0], clone(x)[0])  # no dropout left
    assert isinstance(rnn.parametrizations.weight_hh_l0[0], WeightDrop)  # the original is untouched


def test_hh_drop_fraction_within_binomial_bound(spy: _SpyVF) -> None:
    p = 0.3
    rnn = WeightDropLSTM(8, 64, weight_p=p)
    rnn(torch.randn(2, 1, 8))
    w = spy.calls[0][1][1]
    n = w.numel()
    frac = (w == 0).float().mean().item()
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_gradcheck_float64_pinned_generator() -> None:
    g = torch.Generator()
    rnn = WeightDropLSTM(2, 3, weight_p=0.5, generator=g).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def fn(t: torch.Tensor) -> torch.Tensor:
        g.manual_seed(0)
        return rnn(t)[0]

    assert torch.autograd.gradcheck(fn, (x,))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        apply_weight_drop(nn.LSTM(2, 3), 1.5)
    with pytest.raises(ValueError, match="got 'weight_hh_l7'"):
        apply_weight_drop(nn.LSTM(2, 3), 0.5, names=["weight_hh_l7"])
    with pytest.raises(ValueError, match="got names=None for Linear"):
        apply_weight_drop(nn.Linear(2, 3), 0.5)
    with pytest.raises(TypeError, match="got str"):
        apply_weight_drop("lstm", 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already parametrized"):
        apply_weight_drop(WeightDropLSTM(2, 3), 0.5)
    with pytest.raises(ValueError, match="got 2"):
        WeightDropGRU(2, 3, weight_p=2)


def test_linear_weight_by_name() -> None:
    lin = apply_weight_drop(nn.Linear(50, 40), 0.5, names="weight")
    y = lin(torch.eye(50))  # column j of the dropped weight (plus bias)
    assert ((y - lin.bias) == 0).any()
    assert torch.equal(lin.eval()(torch.eye(50)), nn.functional.linear(torch.eye(50), lin.parametrizations.weight.original, lin.bias))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.nn.weight_drop"), raise_on_error=True).attempted > 0
