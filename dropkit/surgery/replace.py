"""Replace selected sub-modules of a model in place with modules built by a factory."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dropkit.surgery.select import Select, select_modules

__all__ = ["replace_modules"]


def replace_modules(
    model: nn.Module,
    rule: Select,
    factory: Callable[[str, nn.Module], nn.Module | None],
) -> dict[str, tuple[nn.Module, nn.Module]]:
    """Replace every module that ``rule`` selects by ``factory(name, old)``; ``None`` keeps the old one.

    The new module inherits the old one's ``training`` flag. The model itself cannot be replaced.
    Modules are chosen before any replacement, so a factory that wraps a module is not applied twice.

    Args:
        model: the model, changed in place.
        rule: which modules to replace (see :class:`~dropkit.surgery.Select`).
        factory: builds the replacement from the qualified name and the old module.

    Returns:
        ``{qualified_name: (old, new)}`` for each module actually replaced.

    Example:
        >>> from torch import nn
        >>> from dropkit.surgery import Select, replace_modules
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> done = replace_modules(net, Select(types=nn.ReLU), lambda name, old: nn.GELU())
        >>> list(done), type(net[1]).__name__
        (['1'], 'GELU')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"replace_modules: model must be an nn.Module, got {type(model).__name__}")
    if not callable(factory):
        raise TypeError(f"replace_modules: factory must be callable, got {type(factory).__name__}")
    done: dict[str, tuple[nn.Module, nn.Module]] = {}
    for name, old in select_modules(model, rule):
        if not name:
            raise ValueError("replace_modules: rule must not select the model itself, got the root module")
        new = factory(name, old)
        if new is None or new is old:
            continue
        if not isinstance(new, nn.Module):
            raise TypeError(f"replace_modules: factory must return an nn.Module or None, got {type(new).__name__} for {name!r}")
        new.train(old.training)
        model.set_submodule(name, new)
        done[name] = (old, new)
    return done
