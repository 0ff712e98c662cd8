"""Functional dropout calls: the torch functions whose arguments say a dropout rate and a training flag.

A :class:`~torch.overrides.TorchFunctionMode` sees ``F.dropout(x, 0.1, training=True)``,
``F.scaled_dot_product_attention(..., dropout_p=0.1)`` and ``F.multi_head_attention_forward`` with the
arguments the caller wrote, before they are lowered to random ops. The audit keeps the rate and the
``training`` flag of each call: in an eval-mode pass a call with ``training=True`` inside a module whose
``training`` is False is "functional dropout with a hard-coded training=True", and SDPA with
``dropout_p > 0`` is attention dropout that ignores the mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["FunctionalCall", "DROPOUT_FUNCTIONS", "parse_call"]


@dataclass
class FunctionalCall:
    """One call of a dropout-taking torch function that can draw a mask (``p > 0``, training not False).

    Attributes:
        function: the function's public name, e.g. ``"dropout"`` or ``"scaled_dot_product_attention"``.
        p: the rate passed (``p`` or ``dropout_p``), the probability of **dropping**.
        training: the ``training``/``train`` argument, or None for functions without one (SDPA).
        module: qualified name of the innermost module running when it was called (``""``: the root).
        module_training: that module's ``training`` flag at the time.
    """

    function: str
    p: float
    training: bool | None
    module: str
    module_training: bool

    def describe(self) -> str:
        """``"F.dropout(p=0.1, training=True)"``-style text for reports."""
        prefix = "torch." if self.function in _TORCH_NAMESPACE else "F."
        flag = "" if self.training is None else f", training={self.training}"
        rate = "dropout_p" if self.function in _DROPOUT_P else "p"
        return f"{prefix}{self.function}({rate}={self.p:g}{flag})"


# function -> (name, index of the rate, its keyword, index of the training flag or None, its keyword, default)
_Spec = tuple[str, int, str, int | None, str | None, bool | None]

DROPOUT_FUNCTIONS: dict[Callable[..., Any], _Spec] = {
    F.dropout: ("dropout", 1, "p", 2, "training", True),
    F.dropout1d: ("dropout1d", 1, "p", 2, "training", True),
    F.dropout2d: ("dropout2d", 1, "p", 2, "training", True),
    F.dropout3d: ("dropout3d", 1, "p", 2, "training", True),
    F.alpha_dropout: ("alpha_dropout", 1, "p", 2, "training", False),
    F.feature_alpha_dropout: ("feature_alpha_dropout", 1, "p", 2, "training", False),
    torch.dropout: ("dropout", 1, "p", 2, "train", None),
    torch.dropout_: ("dropout_", 1, "p", 2, "train", None),
    torch.native_dropout: ("native_dropout", 1, "p", 2, "train", None),
    torch.alpha_dropout: ("alpha_dropout", 1, "p", 2, "train", None),
    torch.feature_dropout: ("feature_dropout", 1, "p", 2, "train", None),
    torch.feature_alpha_dropout: ("feature_alpha_dropout", 1, "p", 2, "train", None),
    F.scaled_dot_product_attention: ("scaled_dot_product_attention", 4, "dropout_p", None, None, None),
    F.multi_head_attention_forward: ("multi_head_attention_forward", 10, "dropout_p", 13, "training", True),
}
_TORCH_NAMESPACE = {"dropout_", "native_dropout", "feature_dropout"}
_DROPOUT_P = {"scaled_dot_product_attention", "multi_head_attention_forward"}


def _argument(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def parse_call(func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[str, float, bool | None] | None:
    """``(name, p, training)`` for a call of one of :data:`DROPOUT_FUNCTIONS` that can drop (``p > 0``
    and ``training`` not False), else None.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> parse_call(F.dropout, (torch.ones(2), 0.1), {"training": True})
        ('dropout', 0.1, True)
        >>> parse_call(F.dropout, (torch.ones(2),), {"p": 0.1, "training": False}) is None
        True
    """
    spec = DROPOUT_FUNCTIONS.get(func)
    if spec is None:
        return None
    name, p_index, p_name, t_index, t_name, t_default = spec
    p = _argument(args, kwargs, p_index, p_name, 0.5 if p_name == "p" else 0.0)
    training = None if t_index is None else _argument(args, kwargs, t_index, t_name, t_default)
    try:
        p = float(p)
    except (TypeError, ValueError):  # a tensor rate under tracing, or a bad argument torch will reject
        return None
    if p <= 0.0 or training is False:
        return None
    return name, p, None if training is None else bool(training)
