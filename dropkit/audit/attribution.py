"""Which module is running: a stack of qualified names kept by forward hooks on every submodule.

The audit attributes each random op to the innermost module whose ``forward`` is running when the op
is dispatched. Hooks are registered with ``always_call=True`` so the stack unwinds when a forward
raises, and every handle is removed on exit: the model keeps no hook, parameter or buffer of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

__all__ = ["ModuleStack", "same_shape_pair"]

OutputHook = Callable[[str, nn.Module, tuple, Any], None]


class ModuleStack:
    """Context manager: while active, :attr:`current` is the qualified name of the running module.

    Args:
        model: the model whose submodules (itself included) are tracked.
        on_exit: called as ``on_exit(name, module, args, output)`` after each module's forward, before
            its name is popped (default: None).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> seen = []
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> stack = ModuleStack(net, on_exit=lambda name, m, a, o: seen.append(name))
        >>> with stack:
        ...     _ = net(torch.ones(1, 2))
        >>> seen
        ['0', '1', '']
    """

    def __init__(self, model: nn.Module, on_exit: OutputHook | None = None) -> None:
        self.model = model
        self.on_exit = on_exit
        self.names: list[str] = []
        self.modules: list[nn.Module] = []
        self._handles: list[Any] = []

    @property
    def current(self) -> str:
        """Qualified name of the innermost running module (``""`` is the root; also when none runs)."""
        return self.names[-1] if self.names else ""

    @property
    def current_module(self) -> nn.Module:
        return self.modules[-1] if self.modules else self.model

    def __enter__(self) -> ModuleStack:
        for name, module in self.model.named_modules():  # a shared module is tracked under its first name
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name), always_call=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.names.clear()
        self.modules.clear()

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple) -> None:
            self.names.append(name)
            self.modules.append(module)

        return hook

    def _post(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            try:
                if self.on_exit is not None and self.names and self.names[-1] == name:
                    self.on_exit(name, module, args, output)
            finally:
                if self.names and self.names[-1] == name:
                    self.names.pop()
                    self.modules.pop()

        return hook


def same_shape_pair(args: tuple, output: Any) -> tuple[Tensor, Tensor] | None:
    """``(input, output)`` when a module took one floating tensor and returned one of the same shape."""
    if not args or not isinstance(args[0], Tensor) or not isinstance(output, Tensor):
        return None
    x = args[0]
    if not x.is_floating_point() or x.shape != output.shape:
        return None
    return x, output
