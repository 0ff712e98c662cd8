"""Tests for dropkit.nn.variational_rnn: masks shared over time, fused and step-loop paths."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dropkit.functional.locked_dropout import sequence_keep_mask
from dropkit.nn import VariationalGRU, VariationalLSTM


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _run(model: nn.Module, x: object, seed: int, hx: object = None) -> tuple:
    """Reseed the model's generator (shared with its weight-drop parametrizations) and run it."""
    model.generator.manual_seed(seed)
    return model(x, hx)


@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
@pytest.mark.parametrize("batch_first", [False, True])
def test_fused_path_equals_step_loop_for_the_same_masks(cls: type, batch_first: bool) -> None:
    model = cls(3, 6, num_layers=2, batch_first=batch_first, input_p=0.4, weight_p=0.3, generator=torch.Generator())
    x = torch.randn(4, 5, 3)
    h0 = torch.randn(2, 4 if batch_first else 5, 6)
    hx = (h0, torch.randn_like(h0)) if cls is VariationalLSTM else h0
    assert not model.uses_step_loop()
    fused_out, fused_state = _run(model, x, 1, hx)
    model._force_step_loop = True
    loop_out, loop_state = _run(model, x, 1, hx)
    assert torch.allclose(fused_out, loop_out, atol=1e-5)
    for a, b in zip(torch.utils._pytree.tree_leaves(fused_state), torch.utils._pytree.tree_leaves(loop_state)):
        assert torch.allclose(a, b, atol=1e-5)


def test_lstm_masks_are_shared_over_time_and_per_sequence() -> None:
    """Replay the masks from the generator and run nn.LSTMCell with them held fixed over time."""
    p_in, p_rec, (T, B, D, H) = 0.3, 0.5, (7, 4, 3, 5)
    model = VariationalLSTM(D, H, input_p=p_in, recurrent_p=p_rec, generator=torch.Generator())
    x = torch.randn(T, B, D)
    out, (h_n, c_n) = _run(model, x, 2)
    g = gen(2)
    m_x = sequence_keep_mask(B, (D,), p_in, like=x, generator=g)
    m_h = sequence_keep_mask(B, (H,), p_rec, like=x, generator=g)
    cell = nn.LSTMCell(D, H)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in model.layers[0].state_dict().items()})
    h, c = torch.zeros(B, H), torch.zeros(B, H)
    for t in range(T):
        h, c = cell(x[t] * m_x, (h * m_h, c))  # LSTMCell uses h only inside W_hh h
        assert torch.allclose(out[t], h, atol=1e-6)
    assert torch.allclose(h_n[0], h, atol=1e-6) and torch.allclose(c_n[0], c, atol=1e-6)


def test_gru_recurrent_mask_only_inside_w_hh() -> None:
    p_rec, (T, B, D, H) = 0.5, (6, 3, 2, 4)
    model = VariationalGRU(D, H, recurrent_p=p_rec, generator=torch.Generator())
    x = torch.randn(T, B, D)
    out, h_n = _run(model, x, 3)
    m_h = sequence_keep_mask(B, (H,), p_rec, like=x, generator=gen(3))
    layer = model.layers[0]
    h = torch.zeros(B, H)
    for t in range(T):
        gi = x[t] @ layer.weight_ih_l0.T + layer.bias_ih_l0
        gh = (h * m_h) @ layer.weight_hh_l0.T + layer.bias_hh_l0
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        assert torch.allclose(out[t], h, atol=1e-6)
    assert torch.allclose(h_n[0], h, atol=1e-6)


@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
def test_masks_fresh_per_sequence_and_per_call(cls: type) -> None:
    model = cls(3, 16, input_p=0.5, recurrent_p=0.5)
    x = torch.randn(6, 1, 3).expand(6, 4, 3)  # 4 identical sequences
    out1, _ = model(x)
    out2, _ = model(x)
    assert not torch.allclose(out1[:, 0], out1[:, 1])
    assert not torch.allclose(out1, out2)


