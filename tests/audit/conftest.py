"""Models for the audit tests: small, built from configs, no weights downloaded."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn


def within_binomial(fraction: float, p: float, n: int) -> bool:
    """``fraction`` of ``n`` independent Bernoulli(p) drops lies within 6 standard deviations of ``p``
    (plus dropkit's 2**-16 quantisation of the keep probability)."""
    return abs(fraction - p) <= 6 * math.sqrt(p * (1 - p) / n) + 2**-16


class HardCodedTraining(nn.Module):
    """``F.dropout(..., training=True)`` in the forward: it fires in eval too (a real pattern in MC-dropout code)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 64)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.2, training=True)


class SDPAIgnoresMode(nn.Module):
    """Attention that passes its rate to SDPA whatever the mode (the fix is ``self.p if self.training else 0``)."""

    def __init__(self, dim: int = 16, p: float = 0.1) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.dropout_p = p

    def forward(self, x):
        q, k, v = self.qkv(x).unsqueeze(1).chunk(3, dim=-1)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout_p).squeeze(1)


class MyDropout(nn.Module):
    """A hand-written dropout that declares ``p`` and drops with a hard-coded 0.5 from ``rand_like``."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) > 0.5) * 2.0


@pytest.fixture
def tiny_bert():
    transformers = pytest.importorskip("transformers")

    def build(attn_implementation: str = "eager", **overrides):
        cfg = transformers.BertConfig(
            vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=32, attn_implementation=attn_implementation, **overrides,
        )
        return transformers.BertModel(cfg), {"input_ids": torch.randint(0, 50, (4, 16))}

    return build


@pytest.fixture
def tiny_gpt2():
    transformers = pytest.importorskip("transformers")

    def build(attn_implementation: str = "eager", **overrides):
        cfg = transformers.GPT2Config(
            vocab_size=50, n_embd=32, n_layer=2, n_head=2, n_positions=32, bos_token_id=0, eos_token_id=0,
            attn_implementation=attn_implementation, **overrides,
        )
        return transformers.GPT2Model(cfg), {"input_ids": torch.randint(0, 50, (4, 16))}

    return build


class EmbedThenLinear(nn.Module):
    """A base model for PEFT: an embedding (LoRA ignores lora_dropout there) and a linear layer (applies it)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 32)
        self.fc = nn.Linear(32, 32)
        self.head = nn.Linear(32, 5)

    def forward(self, ids):
        return self.head(torch.relu(self.fc(self.emb(ids))))


@pytest.fixture
def lora_model():
    peft = pytest.importorskip("peft")

    def build(target_modules=("emb", "fc"), lora_dropout: float = 0.1):
        # init_lora_weights=False: a non-zero lora_B, so the LoRA branch (and its dropout) changes the output
        config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=list(target_modules), lora_dropout=lora_dropout,
                                 init_lora_weights=False)
        return peft.get_peft_model(EmbedThenLinear(), config), torch.randint(0, 50, (8, 16))

    return build


@pytest.fixture
def tiny_vit(timm):
    def build():
        model = timm.create_model(
            "vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2, num_classes=10,
            drop_rate=0.1, attn_drop_rate=0.1, proj_drop_rate=0.1, drop_path_rate=0.2,
        )
        return model, torch.randn(8, 3, 32, 32)

    return build


def assert_rates_measured(report, rate_of=None) -> int:
    """Every fired row's measured fraction lies within the binomial bound of its declared (or given) rate;
    returns how many rows were checked. Structured masks (DropBlock) are skipped: no binomial bound."""
    checked = 0
    for row in report.modules:
        for event in row.events:
            if event.fraction is None or event.structured:
                continue
            p = rate_of(row) if rate_of else (event.call.p if event.call else max(d.value for d in row.declared))
            assert within_binomial(event.fraction, p, event.units), (row.module, event.fraction, p, event.units)
            checked += 1
    return checked


def fired(report) -> set[str]:
    return {row.module for row in report.modules if row.fired}
