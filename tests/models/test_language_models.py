"""GPT and AWD-LSTM language models: causality, the dropout sites and rates, tied weights, AR/TAR, and
seeded sampling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dropkit.models.generate import generate
from dropkit.models.gpt import GPT
from dropkit.models.lstm_lm import LSTMLM, ActivationRegularizer
from dropkit.nn import DropoutAddLayerNorm, EmbeddingDropout, LockedDropout, MultiHeadSelfAttention
from dropkit.nn.weight_drop import WeightDropLSTM

V, T = 11, 12


def _gpt(**kw) -> GPT:
    return GPT(V, block_size=T, dim=16, heads=2, depth=2, **kw)


def _lstm(**kw) -> LSTMLM:
    return LSTMLM(V, emb_dim=8, hidden_size=16, num_layers=3, **kw)


@pytest.mark.parametrize("make", [_gpt, _lstm], ids=["gpt", "lstm-lm"])
def test_a_position_never_sees_the_future(make) -> None:
    model = make().eval()
    ids = torch.randint(0, V, (2, T))
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % V
    a, b = model(ids), model(changed)
    assert a.shape == (2, T, V)
    assert torch.equal(a[:, :7], b[:, :7])  # positions 0..6 read tokens 0..6 only
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("make", [_gpt, _lstm], ids=["gpt", "lstm-lm"])
def test_eval_is_deterministic_and_training_with_zero_rates_equals_eval(make) -> None:
    model = make()
    ids = torch.randint(0, V, (3, T))
    train_out = model.train()(ids)
    model.eval()
    assert torch.equal(model(ids), model(ids))
    assert torch.allclose(train_out, model(ids), atol=1e-6)  # all rates 0: dropout is the identity


def test_gpt_has_nanogpts_dropout_sites_with_their_rates() -> None:
    model = _gpt(emb_p=0.1, attn_p=0.2, resid_p=0.3)
    assert model.norm_in.p == 0.1 and isinstance(model.norm_in, DropoutAddLayerNorm)
    for block in model.blocks:
        assert isinstance(block.attn, MultiHeadSelfAttention) and block.attn.attn_p == 0.2 and block.attn.proj_p == 0.0
        assert block.norm_mid.p == 0.3 and block.norm_out.p == 0.3
    ids = torch.randint(0, V, (4, T))
    model.train()
    assert not torch.equal(model(ids), model(ids))  # fresh masks every call


def test_gpt_tied_weights_are_one_tensor_that_safetensors_saves(tmp_path: Path) -> None:
    model = _gpt()
    sd = model.state_dict()
    assert "head.weight" not in sd and "tok.weight" in sd
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "m.safetensors"))
    twin = _gpt()
    twin.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    ids = torch.randint(0, V, (2, T))
    assert torch.equal(model.eval()(ids), twin.eval()(ids))
    untied = _gpt(tie_weights=False)
    assert untied.head is not None and untied.head.weight.data_ptr() != untied.tok.weight.data_ptr()


def test_gpt_refuses_a_context_longer_than_block_size() -> None:
    with pytest.raises(ValueError, match=f"sequence length must be <= block_size={T}, got {T + 1}"):
        _gpt()(torch.zeros(1, T + 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected \(N, T\) token ids, got shape \(5,\)"):
        _gpt()(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="resid_p must be in"):
        _gpt(resid_p=1.5)


def test_lstm_has_the_awd_regularisers_with_their_rates() -> None:
    model = _lstm(emb_p=0.1, input_p=0.2, hidden_p=0.25, output_p=0.3, weight_drop=0.5, ar_alpha=2.0, tar_beta=1.0)
    assert isinstance(model.encoder, EmbeddingDropout) and model.encoder.p == 0.1
    assert isinstance(model.input_drop, LockedDropout) and model.input_drop.p == 0.2
    assert [d.p for d in model.hidden_drops] == [0.25, 0.25]  # between the 3 layers
    assert model.output_drop.p == 0.3
    assert all(isinstance(r, WeightDropLSTM) and r.weight_p == 0.5 for r in model.rnns)
    # tied: the last layer has emb_dim units and the decoder reads the embedding matrix
    assert model.rnns[-1].hidden_size == 8 and model.decoder.weight is None
    assert "decoder.weight" not in model.state_dict()


def test_lstm_output_dropout_is_locked_over_time() -> None:
    torch.manual_seed(1)
    model = _lstm(output_p=0.5).train()
    seen = {}
    model.output_drop.register_forward_hook(lambda m, i, o: seen.update(x=i[0], y=o))
    model(torch.randint(0, V, (4, T)))
    zero = seen["y"] == 0
    assert zero.any() and torch.equal(zero, zero[:, :1].expand_as(zero))  # one mask per sequence


def test_ar_and_tar_values() -> None:
    reg = ActivationRegularizer(alpha=2.0, beta=3.0)
    dropped = torch.tensor([[[1.0, 0.0], [2.0, 0.0]]])
    raw = torch.tensor([[[1.0, 1.0], [2.0, 3.0]]])
    reg.observe(dropped, raw)
    expected = 2.0 * (1 + 4) / 4 + 3.0 * (1 + 4) / 2
    assert math.isclose(float(reg.regularization()), expected)
    assert float(reg.regularization()) == 0.0  # consumed: a second call adds nothing


def test_lstm_ar_tar_follow_training_forwards_only() -> None:
    model = _lstm(ar_alpha=2.0, tar_beta=1.0)
    ids = torch.randint(0, V, (2, T))
    model.eval()(ids)
    assert float(model.regularization()) == 0.0
    model.train()(ids)
    value = model.regularization()
    assert value.requires_grad and float(value.detach()) > 0
    value.backward()
    assert model.encoder.weight.grad is not None


@pytest.mark.parametrize("make", [_gpt, _lstm], ids=["gpt", "lstm-lm"])
def test_sampling_is_deterministic_per_seed(make) -> None:
    model = make()
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 40, block_size=T, temperature=1.0, seed=0)
    assert a.shape == (43,) and torch.equal(a[:3], prompt)
    assert torch.equal(a, generate(model, prompt, 40, block_size=T, temperature=1.0, seed=0))
    # 40 draws from an untrained model's ~uniform 11-way softmax: two seeds agree with probability ~11^-40.
    assert not torch.equal(a, generate(model, prompt, 40, block_size=T, temperature=1.0, seed=1))
    assert model.training  # restored


def test_greedy_is_the_argmax_chain_and_top_k_1_is_greedy() -> None:
    model = _gpt().eval()
    prompt = torch.tensor([4])
    greedy = generate(model, prompt, 15, block_size=T, greedy=True)
    seq = prompt.clone()
    for _ in range(15):  # the context crosses block_size: it is cropped to the last T tokens
        seq = torch.cat([seq, model(seq[-T:].unsqueeze(0))[0, -1].argmax().reshape(1)])
    assert torch.equal(greedy, seq)
    assert torch.equal(generate(model, prompt, 15, block_size=T, top_k=1, seed=5), greedy)


def test_top_k_only_draws_the_k_most_likely() -> None:
    model = _gpt().eval()
    prompt = torch.tensor([2])
    allowed = set(torch.topk(model(prompt.unsqueeze(0))[0, -1], 3).indices.tolist())
    firsts = {int(generate(model, prompt, 1, block_size=T, top_k=3, temperature=5.0, seed=s)[-1]) for s in range(40)}
    assert firsts <= allowed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, "temperature must be a finite number > 0 \\(use greedy=True"),
        ({"temperature": -1.0}, "temperature must be a finite number > 0"),
        ({"top_k": 0}, "top_k must be an integer >= 1, got 0"),
        ({"tokens": 0}, "tokens must be an integer >= 1, got 0"),
    ],
)
def test_bad_sampling_arguments(kwargs: dict, message: str) -> None:
    args = {"tokens": 5, "block_size": T, **kwargs}
    tokens = args.pop("tokens")
    with pytest.raises(ValueError, match=message):
        generate(_gpt(), torch.tensor([1]), tokens, **args)
    with pytest.raises(ValueError, match="prompt must be a non-empty 1-D tensor of ids, got \\(0,\\)"):
        generate(_gpt(), torch.tensor([], dtype=torch.long), 3, block_size=T)
