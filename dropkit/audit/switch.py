"""Switch every kind of dropout off, and back on exactly: modules, attention rates, configs, dropkit's layers.

"Disable dropout" helpers in RL post-training code (TRL's ``disable_dropout``, torchtune's) set
``nn.Dropout.p = 0`` and miss the rest: attention that passes a float rate to
``scaled_dot_product_attention`` (``nn.MultiheadAttention.dropout``, Hugging Face's ``dropout_prob`` /
``attention_dropout``), config-driven rates read at call time, timm's ``DropPath.drop_prob``, torchvision's
``StochasticDepth.p`` and dropkit's own layers (``attn_p``, ``recurrent_p``, ...). :func:`disable_dropout`
sets to 0 every rate :mod:`dropkit.audit.declared` finds, in modules and in Hugging Face / PEFT configs,
and keeps the stochastic layers whose randomness is not a settable rate (``ConcreteDropout``'s learned
rate, ``GaussianNoise``) in eval mode, also across later ``model.train()`` calls. :func:`enable_dropout`
puts back every value and mode it changed. Nothing is added to the model: its ``state_dict`` is unchanged
throughout.

What no attribute controls cannot be switched off: functional dropout with a hard-coded rate and
``training=True``. :func:`dropkit.audit.audit_dropout` shows what still fires after ``disable_dropout``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from dropkit.audit.declared import config_objects, is_rate_name, module_rates
from dropkit.surgery.stochastic import is_stochastic

__all__ = ["disable_dropout", "enable_dropout", "dropout_disabled", "is_dropout_disabled"]


@dataclass
class _Saved:
    values: list[tuple[Any, str, Any, str]] = field(default_factory=list)  # (object, attribute, old value, key)
    pinned: list[tuple[nn.Module, bool, str]] = field(default_factory=list)  # (module, old training flag, key)


_SAVED: weakref.WeakKeyDictionary[nn.Module, _Saved] = weakref.WeakKeyDictionary()


def is_dropout_disabled(model: nn.Module) -> bool:
    """True between :func:`disable_dropout` and :func:`enable_dropout` on ``model``."""
    return model in _SAVED


def _zero_like(value: Any) -> Any:
    return 0 if isinstance(value, int) else 0.0


def _pin_eval(module: nn.Module) -> None:
    def train(mode: bool = True) -> nn.Module:
        nn.Module.train(module, mode)
        module.training = False
        return module

    module.train = train  # type: ignore[method-assign]  # an instance attribute: not in the state_dict
    module.training = False


def disable_dropout(model: nn.Module) -> dict[str, Any]:
    """Switch off every kind of dropout in ``model``, in place; undo with :func:`enable_dropout`.

    Args:
        model: the model; its ``state_dict`` is not changed.

    Returns:
        ``{"module.attribute": old_value}`` for every rate set to 0 (config keys as
        ``"module.config.key"``) and ``{"module.training": old_flag}`` for every layer pinned to eval.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        RuntimeError: dropout of ``model`` is already disabled.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
        >>> sorted(disable_dropout(layer))
        ['dropout.p', 'dropout1.p', 'dropout2.p', 'self_attn.dropout']
        >>> x = torch.randn(2, 5, 16)
        >>> torch.equal(layer(x), layer(x))   # training mode, yet deterministic
        True
        >>> _ = enable_dropout(layer)
        >>> layer.self_attn.dropout, layer.dropout1.p
        (0.1, 0.1)
    """
    where = "disable_dropout"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be a torch.nn.Module, got {type(model).__name__}")
    if model in _SAVED:
        raise RuntimeError(f"{where}: dropout of this {type(model).__name__} is already disabled; call enable_dropout first")
    saved = _Saved()
    changed: dict[str, Any] = {}
    seen_configs: set[int] = set()
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        rates = [d for d in module_rates(name, module) if d.value > 0]
        for rate in rates:
            old = getattr(module, rate.attribute)
            saved.values.append((module, rate.attribute, old, prefix + rate.attribute))
            setattr(module, rate.attribute, _zero_like(old))
            changed[prefix + rate.attribute] = old
        if not rates and not module_rates(name, module) and is_stochastic(module):
            saved.pinned.append((module, module.training, prefix + "training"))
            changed[prefix + "training"] = module.training
            _pin_eval(module)
        for config_name, config in config_objects(module):
            if id(config) in seen_configs:
                continue
            seen_configs.add(id(config))
            for key, value in list(vars(config).items()):
                if key.startswith("_") or not is_rate_name(key) or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)) and 0 < value <= 1:
                    saved.values.append((config, key, value, f"{prefix}{config_name}.{key}"))
                    setattr(config, key, _zero_like(value))
                    changed[f"{prefix}{config_name}.{key}"] = value
    _SAVED[model] = saved
    return changed


def enable_dropout(model: nn.Module) -> dict[str, Any]:
    """Undo :func:`disable_dropout`: every rate, config key and training flag it changed gets its old value.

    Returns:
        ``{"module.attribute": restored_value}``, the same keys :func:`disable_dropout` returned.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        RuntimeError: dropout of ``model`` was not disabled by :func:`disable_dropout`.
    """
    where = "enable_dropout"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be a torch.nn.Module, got {type(model).__name__}")
    saved = _SAVED.pop(model, None)
    if saved is None:
        raise RuntimeError(f"{where}: dropout of this {type(model).__name__} is not disabled (call disable_dropout first)")
    restored: dict[str, Any] = {}
    for obj, attribute, old, key in reversed(saved.values):
        setattr(obj, attribute, old)
        restored[key] = old
    for module, mode, key in saved.pinned:
        module.__dict__.pop("train", None)
        module.training = mode
        restored[key] = mode
    return dict(reversed(restored.items()))


@contextlib.contextmanager
def dropout_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: :func:`disable_dropout` on entry, :func:`enable_dropout` on exit (also on errors).

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
        >>> with dropout_disabled(net):
        ...     net[1].p
        0.0
        >>> net[1].p
        0.3
    """
    disable_dropout(model)
    try:
        yield model
    finally:
        enable_dropout(model)
