"""The audit's table against the known truth of real models built from configs (no weights)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.audit import audit_dropout

from .conftest import assert_rates_measured, fired


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_bert(tiny_bert, attn):
    model, inputs = tiny_bert(attn, classifier_dropout=0.3)
    report = audit_dropout(model, inputs)
    layers = [f"encoder.layer.{i}" for i in range(2)]
    assert fired(report) == {"embeddings.dropout"} | {
        f"{layer}.{part}" for layer in layers for part in ("attention.self", "attention.output.dropout", "output.dropout")
    }
    # attention-probability dropout is functional, in BertSelfAttention, at self.dropout's rate: that is a use
    assert not report.module("encoder.layer.0.attention.self.dropout").fired
    assert assert_rates_measured(report, lambda row: 0.1) == 7
    # BertModel has no classifier: its config's classifier_dropout is declared and unused (a warning)
    assert [(f.kind, f.severity, f.message) for f in report.findings] == [
        ("config-unused", "warning", "config.classifier_dropout=0.3: no dropout at this rate fired")
    ]
    assert report.ok
    assert audit_dropout(model, inputs, training=False).random_ops == 0


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_gpt2(tiny_gpt2, attn):
    model, inputs = tiny_gpt2(attn, embd_pdrop=0.2, attn_pdrop=0.3, resid_pdrop=0.1)
    report = audit_dropout(model, inputs)
    assert fired(report) == {"drop"} | {
        f"h.{i}.{part}" for i in range(2) for part in ("attn", "attn.resid_dropout", "mlp.dropout")
    }
    verdict = [line for line in str(report).splitlines() if line.startswith("h.0.attn.attn_dropout ")][0]
    expected = "scaled_dot_product_attention(dropout_p=0.3)" if attn == "sdpa" else "dropout(p=0.3, training=True)"
    assert verdict.endswith(f"ok: its rate is used by h.0.attn's F.{expected}")
    rates = {"drop": 0.2, "h.0.attn": 0.3, "h.1.attn": 0.3}
    assert assert_rates_measured(report, lambda row: rates.get(row.module, 0.1)) == 7
    assert report.ok and not report.findings
    assert audit_dropout(model, inputs, training=False).random_ops == 0


def test_gpt2_with_an_attention_kernel_that_ignores_the_mode(tiny_gpt2):
    """A custom attention function (the Hugging Face AttentionInterface) that reads the rate from the module
    instead of the ``dropout`` argument GPT-2 zeroes in eval: attention dropout fires in eval."""
    transformers = pytest.importorskip("transformers")
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def leaky(module, query, key, value, attention_mask, dropout=0.0, **kwargs):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=module.attn_dropout.p, **kwargs)

    transformers.AttentionInterface.register("leaky_sdpa", leaky)
    model, inputs = tiny_gpt2("leaky_sdpa")
    report = audit_dropout(model, inputs, training=False)
    assert {(f.module, f.kind) for f in report.findings} == {("h.0.attn", "sdpa-in-eval"), ("h.1.attn", "sdpa-in-eval")}
    assert not report.ok


def test_timm_vit_with_drop_path(tiny_vit):
    model, x = tiny_vit()
    report = audit_dropout(model, x)
    per_block = {"attn", "attn.proj_drop", "mlp.drop1", "mlp.drop2"}
    # drop_path_rate=0.2 over depth 2 is linspace(0, 0.2): block 0 gets 0, i.e. an Identity
    assert fired(report) == {f"blocks.{i}.{m}" for i in range(2) for m in per_block} | {
        "blocks.1.drop_path1", "blocks.1.drop_path2", "head_drop"}
    assert report.module("blocks.1.drop_path1").events[0].units == 8  # one draw per sample
    assert assert_rates_measured(report) == 11
    assert report.ok
    assert audit_dropout(model, x, training=False).random_ops == 0


def test_peft_lora_dropout_ignored_by_the_embedding_layer(lora_model):
    """peft's LoRA Embedding builds lora_dropout and never applies it (the torchtune#996/peft#1806 class)."""
    model, ids = lora_model()
    report = audit_dropout(model, ids)
    emb, fc = "base_model.model.emb.lora_dropout.default", "base_model.model.fc.lora_dropout.default"
    assert fired(report) == {fc}
    assert [(f.module, f.kind, f.message) for f in report.findings] == [(emb, "never-fires", "configured p=0.1, never fired")]
    assert assert_rates_measured(report) == 1
    only_linear, ids = lora_model(target_modules=("fc",))
    assert audit_dropout(only_linear, ids).ok


def test_torchvision_efficientnet(torchvision):
    """torchvision's MBConv applies its StochasticDepth only on residual blocks: on the first block of each
    stage (no residual connection) it is configured and never fires."""
    model = torchvision.models.efficientnet_b0(weights=None, num_classes=10)
    report = audit_dropout(model, torch.randn(8, 3, 32, 32))
    blocks = {name: m for name, m in model.named_modules() if type(m).__name__ == "MBConv"}
    silent = {f"{name}.stochastic_depth" for name, m in blocks.items() if not m.use_res_connect and m.stochastic_depth.p > 0}
    assert len(silent) == 6
    assert {f.module for f in report.findings} == silent
    assert {f.kind for f in report.findings} == {"never-fires"}
    assert fired(report) == {f"{n}.stochastic_depth" for n, m in blocks.items() if m.use_res_connect} | {"classifier.0"}
    assert assert_rates_measured(report) == 10
    assert audit_dropout(model, torch.randn(8, 3, 32, 32), training=False).random_ops == 0


def test_torch_transformer_encoder_layer():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    report = audit_dropout(layer, torch.randn(4, 6, 16))
    assert fired(report) == {"self_attn", "dropout", "dropout1", "dropout2"}
    assert report.module("self_attn").calls[0].function == "multi_head_attention_forward"
    assert assert_rates_measured(report) == 4 and report.ok


@pytest.mark.parametrize("preset", ["fashion-cnn", "fashion-mlp", "fashion-rnn", "mnist1d", "mnist1d-cnn",
                                    "mnist1d-gru", "mnist1d-transformer", "seed"])
def test_dropkit_presets(preset):
    from dropkit.models.registry import build_model
    from dropkit.surgery import is_stochastic
    from dropkit.train.config import from_dict
    from dropkit.train.presets import preset_values

    shape = (40,) if preset.startswith("mnist1d") else (1, 28, 28)
    model = build_model(from_dict(preset_values(preset)), shape, 10)
    report = audit_dropout(model, torch.randn(8, *shape))
    assert report.ok and not report.findings
    assert fired(report) == {name for name, m in model.named_modules() if is_stochastic(m)}
    assert assert_rates_measured(report, lambda row: max(d.value for d in row.declared)) >= 1
    assert audit_dropout(model, torch.randn(8, *shape), training=False).random_ops == 0


def test_peft_lora_after_dropkit_fuses_its_dropout(lora_model):
    """fuse_lora_dropout moves lora_dropout into lora_A (a DropoutLinear): the audit sees it fire there."""
    from dropkit.surgery import fuse_lora_dropout

    model, ids = lora_model(target_modules=("fc",))
    fuse_lora_dropout(model)
    report = audit_dropout(model, ids)
    fused = "base_model.model.fc.lora_A.default"
    assert fused in fired(report) and report.ok
    assert type(model.get_submodule(fused)).__name__ == "DropoutLinear"
    row = report.module(fused)
    assert row.declared[0].value == 0.1
    assert assert_rates_measured(report) == 1  # the CPU native backend: the replayed mask is counted
    assert audit_dropout(model, ids, training=False).random_ops == 0
