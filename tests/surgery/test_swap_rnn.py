"""swap_rnn: nn.LSTM / nn.GRU inside a model become variational ones with the same weights and keys."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from dropkit.nn import VariationalGRU, VariationalLSTM
from dropkit.surgery import Select, mc_mode, swap_rnn
from dropkit.uncertainty import mc_predict


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.LSTM(3, 8, num_layers=2, batch_first=True, dropout=0.1)
        self.dec = nn.GRU(8, 6, batch_first=True)
        self.bi = nn.GRU(6, 4, batch_first=True, bidirectional=True)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bi(self.dec(self.enc(x)[0])[0])[0][:, -1])


def test_swap_keeps_keys_weights_and_eval_outputs() -> None:
    torch.manual_seed(0)
    model = Tagger().eval()
    x = torch.randn(4, 7, 3)
    before, state = model(x), {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match=r"left bi \(bidirectional\) as they are"):
        done = swap_rnn(model, input_p=0.25, recurrent_p=0.25, weight_p=0.2)
    assert sorted(done) == ["dec", "enc"]
    assert isinstance(model.enc, VariationalLSTM) and isinstance(model.dec, VariationalGRU)
    assert model.enc.input_p == 0.25 and not model.enc.training
    assert list(model.state_dict()) == list(state)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    torch.testing.assert_close(model(x), before, rtol=1e-6, atol=1e-6)
    model.load_state_dict(state, strict=True)  # the original's checkpoint loads strictly
    with torch.no_grad(), mc_mode(model):
        assert not torch.allclose(model(x), model(x))  # the new masks are sampled in MC mode
    assert mc_predict(model, x, 4, seed=0).mean.shape == (4, 5)


def test_rule_restricts_the_swap() -> None:
    model = Tagger()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bidirectional GRU is not selected, so nothing is skipped
        done = swap_rnn(model, Select(name="dec"), recurrent_p=0.3)
    assert list(done) == ["dec"] and type(model.enc) is nn.LSTM


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"swap_rnn: input_p must be in \[0, 1\], got 1.5"):
        swap_rnn(Tagger(), input_p=1.5)
    with pytest.raises(TypeError, match="model must be an nn.Module, got str"):
        swap_rnn("model")  # type: ignore[arg-type]
