"""Declared dropout rates: what a model says it drops, read from its modules and its configs.

A module declares a rate through

- the rate attribute of a dropout-like module (``nn.Dropout.p``, timm's ``DropPath.drop_prob``,
  torchvision's ``StochasticDepth.p``, dropkit's layers: see :func:`dropkit.surgery.is_regulariser`);
- the names it declares (:func:`dropkit.surgery.stochastic.declared_rate_names`: a dropkit layer's
  ``DropoutModule.rate_names``, such as ``MultiHeadSelfAttention.attn_p`` or ``VariationalLSTM.input_p``, or
  another class's ``stochastic_rate_attributes``);
- any float attribute in ``[0, 1]`` whose name says dropout (``dropout``, ``dropout_p``, ``dropout_prob``,
  ``attention_dropout``, ``attn_pdrop`` ...): ``nn.MultiheadAttention.dropout``, ``nn.LSTM.dropout``,
  Hugging Face attention modules that pass ``self.dropout_prob`` to SDPA;

and a model declares rates in its configuration: the keys of a Hugging Face ``config`` (``hidden_dropout_prob``,
``attention_probs_dropout_prob``, ``attention_dropout``, ``resid_pdrop`` ...) and of a PEFT ``peft_config``
(``lora_dropout``) found on any module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from torch import nn

from dropkit.surgery.stochastic import RATE_ATTRIBUTES, declared_rate_names, is_regulariser

__all__ = ["DeclaredRate", "module_rates", "config_rates", "is_rate_name", "config_objects"]

_RATE_NAME = re.compile(r"drop|pdrop", re.IGNORECASE)
# Names with "drop" that are not rates.
_NOT_RATE = re.compile(r"^(drop_last|dropout_regularizer|drop_first)$")


@dataclass(frozen=True)
class DeclaredRate:
    """A rate a model declares: where (``module`` and ``attribute``, or a config ``key``) and its value.

    Attributes:
        module: qualified name of the module holding it (``""``: the root).
        attribute: the attribute (``"p"``, ``"dropout_prob"``) or config key (``"config.hidden_dropout_prob"``).
        value: the rate, the probability of **dropping**.
    """

    module: str
    attribute: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "attribute": self.attribute, "value": self.value}


def is_rate_name(name: str) -> bool:
    """True when an attribute or config key named ``name`` holds a dropout rate by its name.

    Example:
        >>> [is_rate_name(n) for n in ("hidden_dropout_prob", "attn_pdrop", "drop_path_rate", "drop_last", "hidden")]
        [True, True, True, False, False]
    """
    return bool(_RATE_NAME.search(name)) and not _NOT_RATE.match(name)


def _as_rate(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if 0.0 <= value <= 1.0 else None


def module_rates(name: str, module: nn.Module) -> list[DeclaredRate]:
    """The rates ``module`` itself declares (not its children's), in the order described above.

    Example:
        >>> from torch import nn
        >>> module_rates("attn", nn.MultiheadAttention(8, 2, dropout=0.1))
        [DeclaredRate(module='attn', attribute='dropout', value=0.1)]
        >>> module_rates("drop", nn.Dropout(0.2))
        [DeclaredRate(module='drop', attribute='p', value=0.2)]
    """
    found: dict[str, float] = {}
    declared = declared_rate_names(module)
    for attribute in declared or ():
        rate = _as_rate(getattr(module, attribute, None))
        if rate is not None:
            found[attribute] = rate
    if not found and is_regulariser(module):
        for attribute in RATE_ATTRIBUTES:
            rate = _as_rate(getattr(module, attribute, None))
            if rate is not None:
                found[attribute] = rate
                break
    if not declared:
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or attribute in found or not is_rate_name(attribute):
                continue
            rate = _as_rate(value)
            if rate is not None:
                found[attribute] = rate
    return [DeclaredRate(name, attribute, value) for attribute, value in found.items()]


def config_objects(module: nn.Module) -> list[tuple[str, Any]]:
    """``(prefix, config)`` pairs a module holds: its Hugging Face ``config`` and each PEFT adapter config."""
    found: list[tuple[str, Any]] = []
    config = getattr(module, "config", None)
    if config is not None and not isinstance(config, (nn.Module, str, int, float)) and hasattr(config, "__dict__"):
        found.append(("config", config))
    peft_config = getattr(module, "peft_config", None)
    if isinstance(peft_config, dict):
        for adapter, adapter_config in peft_config.items():
            if hasattr(adapter_config, "__dict__"):
                found.append((f"peft_config[{adapter!r}]", adapter_config))
    return found


def _config_items(config: Any) -> list[tuple[str, float]]:
    items = []
    for key, value in vars(config).items():
        if key.startswith("_") or not is_rate_name(key):
            continue
        rate = _as_rate(value)
        if rate is not None:
            items.append((key, rate))
    return items


def config_rates(model: nn.Module) -> list[DeclaredRate]:
    """Rates in the configs of ``model``'s modules (each config object once, at its first holder).

    Example:
        >>> from types import SimpleNamespace
        >>> from torch import nn
        >>> net = nn.Linear(2, 2)
        >>> net.config = SimpleNamespace(hidden_dropout_prob=0.1, hidden_size=2)
        >>> config_rates(net)
        [DeclaredRate(module='', attribute='config.hidden_dropout_prob', value=0.1)]
    """
    seen: set[int] = set()
    rates = []
    for name, module in model.named_modules():
        for prefix, config in config_objects(module):
            if id(config) in seen:
                continue
            seen.add(id(config))
            rates.extend(DeclaredRate(name, f"{prefix}.{key}", value) for key, value in _config_items(config))
    return rates
