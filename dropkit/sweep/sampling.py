"""Random search: draw config values from named distributions, reproducibly.

Sample ``i`` of a sweep depends only on ``(seed, i)`` and the distributions, never on ``n``: growing
``random.n`` from 8 to 16 keeps the first 8 trials (and their finished run folders).

Distributions (one per key, written ``{kind: args}``):

- ``uniform: [low, high]``        a float in [low, high)
- ``loguniform: [low, high]``     a float whose log is uniform in [log low, log high); low > 0
- ``randint: [low, high]``        an integer in [low, high], both ends included
- ``choice: [a, b, ...]``         one of the values (lists allowed, e.g. ``hidden`` sizes)
- ``normal: [mean, std]``         a Gaussian float
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["DISTRIBUTIONS", "sample_params", "sample_value"]

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice", "normal")


def sample_value(where: str, dist: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """Draw one value from ``dist`` (``{kind: args}``) with ``rng``; errors name ``where``."""
    ((kind, args),) = dist.items()
    if kind not in DISTRIBUTIONS:
        from dropkit._validation import closest_name_hint

        raise ValueError(
            f"{where}: distribution must be one of {', '.join(map(repr, DISTRIBUTIONS))}, got {kind!r}"
            f"{closest_name_hint(str(kind), DISTRIBUTIONS)}"
        )
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"{where}: choice must be a non-empty list of values, got {args!r}")
        return args[int(rng.integers(len(args)))]
    if (
        not isinstance(args, list)
        or len(args) != 2
        or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in args)
    ):
        raise ValueError(f"{where}: {kind} must be a list of two finite numbers, got {args!r}")
    a, b = args
    if kind == "normal":
        if b < 0:
            raise ValueError(f"{where}: normal std must be >= 0, got {b!r}")
        return float(rng.normal(a, b))
    if a > b:
        raise ValueError(f"{where}: {kind} must be [low, high] with low <= high, got {args!r}")
    if kind == "uniform":
        return float(rng.uniform(a, b))
    if kind == "loguniform":
        if a <= 0:
            raise ValueError(f"{where}: loguniform low must be > 0, got {a!r}")
        return float(math.exp(rng.uniform(math.log(a), math.log(b))))
    if not (float(a).is_integer() and float(b).is_integer()):
        raise ValueError(f"{where}: randint must be [low, high] with integers, got {args!r}")
    return int(rng.integers(int(a), int(b) + 1))


def sample_params(params: Mapping[str, Mapping[str, Any]], seed: int, index: int) -> dict[str, Any]:
    """Sample ``index`` of a random search: one value per key, drawn in the keys' order.

    Example:
        >>> space = {"lr": {"loguniform": [1e-4, 1e-2]}, "p": {"choice": [0.2, 0.5]}}
        >>> sample_params(space, seed=0, index=3) == sample_params(space, seed=0, index=3)
        True
    """
    rng = np.random.default_rng([seed, index])
    return {key: sample_value(f"sweep: random.params.{key}", dist, rng) for key, dist in params.items()}
