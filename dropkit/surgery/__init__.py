"""Model surgery for dropout: select modules by rule, replace, insert, re-rate or swap dropout (and
RNNs for variational ones), fuse LoRA's input dropout into ``lora_A``, and
``mc_mode`` for MC-dropout inference that leaves normalisation layers in eval."""

from dropkit.surgery.insert import INSERTED_NAME, insert_dropout, remove_inserted_dropout
from dropkit.surgery.lora import fuse_lora_dropout, unfuse_lora_dropout
from dropkit.surgery.mc_mode import mc_mode
from dropkit.surgery.rate import set_dropout_rate
from dropkit.surgery.replace import replace_modules
from dropkit.surgery.select import Select, select_modules
from dropkit.surgery.stochastic import (
    dropout_modules,
    get_rate,
    has_stochastic_layer,
    is_dropout,
    is_normalization,
    is_regulariser,
    is_stochastic,
    mean_dropout_rate,
    rate_attributes,
    register_stochastic,
    set_rate,
    stochastic_modules,
)
from dropkit.surgery.swap import default_swap_map, swap_dropout
from dropkit.surgery.swap_rnn import swap_rnn

__all__ = [
    "INSERTED_NAME",
    "Select",
    "default_swap_map",
    "disable_dropout",
    "dropout_disabled",
    "enable_dropout",
    "dropout_modules",
    "fuse_lora_dropout",
    "get_rate",
    "has_stochastic_layer",
    "insert_dropout",
    "is_dropout",
    "is_normalization",
    "is_regulariser",
    "is_stochastic",
    "mc_mode",
    "mean_dropout_rate",
    "rate_attributes",
    "register_stochastic",
    "remove_inserted_dropout",
    "replace_modules",
    "select_modules",
    "set_dropout_rate",
    "set_rate",
    "stochastic_modules",
    "swap_dropout",
    "swap_rnn",
    "unfuse_lora_dropout",
]

_AUDIT_SWITCH = ("disable_dropout", "dropout_disabled", "enable_dropout")


def __getattr__(name: str):
    """``disable_dropout`` / ``enable_dropout`` / ``dropout_disabled`` live in :mod:`dropkit.audit.switch`,
    next to the audit that verifies them; imported on first use because the audit imports this package."""
    if name in _AUDIT_SWITCH:
        from dropkit.audit import switch

        return getattr(switch, name)
    raise AttributeError(f"module 'dropkit.surgery' has no attribute {name!r}")
