"""DropoutScheduler and build_dropout_scheduler."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.models.rnn import RNNClassifier
from dropkit.models.transformer import Transformer
from dropkit.nn import ConcreteDropout, Dropout, MultiHeadSelfAttention, VariationalLSTM
from dropkit.schedules import DropoutScheduler, make_schedule
from dropkit.train.dropout_schedule import build_dropout_scheduler
from dropkit.train.config import Config


def _model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(4, 8),
        Dropout(0.5),
        nn.Dropout(0.2),
        nn.Dropout2d(0.1),
        MultiHeadSelfAttention(8, heads=2, attn_p=0.4, proj_p=0.3),
        ConcreteDropout(nn.Linear(8, 2)),
    )


def test_absolute_rate_set_on_every_selected_module():
    model = _model()
    logged = []
    sched = DropoutScheduler(model, make_schedule("late", 0.25, total_steps=10, cutoff=5), log=lambda s, r: logged.append((s, r)))
    assert sched.names == ["1.p", "2.p", "3.p", "4.attn_p", "4.proj_drop.p"]
    assert sched.step(0) == 0.0 and all(v == 0.0 for v in sched.rates.values())
    assert sched.step(7) == 0.25
    assert model[1].p == model[2].p == model[3].p == model[4].attn_p == model[4].proj_p == 0.25
    assert sched.rate == 0.25 and sched.history == [(0, 0.0), (7, 0.25)] == logged
    assert isinstance(model[5].p, torch.Tensor)  # the learned rate is left alone


def test_relative_scales_each_base_rate():
    model = _model()
    sched = DropoutScheduler(model, make_schedule("linear", 1.0, total_steps=10), relative=True)
    rate = sched.step(5)
    assert model[1].p == 0.25 and model[2].p == 0.1 and model[4].attn_p == 0.2
    assert rate == pytest.approx((0.25 + 0.1 + 0.05 + 0.2 + 0.15) / 5)
    sched.step(10)
    assert model[1].p == 0.5 and model[3].p == 0.1


def test_rate_reaches_the_forward_pass():
    model = nn.Sequential(Dropout(0.0))
    sched = DropoutScheduler(model, make_schedule("early", 0.5, total_steps=100, cutoff=10))
    x = torch.ones(10_000)
    sched.step(0)
    frac = (model(x) == 0).float().mean().item()
    assert abs(frac - 0.5) < 6 * (0.25 / x.numel()) ** 0.5
    sched.step(10)
    assert torch.equal(model(x), x)


def test_custom_select():
    model = _model()
    sched = DropoutScheduler(model, lambda step: 0.05, select=lambda name, m: isinstance(m, nn.Dropout))
    sched.step(1)
    assert sched.names == ["2.p"] and model[2].p == 0.05 and model[1].p == 0.5


def test_transformer_drop_path_keeps_depth_profile_under_relative_schedule():
    model = Transformer((40,), 10, d_model=16, heads=2, depth=3, patch=4, drop_path=0.2)
    cfg = Config(model="transformer", steps=100, p_schedule="early", p_schedule_cutoff=0.5)
    sched = build_dropout_scheduler(cfg, model)
    sched.step(0)
    assert [b.drop_path1.p for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    sched.step(50)
    assert all(b.drop_path1.p == 0.0 and b.attn.attn_p == 0.0 for b in model.blocks)


def test_recurrent_rates_follow_the_schedule():
    """Rates a module declares in ``stochastic_rate_attributes`` (VariationalLSTM's input, recurrent and
    zoneout rates) are scheduled with the rest; before, an RNN run's schedule reached its head only."""
    cfg = Config(model="rnn", steps=100, p=0.5, rnn_input_p=0.2, rnn_recurrent_p=0.3, zoneout=0.1,
                 weight_drop=0.4, p_schedule="late", p_schedule_cutoff=50)
    model = RNNClassifier((8, 8), 10, cell="lstm", hidden_size=16, num_layers=1, input_p=cfg.rnn_input_p,
                          recurrent_p=cfg.rnn_recurrent_p, weight_drop=cfg.weight_drop, zoneout=cfg.zoneout, head_p=cfg.p)
    sched = build_dropout_scheduler(cfg, model)
    lstm = next(m for m in model.modules() if isinstance(m, VariationalLSTM))
    rates = ("input_p", "recurrent_p", "zoneout_p", "zoneout_cell_p")
    assert {n.rsplit(".", 1)[-1] for n in sched.names} >= set(rates) | {"p"}
    sched.step(0)
    assert all(getattr(lstm, a) == 0.0 for a in rates) and all(v == 0.0 for v in sched.rates.values())
    sched.step(50)
    assert (lstm.input_p, lstm.recurrent_p, lstm.zoneout_p) == (0.2, 0.3, 0.1)
    assert all(getattr(t.module, t.attr) == t.base for t in sched.targets)  # factor 1: every base rate
    # Explicit attrs are taken as given: only "p" here.
    only_p = DropoutScheduler(model, lambda step: 0.0, attrs=("p",))
    assert all(n.endswith(".p") for n in only_p.names)


def test_build_from_config_contract():
    model = _model()
    assert build_dropout_scheduler(Config(steps=100), model) is None  # constant
    cfg = Config(steps=100, p_schedule="late", p_schedule_cutoff=30)
    sched = build_dropout_scheduler(cfg, model)
    assert sched.step(29) == 0.0 and model[1].p == 0.0
    sched.step(30)
    assert model[1].p == 0.5 and model[2].p == 0.2
    lin = build_dropout_scheduler(Config(steps=100, p_schedule="linear", p_schedule_start=0.5), _model())
    assert lin.step(0) == pytest.approx(0.5 * (0.5 + 0.2 + 0.1 + 0.4 + 0.3) / 5)
    epochs_cfg = Config(steps=None, epochs=2, p_schedule="early", p_schedule_cutoff=0.5)
    assert build_dropout_scheduler(epochs_cfg, _model(), total_steps=40).step(19) > 0
    with pytest.raises(ValueError, match="total_steps must be given"):
        build_dropout_scheduler(epochs_cfg, _model())


def test_bad_inputs():
    model = _model()
    sched = DropoutScheduler(model, make_schedule("constant", 0.1, total_steps=10))
    with pytest.raises(ValueError, match="got -1"):
        sched.step(-1)
    with pytest.raises(ValueError, match="got 1.5"):
        DropoutScheduler(model, lambda s: 1.5).step(0)
    with pytest.raises(ValueError, match="got none in Linear"):
        DropoutScheduler(nn.Linear(2, 2), lambda s: 0.1)
    with pytest.raises(ValueError, match="got 'cosine'"):
        build_dropout_scheduler(Config(steps=10, p_schedule="cosine"), model)
    with pytest.raises(ValueError, match="got 500"):
        build_dropout_scheduler(Config(steps=100, p_schedule="early", p_schedule_cutoff=500), model)
    with pytest.raises(ValueError, match="got None"):
        build_dropout_scheduler(Config(steps=100, p_schedule="late"), model)
