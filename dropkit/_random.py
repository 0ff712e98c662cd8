"""Small helpers for calling torch's random ops from code that ``torch.compile`` traces."""

from __future__ import annotations

import torch

__all__ = ["generator_kwargs"]


def generator_kwargs(generator: torch.Generator | None) -> dict[str, torch.Generator]:
    """``{"generator": generator}``, or ``{}`` for the default generator.

    Passing ``generator=None`` to a random *factory* (``torch.rand``, ``torch.randn``, ``torch.randint``)
    selects an overload whose sizes must be concrete integers: under ``torch.compile`` with a dimension
    that changed between calls (a smaller last batch), tracing then fails with "SymIntArrayRef expected to
    contain only concrete integers" (torch 2.13). Leaving the argument out selects the symbolic-size
    overload and draws the same numbers from the same generator.

    Example:
        >>> import torch
        >>> generator_kwargs(None)
        {}
        >>> g = torch.Generator()
        >>> generator_kwargs(g)["generator"] is g
        True
    """
    return {} if generator is None else {"generator": generator}
