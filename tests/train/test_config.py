"""The flat config: validation messages, coercion from strings, and the dropout-free baseline."""

from __future__ import annotations

import pytest

from dropkit.train.config import DROPOUT_FIELDS, Config, from_dict


def test_without_dropout_zeroes_every_rate_of_every_model() -> None:
    cfg = Config(p=0.5, input_p=0.2, hidden=[8, 8], hidden_p=[0.1, 0.3], conv_p=0.2, rnn_input_p=0.1,
                 weight_drop=0.3, attn_p=0.2, drop_path=0.1, token_p=0.25)
    base = cfg.without_dropout()
    for key in DROPOUT_FIELDS:
        value = getattr(base, key)
        assert value == [0.0, 0.0] if key == "hidden_p" else value == 0.0, key
    assert base.hidden == cfg.hidden and base.lr == cfg.lr


def test_strings_from_the_command_line_are_coerced() -> None:
    cfg = from_dict({"hidden": "256, 128", "p": "0.3", "steps": "none", "epochs": "4", "download": "false", "max_norm": "3"})
    assert cfg.hidden == [256, 128] and cfg.p == 0.3 and cfg.steps is None and cfg.epochs == 4
    assert cfg.download is False and cfg.max_norm == 3.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"p": 1.5}, "p must be in [0, 1], got 1.5"),
        ({"conv_p": -0.1}, "conv_p must be in [0, 1], got -0.1"),
        ({"hidden": [0]}, "hidden must be a list of positive integers, got [0]"),
        ({"hidden_p": [0.1]}, "hidden_p must be a list of 2 rates"),
        ({"steps": 10, "epochs": 2}, "give steps or epochs, not both"),
        ({"model": "resnet"}, "model must be one of 'mlp', 'cnn', 'rnn', 'transformer', 'gpt', 'lstm-lm', 'speech-rnn', got 'resnet'"),
        ({"p_schedule": "erly"}, "did you mean 'early'"),
        ({"lr": 0}, "lr must be a finite number > 0, got 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"dropuot": 0.1}, "unknown key 'dropuot'"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_range(values: dict, message: str) -> None:
    base = {"hidden": [8, 8]} if "hidden_p" in values else {}
    with pytest.raises(ValueError) as info:
        from_dict({**base, **values})
    assert message in str(info.value)
