"""Modules with several rates of their own (attention-probability dropout, variational RNN masks) are
found by the stochastic checks, re-rated by surgery and sampled by mc_predict."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.nn import MultiHeadSelfAttention, VariationalGRU, VariationalLSTM
from dropkit.surgery import has_stochastic_layer, is_stochastic, set_dropout_rate
from dropkit.surgery.stochastic import get_rate, is_regulariser
from dropkit.uncertainty import mc_predict, split_deterministic_prefix


@pytest.mark.parametrize("kwargs", [{"input_p": 0.3}, {"recurrent_p": 0.3}, {"zoneout_p": 0.2}])
@pytest.mark.parametrize("cls", [VariationalLSTM, VariationalGRU])
def test_variational_rnn_rates_make_it_stochastic(cls, kwargs) -> None:
    assert is_stochastic(cls(3, 4, **kwargs)) and has_stochastic_layer(cls(3, 4, **kwargs))
    plain = cls(3, 4)
    assert not is_stochastic(plain) and is_regulariser(plain) and get_rate(plain) == 0.0


def test_attention_probability_dropout_is_stochastic() -> None:
    assert is_stochastic(MultiHeadSelfAttention(8, 2, attn_p=0.1))
    assert not has_stochastic_layer(MultiHeadSelfAttention(8, 2))
    assert has_stochastic_layer(MultiHeadSelfAttention(8, 2, proj_p=0.1))  # through its proj_drop child


def test_set_dropout_rate_re_rates_the_active_rates() -> None:
    model = nn.ModuleDict({"rnn": VariationalLSTM(3, 4, input_p=0.2, recurrent_p=0.1), "off": VariationalGRU(3, 4),
                           "attn": MultiHeadSelfAttention(8, 2, attn_p=0.1)})
    changed = set_dropout_rate(model, 0.4)
    assert changed["rnn"] == (0.2, 0.4) and changed["off"] == (0.0, 0.4) and changed["attn"] == (0.1, 0.4)
    assert (model["rnn"].input_p, model["rnn"].recurrent_p, model["rnn"].zoneout_p) == (0.4, 0.4, 0.0)
    assert (model["off"].input_p, model["off"].recurrent_p) == (0.4, 0.0)  # none active: the first one
    assert model["attn"].attn_p == 0.4


class _Tokens(nn.Module):
    """(N, L, D) -> attention with only attention-probability dropout -> mean-pooled 3-class logits."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(8, 2, attn_p=0.3)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attn(x).mean(1))


def test_mc_predict_samples_attention_only_dropout() -> None:
    torch.manual_seed(0)
    model = _Tokens().eval()
    pred = mc_predict(model, torch.randn(5, 6, 8), 8, seed=0, return_samples=True)
    assert not torch.allclose(pred.samples[0], pred.samples[1])
    assert torch.all(pred.mutual_information > 0)


def test_prefix_split_stops_at_attention_dropout() -> None:
    net = nn.Sequential(nn.Linear(8, 8), MultiHeadSelfAttention(8, 2, attn_p=0.2), nn.Linear(8, 3))
    prefix, rest = split_deterministic_prefix(net)
    assert [type(m).__name__ for m in prefix] == ["Linear"]
    assert type(rest[0]).__name__ == "MultiHeadSelfAttention"


def test_mc_predict_on_a_variational_lstm_classifier() -> None:
    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = VariationalLSTM(3, 8, batch_first=True, input_p=0.3, recurrent_p=0.3)
            self.head = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(x)[0][:, -1])

    torch.manual_seed(1)
    pred = mc_predict(Classifier().eval(), torch.randn(4, 7, 3), 6, seed=2, return_samples=True)
    assert not torch.allclose(pred.samples[0], pred.samples[1])
