"""disable_dropout / enable_dropout: every kind off (verified by the audit), then restored exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from dropkit.audit import audit_dropout, disable_dropout, dropout_disabled, enable_dropout, is_dropout_disabled
from dropkit.audit.audit import split_inputs
from dropkit.audit.declared import config_rates, module_rates


def _forward(model, inputs, seed):
    """Outputs of one pass; buffers are put back (BatchNorm's running stats move in training mode), so the
    state_dict checks below see only what disable/enable_dropout did."""
    args, kwargs = split_inputs(inputs)
    buffers = [(b, b.clone()) for b in model.buffers()]
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model(*args, **kwargs)
        for b, value in buffers:
            b.copy_(value)
    if hasattr(out, "to_tuple"):
        out = out.to_tuple()
    return [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]


def _equal(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _rates(model):
    return [(d.module, d.attribute, d.value) for n, m in model.named_modules() for d in module_rates(n, m)] + [
        (d.module, d.attribute, d.value) for d in config_rates(model)
    ]


def trl_disable_dropout(model: nn.Module) -> None:
    """TRL's ``disable_dropout_in_model``: every nn.Dropout gets p = 0, nothing else."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0


def _check_switch(model, inputs):
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rates = _rates(model)
    reference = _forward(model, inputs, seed=3)
    assert not _equal(_forward(model, inputs, 1), _forward(model, inputs, 2))  # dropout is on to begin with
    switched = disable_dropout(model)
    assert switched and is_dropout_disabled(model)
    assert audit_dropout(model, inputs).random_ops == 0  # verified by the audit itself
    model.train()  # a later train() keeps it off
    assert _equal(_forward(model, inputs, 1), _forward(model, inputs, 2))  # bit-equal train-mode passes
    assert enable_dropout(model) == switched
    assert not is_dropout_disabled(model)
    assert _rates(model) == rates
    assert _equal(_forward(model, inputs, seed=3), reference)
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)
    return switched


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_bert(tiny_bert, attn):
    switched = _check_switch(*tiny_bert(attn))
    assert switched["config.hidden_dropout_prob"] == 0.1  # config-driven rates too


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_gpt2(tiny_gpt2, attn):
    _check_switch(*tiny_gpt2(attn))


def test_timm_vit(tiny_vit):
    switched = _check_switch(*tiny_vit())
    assert "blocks.1.drop_path1.drop_prob" in switched


def test_peft_lora(lora_model):
    switched = _check_switch(*lora_model(target_modules=("fc",)))
    assert "base_model.model.fc.lora_dropout.default.p" in switched
    assert "peft_config['default'].lora_dropout" in switched  # PeftModel's own adapter config


def test_torchvision_efficientnet(torchvision):
    _check_switch(torchvision.models.efficientnet_b0(weights=None, num_classes=10), torch.randn(4, 3, 32, 32))


@pytest.mark.parametrize("preset", ["fashion-cnn", "fashion-rnn", "mnist1d", "mnist1d-gru", "mnist1d-transformer"])
def test_dropkit_presets(preset):
    from dropkit.models.registry import build_model
    from dropkit.train.config import from_dict
    from dropkit.train.presets import preset_values

    shape = (40,) if preset.startswith("mnist1d") else (1, 28, 28)
    _check_switch(build_model(from_dict(preset_values(preset)), shape, 10), torch.randn(4, *shape))


def test_dropkit_layers():
    from dropkit.nn import (
        ConcreteDropout, DropBlock2d, DropPath, GaussianDropout, GaussianNoise, MultiHeadSelfAttention, VariationalLSTM,
    )

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = DropBlock2d(0.2, block_size=3)
            self.path = DropPath(0.3)
            self.gauss = GaussianDropout(0.2)
            self.noise = GaussianNoise(0.1)
            self.attn = MultiHeadSelfAttention(16, 2, attn_p=0.1, proj_p=0.1)
            self.lstm = VariationalLSTM(16, 16, input_p=0.2, recurrent_p=0.2)
            self.concrete = ConcreteDropout(nn.Linear(16, 16))

        def forward(self, img, seq):
            h, _ = self.lstm(self.attn(seq))
            return self.path(self.block(img)).sum() + self.concrete(self.noise(self.gauss(h))).sum()

    model = Mixed()
    switched = _check_switch(model, (torch.randn(2, 3, 8, 8), torch.randn(2, 5, 16)))
    # ConcreteDropout's rate is a learned parameter and GaussianNoise's is a sigma: pinned to eval instead
    assert {"noise.training", "concrete.training", "attn.attn_p", "lstm.input_p", "lstm.recurrent_p"} <= set(switched)


def test_trl_style_disable_misses_attention_rates():
    """Setting every nn.Dropout's p to 0 leaves nn.MultiheadAttention's float dropout on."""
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    x = torch.randn(4, 6, 16)
    trl_disable_dropout(layer)
    assert not _equal(_forward(layer, x, 1), _forward(layer, x, 2))
    left = audit_dropout(layer, x)
    assert [e.module for e in left.events] == ["self_attn"]
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    switched = _check_switch(layer, x)
    assert switched["self_attn.dropout"] == 0.1


def test_trl_style_disable_misses_drop_path_and_stochastic_depth(tiny_vit, torchvision):
    """timm's DropPath and torchvision's StochasticDepth are not nn.Dropout: TRL-style disabling leaves them on."""
    vit, x = tiny_vit()
    net = torchvision.models.efficientnet_b0(weights=None, num_classes=10)
    for model, inputs, kind in ((vit, x, "DropPath"), (net, torch.randn(4, 3, 32, 32), "StochasticDepth")):
        trl_disable_dropout(model)
        model.train()
        assert not _equal(_forward(model, inputs, 1), _forward(model, inputs, 2))
        left = audit_dropout(model, inputs)
        assert left.random_ops > 0 and {type(model.get_submodule(e.module)).__name__ for e in left.events} == {kind}


def test_hard_coded_functional_dropout_survives_and_the_audit_says_so():
    from .conftest import HardCodedTraining

    model = HardCodedTraining()
    with dropout_disabled(model):
        left = audit_dropout(model, torch.randn(2, 8))
    assert [e.call.describe() for e in left.events] == ["F.dropout(p=0.2, training=True)"]


def test_errors_and_context_manager():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
    with pytest.raises(TypeError, match="disable_dropout: model must be a torch.nn.Module, got str"):
        disable_dropout("model")
    with pytest.raises(RuntimeError, match="enable_dropout: dropout of this Sequential is not disabled"):
        enable_dropout(net)
    disable_dropout(net)
    with pytest.raises(RuntimeError, match="already disabled; call enable_dropout first"):
        disable_dropout(net)
    enable_dropout(net)
    with pytest.raises(ValueError, match="boom"), dropout_disabled(net):
        assert net[1].p == 0.0
        raise ValueError("boom")
    assert net[1].p == 0.3 and not is_dropout_disabled(net)
