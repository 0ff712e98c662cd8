"""Rules that pick sub-modules of a model: by type, by qualified name (glob or regex), by position.

Every surgery function (:func:`~dropkit.surgery.replace_modules`, :func:`~dropkit.surgery.insert_dropout`,
:func:`~dropkit.surgery.set_dropout_rate`, :func:`~dropkit.surgery.swap_dropout`) takes a :class:`Select`.
Qualified names are those of ``model.named_modules()``, e.g. ``"blocks.0.attn.attn_drop"``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

__all__ = ["Select", "select_modules"]


@dataclass(frozen=True)
class Select:
    """A rule that selects sub-modules; all given criteria must hold (logical AND).

    Args:
        types: a class or tuple of classes (``isinstance``) (default: None, any type).
        name: a glob on the qualified name (``fnmatch``, ``*`` also crosses dots), e.g.
            ``"blocks.*.attn.attn_drop"`` (default: None).
        regex: a regular expression searched in the qualified name (``re.search``; anchor it with ``^…$``
            for a full match) (default: None).
        positions: which of the modules matching the other criteria to keep, counted in
            ``named_modules()`` order: an int, a sequence of ints (negative counts from the end) or a
            slice, e.g. ``-1`` for the last match (default: None, all of them).
        where: any extra predicate ``where(name, module) -> bool`` (default: None).
        include_root: also consider the model itself (qualified name ``""``) (default: False).

    Example:
        >>> from torch import nn
        >>> from dropkit.surgery import Select, select_modules
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> [n for n, _ in select_modules(net, Select(types=nn.Linear, positions=slice(0, -1)))]
        ['0', '2']
        >>> [n for n, _ in select_modules(net, Select(regex=r"^[13]$"))]
        ['1', '3']
    """

    types: type | tuple[type, ...] | None = None
    name: str | None = None
    regex: str | None = None
    positions: int | Sequence[int] | slice | None = None
    where: Callable[[str, nn.Module], bool] | None = None
    include_root: bool = False

    def __post_init__(self) -> None:
        where = "Select"
        if self.types is not None:
            types = self.types if isinstance(self.types, tuple) else (self.types,)
            if not types or not all(isinstance(t, type) for t in types):
                raise TypeError(f"{where}: types must be a class or a tuple of classes, got {self.types!r}")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"{where}: name must be a glob string, got {type(self.name).__name__}")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"{where}: regex must be a valid regular expression, got {self.regex!r} ({exc})") from None
        pos = self.positions
        if pos is not None and not isinstance(pos, slice):
            items = [pos] if isinstance(pos, int) else pos
            if isinstance(items, (str, bytes)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
                raise TypeError(f"{where}: positions must be an int, a sequence of ints or a slice, got {pos!r}")
        if self.where is not None and not callable(self.where):
            raise TypeError(f"{where}: where must be callable, got {type(self.where).__name__}")

    def matches(self, name: str, module: nn.Module) -> bool:
        """True when ``module`` named ``name`` meets every criterion except ``positions``."""
        if not name and not self.include_root:
            return False
        if self.types is not None and not isinstance(module, self.types):
            return False
        if self.name is not None and not fnmatch.fnmatchcase(name, self.name):
            return False
        if self.regex is not None and re.search(self.regex, name) is None:
            return False
        return self.where is None or bool(self.where(name, module))

    def __call__(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        return select_modules(model, self)


def select_modules(model: nn.Module, rule: Select | None = None) -> list[tuple[str, nn.Module]]:
    """Return the ``(qualified_name, module)`` pairs of ``model`` that ``rule`` selects, in module order.

    Args:
        model: the model to search.
        rule: the selection rule (default: None, every sub-module except the root).

    Raises:
        IndexError: a position in ``rule.positions`` is out of range for the matches.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"select_modules: model must be an nn.Module, got {type(model).__name__}")
    rule = rule if rule is not None else Select()
    if not isinstance(rule, Select):
        raise TypeError(f"select_modules: rule must be a Select, got {type(rule).__name__}")
    hits = [(n, m) for n, m in model.named_modules() if rule.matches(n, m)]
    pos = rule.positions
    if pos is None:
        return hits
    if isinstance(pos, slice):
        return hits[pos]
    items = [pos] if isinstance(pos, int) else list(pos)
    out = []
    for i in items:
        if not -len(hits) <= i < len(hits):
            raise IndexError(f"select_modules: positions must be in [{-len(hits)}, {len(hits) - 1}] "
                             f"for {len(hits)} matching modules, got {i}")
        out.append(hits[i])
    return out
