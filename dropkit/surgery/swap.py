"""Swap PyTorch's dropout modules for dropkit's, keeping rates, training flags and ``state_dict`` keys.

Dropout modules hold no parameters or buffers, so swapping them leaves every key of the model's
``state_dict`` unchanged (checked after the swap). Attention modules that read their rate from a dropout
child at call time (timm's ``Attention`` uses ``self.attn_drop.p``, Hugging Face BERT ``self.dropout.p``)
keep working because dropkit's modules expose the same ``p`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dropkit.surgery.replace import replace_modules
from dropkit.surgery.select import Select

__all__ = ["swap_dropout", "default_swap_map"]

# torch class -> name of the dropkit.nn class that replaces it (looked up when the swap runs, so that
# classes added to dropkit.nn later are picked up).
_TORCH_TO_DROPKIT: dict[type[nn.Module], str] = {
    nn.Dropout: "Dropout",
    nn.Dropout1d: "Dropout1d",
    nn.Dropout2d: "Dropout2d",
    nn.Dropout3d: "Dropout3d",
    nn.AlphaDropout: "AlphaDropout",
    nn.FeatureAlphaDropout: "FeatureAlphaDropout",
}


def default_swap_map() -> dict[type[nn.Module], Callable[[nn.Module], nn.Module]]:
    """``{torch class: builder(old) -> dropkit module}`` for the dropkit classes that exist right now.

    Each builder passes the old module's ``p`` and ``inplace``, the two arguments torch's and dropkit's classes
    share, in that order.

    Example:
        >>> from torch import nn
        >>> nn.Dropout in default_swap_map()
        True
    """
    import dropkit.nn as dnn

    table: dict[type[nn.Module], Callable[[nn.Module], nn.Module]] = {}
    for torch_cls, name in _TORCH_TO_DROPKIT.items():
        cls = getattr(dnn, name, None)
        if cls is not None:
            table[torch_cls] = lambda old, cls=cls: cls(float(old.p), bool(old.inplace))
    return table


def swap_dropout(
    model: nn.Module,
    rule: Select | None = None,
    mapping: dict[type[nn.Module], Callable[[nn.Module], nn.Module]] | None = None,
) -> dict[str, tuple[nn.Module, nn.Module]]:
    """Replace ``torch.nn`` dropout modules by dropkit's versions, in place.

    Only exact classes in ``mapping`` are swapped (a subclass of ``nn.Dropout`` may change its meaning).
    Classes with no dropkit counterpart yet are left as they are.

    Args:
        model: the model, changed in place.
        rule: restrict the swap to these modules (default: None, every module).
        mapping: ``{torch class: builder(old) -> new module}`` (default: None, :func:`default_swap_map`).

    Returns:
        ``{qualified_name: (old, new)}`` for each swapped module.

    Raises:
        RuntimeError: a builder returned a module with parameters or buffers, so the model's
            ``state_dict`` keys changed (the model is restored first).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.surgery import swap_dropout
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3), nn.Linear(4, 2))
        >>> keys = list(net.state_dict())
        >>> done = swap_dropout(net)
        >>> type(net[1]).__module__, net[1].p, list(net.state_dict()) == keys
        ('dropkit.nn.dropout', 0.3, True)
    """
    table = default_swap_map() if mapping is None else dict(mapping)
    base = rule if rule is not None else Select()
    selected = Select(
        types=base.types,
        name=base.name,
        regex=base.regex,
        positions=base.positions,
        where=lambda n, m: type(m) in table and (base.where is None or bool(base.where(n, m))),
    )
    keys = list(model.state_dict().keys())
    done = replace_modules(model, selected, lambda name, old: table[type(old)](old))
    if list(model.state_dict().keys()) != keys:
        for name, (old, _new) in done.items():
            model.set_submodule(name, old)
        raise RuntimeError("swap_dropout: the swap changed the model's state_dict keys; a builder in "
                           "mapping must return a module without parameters or buffers")
    return done
