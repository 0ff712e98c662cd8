"""Re-rate dropout: set the drop probability of selected stochastic modules in place."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dropkit._validation import check_probability
from dropkit.surgery.select import Select, select_modules
from dropkit.surgery.stochastic import get_rate, is_regulariser, set_rate

__all__ = ["set_dropout_rate"]


def set_dropout_rate(
    model: nn.Module,
    p: float | Callable[[str, nn.Module, float], float],
    rule: Select | None = None,
) -> dict[str, tuple[float, float]]:
    """Set the drop probability of every selected module that has a rate (``p``, ``drop_prob``, ...).

    With the default rule this reaches ``nn.Dropout*``, dropkit's modules, timm's ``DropPath``
    (``drop_prob``), torchvision's ``StochasticDepth`` and ``nn.MultiheadAttention`` (``dropout``); timm and
    Hugging Face attention read ``self.attn_drop.p`` / ``self.dropout.p`` at call time, so re-rating their
    dropout module also re-rates the functional attention dropout.

    Args:
        model: the model, changed in place.
        p: the new probability of **dropping**, in ``[0, 1]``, or a function ``(name, module, old_p) -> p``.
        rule: which modules to consider (default: None, every module with a rate whose class is a
            dropout-like regulariser, see :func:`~dropkit.surgery.stochastic.is_stochastic`, including
            those at rate 0).

    Returns:
        ``{qualified_name: (old_p, new_p)}``.

    Example:
        >>> from torch import nn
        >>> from dropkit.surgery import set_dropout_rate
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2), nn.Dropout(0.1))
        >>> set_dropout_rate(net, lambda name, m, old: old / 2)
        {'1': (0.5, 0.25), '3': (0.1, 0.05)}
    """
    where = "set_dropout_rate"
    if not callable(p):
        p = check_probability(where, "p", p)
    if rule is None:
        rule = Select(where=_is_regulariser)
    changed: dict[str, tuple[float, float]] = {}
    for name, module in select_modules(model, rule):
        old = get_rate(module)
        if old is None:
            continue
        new = check_probability(where, "p", p(name, module, old) if callable(p) else p)
        set_rate(module, new)
        changed[name] = (old, new)
    return changed


def _is_regulariser(name: str, module: nn.Module) -> bool:
    return get_rate(module) is not None and is_regulariser(module)
