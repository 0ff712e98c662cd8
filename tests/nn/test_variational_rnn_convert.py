"""VariationalLSTM/GRU.from_rnn and to_rnn: weights, eval outputs, round trips and bad inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.nn import VariationalGRU, VariationalLSTM

CASES = [(VariationalLSTM, nn.LSTM), (VariationalGRU, nn.GRU)]


@pytest.mark.parametrize(("ours", "theirs"), CASES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_from_rnn_computes_what_the_rnn_computes_in_eval(ours, theirs, batch_first: bool, bias: bool) -> None:
    torch.manual_seed(0)
    rnn = theirs(3, 7, num_layers=3, bias=bias, batch_first=batch_first, dtype=torch.float64).eval()
    v = ours.from_rnn(rnn, input_p=0.3, recurrent_p=0.3, weight_p=0.4)
    assert not v.training and v.layers[0].weight_ih_l0.dtype == torch.float64
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    h0 = torch.randn(3, 4 if batch_first else 6, 7, dtype=torch.float64)
    state = (h0, torch.randn_like(h0)) if theirs is nn.LSTM else h0
    out, _ = v(x, state)
    ref, _ = rnn(x, state)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("ours", "theirs"), CASES)
def test_round_trip_keeps_every_weight_exactly(ours, theirs) -> None:
    rnn = theirs(5, 4, num_layers=2)
    back = ours.from_rnn(rnn, weight_p=0.5).to_rnn()
    assert type(back) is theirs and back.num_layers == 2
    assert rnn.state_dict().keys() == back.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(rnn.state_dict().values(), back.state_dict().values()))


def test_training_mode_applies_the_new_rates() -> None:
    rnn = nn.LSTM(3, 8).train()
    v = VariationalLSTM.from_rnn(rnn, input_p=0.5, recurrent_p=0.5)
    assert v.training and v.uses_step_loop()
    x = torch.randn(5, 2, 3)
    assert not torch.allclose(v(x)[0], rnn(x)[0])


def test_bad_inputs() -> None:
    with pytest.raises(TypeError, match=r"VariationalLSTM.from_rnn: rnn must be a torch.nn.LSTM, got GRU"):
        VariationalLSTM.from_rnn(nn.GRU(2, 3))
    with pytest.raises(ValueError, match="rnn must be unidirectional, got bidirectional=True"):
        VariationalGRU.from_rnn(nn.GRU(2, 3, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size=0, got proj_size=2"):
        VariationalLSTM.from_rnn(nn.LSTM(2, 3, proj_size=2))
    with pytest.raises(ValueError, match=r"to_rnn: zoneout .* got zoneout_p=0.1"):
        VariationalLSTM(2, 3, zoneout_p=0.1).to_rnn()
    with pytest.raises(ValueError, match="input_p must be in"):
        VariationalLSTM.from_rnn(nn.LSTM(2, 3), input_p=1.5)


@pytest.mark.parametrize(("ours", "theirs"), CASES)
def test_state_dict_has_plain_rnn_keys_and_old_layout_still_loads(ours, theirs) -> None:
    model = ours(3, 4, num_layers=2, weight_p=0.3)
    assert list(model.state_dict()) == list(theirs(3, 4, num_layers=2).state_dict())
    # checkpoints written before the keys changed used the layers.{k}.*_l0 layout
    old_layout = {f"layers.{k}.{name}_l0": torch.randn_like(v) for k in range(2)
                  for name, v in ((n[:-3], t) for n, t in model.state_dict().items() if n.endswith(f"_l{k}"))}
    model.load_state_dict(old_layout)
    assert torch.equal(model.state_dict()["weight_hh_l1"], old_layout["layers.1.weight_hh_l0"])
    nested = nn.Sequential(nn.Linear(3, 3), ours(3, 4))
    assert "1.weight_ih_l0" in nested.state_dict() and nested.load_state_dict(nested.state_dict())


def test_flatten_parameters_and_rnn_attributes() -> None:
    v = VariationalLSTM(3, 4, bias=False)
    v.flatten_parameters()
    assert (v.bidirectional, v.proj_size, v.bias) == (False, 0, False)
