"""The deep bidirectional speech classifier (dropkit.models.speech_rnn) and its CLI wiring."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from dropkit.models import build_model
from dropkit.models.speech_rnn import SpeechRNN, normalize_utterances
from dropkit.nn import SpecAugment, VariationalLSTM
from dropkit.train.config import Config
from dropkit.train.model_keys import keys_for_model


def small(**kw) -> SpeechRNN:
    torch.manual_seed(0)
    return SpeechRNN((20, 12), 10, hidden_size=8, num_layers=3, **kw)


def test_layers_are_bidirectional_and_stacked() -> None:
    model = small()
    assert len(model.forward_layers) == len(model.backward_layers) == 3
    assert [m.input_size for m in model.forward_layers] == [12, 16, 16]  # each reads both directions below
    model.eval()
    x = torch.randn(2, 20, 12)
    # the backward direction: the first layer's output at t = 0 depends on the last frame
    h0 = torch.cat([model.forward_layers[0](x)[0], model.backward_layers[0](x.flip(1))[0].flip(1)], dim=2)
    x2 = x.clone()
    x2[:, -1] += 1.0
    h1 = torch.cat([model.forward_layers[0](x2)[0], model.backward_layers[0](x2.flip(1))[0].flip(1)], dim=2)
    assert torch.equal(h0[:, 0, :8], h1[:, 0, :8]) and not torch.allclose(h0[:, 0, 8:], h1[:, 0, 8:])
    assert model(x).shape == (2, 10)


def test_dropout_sites_are_the_configured_ones() -> None:
    model = small(input_p=0.1, hidden_p=0.3, weight_drop=0.4, head_p=0.5)
    assert [m.input_p for m in model.forward_layers] == [0.1, 0.3, 0.3]
    assert [m.input_p for m in model.backward_layers] == [0.1, 0.3, 0.3]
    assert all(m.weight_p == 0.4 for m in [*model.forward_layers, *model.backward_layers])
    assert model.head_dropout.p == 0.5


def test_training_is_stochastic_eval_is_deterministic_and_no_dropout_train_equals_eval() -> None:
    x = torch.randn(4, 20, 12)
    model = small(input_p=0.2, hidden_p=0.3, weight_drop=0.3, head_p=0.3)
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    plain = small()
    assert torch.allclose(plain.train()(x), plain.eval()(x), atol=1e-6)


def test_spec_augment_acts_in_training_only() -> None:
    x = torch.randn(4, 20, 12)
    aug = small(spec_augment=SpecAugment(time_masks=2, time_width=5, freq_masks=2, freq_width=4))
    plain = small()  # same seed: same weights
    assert torch.equal(aug.eval()(x), plain.eval()(x))
    assert not torch.allclose(aug.train()(x), plain.train()(x))


def test_utterance_normalisation_removes_per_band_offsets_and_gain() -> None:
    model = small().eval()
    x = torch.randn(3, 20, 12)
    shifted = x * 3.0 + torch.randn(3, 1, 12) * 4  # a gain and a constant per mel band (a channel)
    torch.testing.assert_close(model(shifted), model(x), atol=1e-4, rtol=1e-4)
    y = normalize_utterances(shifted)
    assert float(y.mean(dim=1).abs().max()) < 1e-4


def test_gradients_reach_every_parameter() -> None:
    model = small(hidden_p=0.2, weight_drop=0.2)
    model(torch.randn(3, 20, 12)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"input_shape must be \(frames, features\), got \(1, 20, 12\)"):
        SpeechRNN((1, 20, 12), 10)
    with pytest.raises(ValueError, match="hidden_p must be in \\[0, 1\\], got 1.5"):
        SpeechRNN((20, 12), 10, hidden_p=1.5)
    with pytest.raises(TypeError, match="spec_augment must be a SpecAugment or None, got int"):
        SpeechRNN((20, 12), 10, spec_augment=3)  # type: ignore[arg-type]


def test_the_config_builds_it_from_the_rnn_and_speech_keys() -> None:
    cfg = Config(model="speech-rnn", rnn_cell="gru", rnn_hidden=8, rnn_layers=4, rnn_input_p=0.1, speech_hidden_p=0.2,
                 weight_drop=0.3, p=0.4, spec_time_masks=1, spec_freq_masks=2, spec_freq_width=3)
    model = build_model(cfg, (20, 12), 10)
    assert isinstance(model, SpeechRNN) and len(model.forward_layers) == 4
    assert not isinstance(model.forward_layers[0], VariationalLSTM)  # a GRU
    assert (model.spec_augment.time_masks, model.spec_augment.freq_masks, model.spec_augment.freq_width) == (1, 2, 3)
    assert build_model(Config(model="speech-rnn"), (20, 12), 10).spec_augment is None
    keys = keys_for_model("speech-rnn")
    assert {"rnn_hidden", "speech_hidden_p", "spec_time_masks", "weight_drop"} <= set(keys) and "conv_p" not in keys
    assert "speech_hidden_p" not in keys_for_model("mlp")
    with pytest.raises(ValueError, match="spec_time_masks must be an integer >= 0, got -1"):
        Config(model="speech-rnn", spec_time_masks=-1)
    with pytest.raises(ValueError, match="input_p must be 0 for model 'speech-rnn'"):
        build_model(Config(model="speech-rnn", input_p=0.1), (20, 12), 10)
    assert Config(model="speech-rnn", speech_hidden_p=0.3, p=0.2).without_dropout().speech_hidden_p == 0.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng; CI installs it)")
def test_dropkit_train_runs_the_speech_model_on_the_tiny_corpus(tmp_path: Path, monkeypatch) -> None:
    from dropkit.cli.main import main
    from dropkit.data import clear_memo, locate

    monkeypatch.setattr(locate, "cache_dir", lambda: tmp_path / "cache")
    clear_memo()
    out = tmp_path / "run"
    argv = ["train", "--preset", "speech-digits", "--dataset", "espeak-digits-tiny", "--rnn-hidden", "8", "--steps", "4",
            "--eval-every", "2", "--batch-size", "4", "--val-fraction", "0", "--spec-time-masks", "1", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4 and 0 <= summary["test_acc"] <= 1
    env = json.loads((out / "env.json").read_text())
    assert env["data"]["dataset"] == "espeak-digits-tiny" and env["data"]["recipe_sha256"]
    clear_memo()
