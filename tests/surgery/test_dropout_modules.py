"""One definition of "the model's dropout": surgery, the scheduler and the trainer's logged ``p`` agree.

Before, the scheduler selected torch's ``nn.Dropout*`` and any module from a ``dropkit.*`` file, the trainer
any module with a float ``p``, and the logged ``p`` was the mean of every ``p`` (zeros included,
``attn_p`` left out) without a scheduler but the mean of the rates > 0 (``attn_p`` included) with one.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.models import build_model
from dropkit.nn import DropPath, MultiHeadSelfAttention, VariationalLSTM
from dropkit.schedules import DropoutScheduler, make_schedule
from dropkit.surgery import dropout_modules, is_dropout, mean_dropout_rate, rate_attributes
from dropkit.train.config import Config
from dropkit.train.trainer import dropout_layers


def _scheduled(model: nn.Module, factor: float = 1.0) -> DropoutScheduler:
    return DropoutScheduler(model, make_schedule("constant", factor, total_steps=10), relative=True)


def _mixed() -> nn.Module:
    return nn.Sequential(nn.Dropout(0.0), nn.Linear(8, 8), nn.Dropout(0.5), MultiHeadSelfAttention(8, 2, attn_p=0.2),
                         DropPath(0.0), VariationalLSTM(8, 8, input_p=0.1))


def test_scheduler_trainer_and_surgery_select_the_same_modules() -> None:
    model = _mixed()
    names = [n for n, _ in dropout_modules(model)]
    assert names == ["0", "2", "3", "3.proj_drop", "4", "5"]
    assert [m for _, m in dropout_modules(model)] == dropout_layers(model)
    sched = _scheduled(model)
    assert sched.names == [f"{n}.{a}" for n, m in dropout_modules(model) for a in rate_attributes(m)]
    assert rate_attributes(model[3]) == ("attn_p",) and rate_attributes(model[5])[:2] == ("input_p", "recurrent_p")
    assert not is_dropout(model) and not is_dropout(model[1])


def test_logged_rate_is_the_same_with_and_without_a_scheduler() -> None:
    model = _mixed()
    rates = [0.5, 0.2, 0.1]  # Dropout, attn_p, input_p; the zeros (Dropout(0), DropPath(0), the other RNN rates) not
    assert mean_dropout_rate(model) == pytest.approx(sum(rates) / 3)
    assert _scheduled(model).step(0) == pytest.approx(mean_dropout_rate(model))
    half = _scheduled(model, 0.5)
    assert half.step(0) == pytest.approx(mean_dropout_rate(model)) == pytest.approx(sum(rates) / 6)
    assert _scheduled(model, 0.0).step(1) == mean_dropout_rate(model) == 0.0


@pytest.mark.parametrize("name", ["mlp", "cnn", "rnn", "transformer"])
def test_every_builtin_model_logs_one_rate_either_way(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(Config(model=name), (1, 28, 28), 10)
    assert dropout_modules(model)
    assert _scheduled(model).step(0) == pytest.approx(mean_dropout_rate(model))
