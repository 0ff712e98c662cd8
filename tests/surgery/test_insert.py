"""insert_dropout on layers whose output is not a single tensor (RNNs, packed sequences, dicts)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.surgery import Select, insert_dropout

def test_insert_after_an_rnn_drops_only_its_output_sequence() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    torch.manual_seed(0)
    rnn = nn.LSTM(3, 6, batch_first=True)
    x = torch.randn(4, 5, 3)
    ref_out, (ref_h, ref_c) = rnn(x)
    insert_dropout(rnn, Select(include_root=True, types=nn.LSTM), p=0.5)
    out, (h, c) = rnn(x)
    assert torch.equal(h, ref_h) and torch.equal(c, ref_c)  # the final state passes through
    assert bool((out == 0).any()) and torch.all((out == 0) | torch.isclose(out, ref_out * 2))
    packed = pack_padded_sequence(x, torch.tensor([5, 4, 2, 1]), batch_first=True)
    out_packed, _ = rnn(packed)
    assert type(out_packed).__name__ == "PackedSequence" and bool((out_packed.data == 0).any())


def test_insert_after_a_layer_with_an_unusual_output_is_a_clear_error() -> None:
    class Dict(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"y": x}

    net = nn.Sequential(Dict())
    insert_dropout(net, Select(types=Dict), p=0.5)
    with pytest.raises(TypeError, match="insert_dropout: the output of Dict must be a Tensor, a PackedSequence or a tuple"):
        net(torch.ones(2))
