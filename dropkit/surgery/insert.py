"""Insert dropout after chosen layers without changing the model's ``state_dict`` keys.

The new dropout module is registered as a child of the chosen layer under the name ``"dropout_after"``
and applied to the layer's output by a forward hook. Because dropout holds no parameters, every existing
key (``fc.weight``, ``net.3.bias``, ...) stays the same, so checkpoints load before and after; the new
module is a real sub-module, so ``.train()``/``.eval()``, :func:`~dropkit.surgery.mc_mode`,
:func:`~dropkit.surgery.set_dropout_rate` and :func:`~dropkit.surgery.swap_dropout` all see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from dropkit._validation import check_probability
from dropkit.surgery.select import Select, select_modules

__all__ = ["INSERTED_NAME", "insert_dropout", "remove_inserted_dropout"]

#: Name under which an inserted dropout module is registered on its layer.
INSERTED_NAME = "dropout_after"


def _apply_inserted(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
    """Drop the layer's output: a tensor, or the first item of a tuple / list (an RNN's output sequence,
    also as a PackedSequence); the other items (an RNN's final state) pass through unchanged."""
    drop = getattr(module, INSERTED_NAME)
    if isinstance(output, Tensor):
        return drop(output)
    if isinstance(output, PackedSequence):
        return output._replace(data=drop(output.data))
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], (Tensor, PackedSequence)):
        first = _apply_inserted(module, args, output[0])
        return type(output)([first, *output[1:]]) if not hasattr(output, "_fields") else output._replace(
            **{output._fields[0]: first})
    raise TypeError(
        f"insert_dropout: the output of {type(module).__name__} must be a Tensor, a PackedSequence or a tuple "
        f"whose first item is one, got {type(output).__name__}; select another layer or wrap its output"
    )


def insert_dropout(
    model: nn.Module,
    after: Select,
    p: float = 0.1,
    *,
    factory: Callable[[float], nn.Module] | None = None,
) -> list[str]:
    """Apply a new dropout to the output of every layer that ``after`` selects.

    A layer that returns a tuple (``nn.LSTM``: ``(output, (h, c))``) gets dropout on its first item only.

    Args:
        model: the model, changed in place.
        after: the layers after which dropout goes, e.g. ``Select(types=nn.Linear, positions=slice(0, -1))``
            for every Linear but the output layer.
        p: probability of **dropping**, in ``[0, 1]`` (default: 0.1).
        factory: builds the dropout module from ``p`` (default: None, :class:`dropkit.nn.Dropout`).

    Returns:
        The qualified names of the layers that received dropout.

    Raises:
        ValueError: a selected layer already has an inserted dropout.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.surgery import Select, insert_dropout
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> keys = list(net.state_dict())
        >>> insert_dropout(net, Select(types=nn.Linear, positions=0), p=0.2)
        ['0']
        >>> net[0].dropout_after.p, list(net.state_dict()) == keys
        (0.2, True)
    """
    where = "insert_dropout"
    p = check_probability(where, "p", p)
    if factory is None:
        from dropkit.nn.dropout import Dropout

        factory = Dropout
    targets = select_modules(model, after)
    for name, layer in targets:
        if hasattr(layer, INSERTED_NAME):
            raise ValueError(f"{where}: after must select layers without inserted dropout, got {name!r} which has one")
    done = []
    for name, layer in targets:
        drop = factory(p)
        if not isinstance(drop, nn.Module) or any(True for _ in drop.parameters()) or any(True for _ in drop.buffers()):
            raise TypeError(f"{where}: factory must return an nn.Module without parameters or buffers, got {type(drop).__name__}")
        drop.train(layer.training)
        layer.add_module(INSERTED_NAME, drop)
        layer.register_forward_hook(_apply_inserted)
        done.append(name)
    return done


def remove_inserted_dropout(model: nn.Module) -> list[str]:
    """Undo :func:`insert_dropout` everywhere in ``model``; return the names of the layers cleaned.

    Example:
        >>> from torch import nn
        >>> from dropkit.surgery import Select, insert_dropout, remove_inserted_dropout
        >>> net = nn.Sequential(nn.Linear(4, 2))
        >>> _ = insert_dropout(net, Select(types=nn.Linear))
        >>> remove_inserted_dropout(net), hasattr(net[0], "dropout_after")
        (['0'], False)
    """
    cleaned = []
    for name, layer in list(model.named_modules()):
        if INSERTED_NAME in layer._modules:
            for key, hook in list(layer._forward_hooks.items()):
                if hook is _apply_inserted:
                    del layer._forward_hooks[key]
            del layer._modules[INSERTED_NAME]
            cleaned.append(name)
    return cleaned