@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
def test_eval_and_zero_rates_equal_plain_rnn(cls: type) -> None:
    model = cls(3, 5, num_layers=2, input_p=0.5, recurrent_p=0.5)
    plain_cls = nn.LSTM if cls is VariationalLSTM else nn.GRU
    plain = plain_cls(3, 5, num_layers=2)
    assert list(model.state_dict()) == list(plain.state_dict())  # the keys of nn.LSTM / nn.GRU(num_layers=2)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(6, 2, 3)
    model.eval()
    assert not model.uses_step_loop()
    assert torch.allclose(model(x)[0], plain(x)[0], atol=1e-6)
    zero = cls(3, 5, num_layers=2)
    zero.load_state_dict(model.state_dict())
    assert torch.allclose(zero(x)[0], plain(x)[0], atol=1e-6)


@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
@pytest.mark.parametrize("kwargs", [dict(input_p=0.3), dict(input_p=0.3, recurrent_p=0.4, zoneout_p=0.2)])
def test_packed_equals_padded_for_the_same_masks(cls: type, kwargs: dict) -> None:
    model = cls(3, 5, num_layers=2, generator=torch.Generator(), **kwargs)
    lengths = torch.tensor([4, 7, 2, 5])
    x = torch.randn(7, 4, 3)
    padded_out, padded_state = _run(model, x, 4)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    packed_out, packed_state = _run(model, packed, 4)
    out, out_lengths = pad_packed_sequence(packed_out)
    assert torch.equal(out_lengths, lengths)
    h_n = packed_state[0] if cls is VariationalLSTM else packed_state
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(out[:n, b], padded_out[:n, b], atol=1e-6)
        assert torch.allclose(h_n[-1, b], padded_out[n - 1, b], atol=1e-6)  # final state at the true end


def test_zoneout_layer_keeps_previous_values() -> None:
    model = VariationalGRU(2, 64, zoneout_p=0.5)
    out, _ = model(torch.randn(5, 3, 2))
    same = out[1:] == out[:-1]
    assert same.float().mean() > 0.3  # about half the units repeat their previous value
    model.eval()
    assert model.uses_step_loop()  # eval uses the expectation, still a loop


def test_p_one_rates_give_finite_results() -> None:
    model = VariationalLSTM(3, 4, input_p=1.0, recurrent_p=1.0)
    out, _ = model(torch.randn(5, 2, 3))
    assert torch.isfinite(out).all()
    bias_only = VariationalLSTM(3, 4, input_p=1.0)
    bias_only.load_state_dict(model.state_dict())
    bias_only._force_step_loop = True
    no_input = VariationalLSTM(3, 4)
    no_input.load_state_dict(model.state_dict())
    assert torch.allclose(bias_only(torch.randn(5, 2, 3))[0], no_input(torch.zeros(5, 2, 3))[0], atol=1e-6)


def test_gradcheck_float64_pinned_generator() -> None:
    model = VariationalLSTM(2, 3, input_p=0.3, recurrent_p=0.5, zoneout_p=0.2, generator=torch.Generator()).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _run(model, t, 5)[0], (x,))
    gru = VariationalGRU(2, 3, recurrent_p=0.5, weight_p=0.2, generator=torch.Generator()).double()
    assert torch.autograd.gradcheck(lambda t: _run(gru, t, 6)[0], (x,))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        VariationalLSTM(3, 4, recurrent_p=1.5)
    with pytest.raises(ValueError, match="got 0"):
        VariationalGRU(3, 0)
    with pytest.raises(ValueError, match="got 0.1"):
        VariationalGRU(3, 4, zoneout_cell_p=0.1)
    model = VariationalLSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"got shape \(5, 3\)"):
        model(torch.randn(5, 3))
    with pytest.raises(ValueError, match="got 7"):
        model(torch.randn(5, 2, 7))
    with pytest.raises(ValueError, match=r"got \(1, 2, 4\)"):
        model(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="got Tensor"):
        model(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        model(torch.ones(5, 2, 3, dtype=torch.long))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.nn.variational_rnn"), raise_on_error=True).attempted > 0
