"""Tests for dropkit.nn.zoneout: zoneout cells and sequence layers."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn

from dropkit.nn import ZoneoutGRU, ZoneoutGRUCell, ZoneoutLSTM, ZoneoutLSTMCell


def test_lstm_cell_units_keep_previous_or_take_new() -> None:
    cell = ZoneoutLSTMCell(3, 32, p=0.5, cell_p=0.3)
    plain = nn.LSTMCell(3, 32)
    plain.load_state_dict(cell.state_dict())
    x, h0, c0 = torch.randn(4, 3), torch.randn(4, 32), torch.randn(4, 32)
    h, c = cell(x, (h0, c0))
    h_new, c_new = plain(x, (h0, c0))
    assert torch.all((h == h0) | (h == h_new)) and torch.all((c == c0) | (c == c_new))
    assert (h == h0).any() and (h == h_new).any()
    cell.eval()
    h, c = cell(x, (h0, c0))
    assert torch.allclose(h, 0.5 * h0 + 0.5 * h_new) and torch.allclose(c, 0.3 * c0 + 0.7 * c_new)
    cell.p = 0.2  # at 0.5 the expectation is symmetric: a swap of previous and new would pass
    h, _ = cell(x, (h0, c0))
    assert torch.allclose(h, 0.2 * h0 + 0.8 * h_new)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_layer_eval_is_the_expectation_with_previous_and_new_in_place(mode: str) -> None:
    # Rates away from 0.5, where p * prev + (1 - p) * new would equal its swap.
    if mode == "lstm":
        layer, cell = ZoneoutLSTM(3, 6, p=0.2, cell_p=0.7), ZoneoutLSTMCell(3, 6, p=0.2, cell_p=0.7)
    else:
        layer, cell = ZoneoutGRU(3, 6, p=0.2), ZoneoutGRUCell(3, 6, p=0.2)
    cell.load_state_dict({k.replace("layers.0.", "").replace("_l0", ""): v for k, v in layer.state_dict().items()})
    layer.eval(), cell.eval()
    x = torch.randn(5, 2, 3)
    out, state = layer(x)
    h = c = torch.zeros(2, 6)
    for t in range(5):
        if mode == "lstm":
            h, c = cell(x[t], (h, c))
        else:
            h = cell(x[t], h)
        assert torch.allclose(out[t], h, atol=1e-6)
    if mode == "lstm":
        assert torch.allclose(state[1][0], c, atol=1e-6)


def test_gru_cell_p_zero_is_plain_and_default_state() -> None:
    cell = ZoneoutGRUCell(3, 5, p=0.0)
    plain = nn.GRUCell(3, 5)
    plain.load_state_dict(cell.state_dict())
    x = torch.randn(2, 3)
    assert torch.equal(cell(x), plain(x))
    assert ZoneoutGRUCell(3, 5, p=0.2)(torch.randn(3)).shape == (5,)


def test_lstm_layer_equals_cell_loop_with_fresh_mask_per_step() -> None:
    g1, g2 = torch.Generator(), torch.Generator()
    layer = ZoneoutLSTM(3, 8, p=0.4, cell_p=0.6, generator=g1)
    cell = ZoneoutLSTMCell(3, 8, p=0.4, cell_p=0.6, generator=g2)
    cell.load_state_dict({k.replace("layers.0.", "").replace("_l0", ""): v for k, v in layer.state_dict().items()})
    x = torch.randn(6, 2, 3)
    g1.manual_seed(7)
    g2.manual_seed(7)
    out, (h_n, c_n) = layer(x)
    h = c = torch.zeros(2, 8)
    kept = []
    for t in range(6):
        h_prev = h
        h, c = cell(x[t], (h, c))
        kept.append(h == h_prev)
        assert torch.allclose(out[t], h, atol=1e-6)
    assert torch.allclose(c_n[0], c, atol=1e-6)
    assert not all(torch.equal(kept[1], k) for k in kept[2:])  # masks change from step to step


def test_gru_layer_shapes_and_repr() -> None:
    layer = ZoneoutGRU(3, 4, num_layers=2, p=0.1, batch_first=True)
    out, h = layer(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 4) and h.shape == (2, 2, 4)
    assert "p=0.1" in repr(layer) and "zoneout_p" not in repr(layer)  # the constructor's names


def test_sequence_layers_print_and_expose_their_constructor_names() -> None:
    lstm = ZoneoutLSTM(3, 4, p=0.2, cell_p=0.5)
    assert lstm.extra_repr() == "3, 4, p=0.2, cell_p=0.5"
    assert (lstm.p, lstm.cell_p) == (lstm.zoneout_p, lstm.zoneout_cell_p) == (0.2, 0.5)
    lstm.p = 0.3  # what a scheduler sets through zoneout_p, under the constructor's name
    assert lstm.zoneout_p == 0.3
    gru = ZoneoutGRU(3, 4, p=0.1, batch_first=True)
    assert gru.extra_repr() == "3, 4, batch_first=True, p=0.1" and gru.p == 0.1


def test_gradcheck_float64_pinned_generator() -> None:
    g = torch.Generator()
    cell = ZoneoutLSTMCell(2, 3, p=0.5, generator=g).double()
    x = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        g.manual_seed(0)
        return cell(a, (b, b))[0]

    assert torch.autograd.gradcheck(fn, (x, h0))


def test_bad_rates() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        ZoneoutLSTMCell(2, 3, p=1.5)
    with pytest.raises(ValueError, match="got -0.1"):
        ZoneoutLSTMCell(2, 3, cell_p=-0.1)
    with pytest.raises(ValueError, match="got 2"):
        ZoneoutGRU(2, 3, p=2)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.nn.zoneout"), raise_on_error=True).attempted > 0
