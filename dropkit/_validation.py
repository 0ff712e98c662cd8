"""Argument checks shared by every public entry point.

All messages follow one shape so that users can act on them:
``"<where>: <argument> must be <allowed>, got <given>"``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence

import torch

from dropkit.errors import DropkitInputError, DropkitTypeError

__all__ = [
    "check_probability",
    "check_positive_int",
    "check_positive",
    "check_non_negative",
    "check_choice",
    "check_rank",
    "check_floating",
    "normalize_dims",
    "closest_name_hint",
]


def check_probability(where: str, name: str, value: object, *, allow_one: bool = True) -> float:
    """Return ``value`` as a float after checking it is a probability.

    Args:
        where: name of the calling function or class, used as the message prefix.
        name: argument name.
        value: the value given.
        allow_one: accept exactly 1 (``[0, 1]``); otherwise the interval is ``[0, 1)``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value.item())
        else:
            raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__}")
    if not isinstance(value, float):
        value = float(value)
    # Comparisons only (no float() of a float, no math.isnan): under torch.compile a rate that changed
    # between calls (a scheduled rate) is traced as a symbolic float, for which those break the graph
    # (an error with fullgraph=True) while comparisons become guards that hold for every valid rate.
    upper_ok = value <= 1.0 if allow_one else value < 1.0
    if not (value >= 0.0 and upper_ok):  # False for nan too
        interval = "[0, 1]" if allow_one else "[0, 1)"
        # a ValueError and a RuntimeError: torch raises the one or the other (nan) for a bad rate
        raise DropkitInputError(f"{where}: {name} must be in {interval}, got {value:g}")
    return value


def check_positive_int(where: str, name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value}")
    return value


def check_positive(where: str, name: str, value: object) -> float:
    """Return ``value`` as a float after checking it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_non_negative(where: str, name: str, value: object) -> float:
    """Return ``value`` as a float after checking it is finite and >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def closest_name_hint(value: str, allowed: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` when a close match exists, else ``""``."""
    match = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_choice(where: str, name: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` after checking it is one of ``allowed``."""
    if value not in allowed:
        hint = closest_name_hint(str(value), allowed)
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{where}: {name} must be one of {options}, got {value!r}{hint}")
    return str(value)


def check_rank(where: str, x: torch.Tensor, ranks: Iterable[int], layout: str) -> None:
    """Check ``x.dim()`` is one of ``ranks``; ``layout`` names the expected axes, e.g. ``"(N, C, H, W)"``."""
    ranks = tuple(ranks)
    if x.dim() not in ranks:
        expected = " or ".join(f"{r}D" for r in ranks)
        raise DropkitInputError(f"{where}: expected {expected} input {layout}, got shape {tuple(x.shape)}")


def check_bool(where: str, name: str, value: object) -> bool:
    """Check that ``value`` is a bool (a flag given a number or a string is an error, not a truth test)."""
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a bool, got {value!r}")
    return value


def check_floating(where: str, x: torch.Tensor, name: str = "input") -> None:
    """Check that ``x`` is a floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise DropkitTypeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():  # a TypeError and a RuntimeError, as torch's dropout raises
        raise DropkitTypeError(f"{where}: {name} must be a floating-point tensor, got dtype {x.dtype}")


def check_dims_type(where: str, name: str, dims: object) -> tuple[int, ...]:
    """Check that ``dims`` is an int or a sequence of ints (not bools) and return it as a tuple; the
    range is checked against an input's rank by :func:`normalize_dims`."""
    if isinstance(dims, int) and not isinstance(dims, bool):
        return (dims,)
    if not isinstance(dims, (tuple, list)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{where}: {name} must be an int or a sequence of ints, got {dims!r}")
    return tuple(dims)


def normalize_dims(where: str, name: str, dims: object, ndim: int) -> tuple[int, ...]:
    """Turn ``dims`` (an int or a sequence of ints, negatives allowed) into sorted non-negative dims."""
    if isinstance(dims, int) and not isinstance(dims, bool):
        dims = (dims,)
    if not isinstance(dims, (tuple, list)) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in dims
    ):
        raise TypeError(f"{where}: {name} must be an int or a sequence of ints, got {dims!r}")
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise ValueError(
                f"{where}: {name} must hold dims in [{-ndim}, {ndim - 1}] for a {ndim}D input, got {d}"
            )
        out.append(d % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: {name} must not repeat a dim, got {tuple(dims)}")
    return tuple(sorted(out))
