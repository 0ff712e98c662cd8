"""The sweep file: a base config, a grid and/or random samples, expanded into a list of trials.

A sweep file is YAML (or JSON)::

    name: mnist1d-rates          # optional; the default output folder is runs/sweeps/<name>
    preset: mnist1d              # optional: start from a preset (see ``dropkit train --help``)
    base:                        # config keys shared by every trial (override the preset)
      epochs: 20
    grid:                        # cartesian product over lists of values of any config key
      p: [0.0, 0.2, 0.4]
      hidden_p: [[0.2, 0.5], [0.5, 0.5]]    # list-valued keys take a list of lists
      seed: [0, 1, 2]
    random:                      # n samples from distributions, seeded; combined with every grid point
      n: 8
      seed: 0
      params:
        lr: {loguniform: [1.0e-4, 1.0e-2]}
        l2: {choice: [0, 1.0e-5, 1.0e-4]}
    executor: local              # optional default executor: local | ray
    resources: {cpus: 1, gpus: 0}            # per trial; ray also takes custom: {NAME: AMOUNT}
    metric: test_acc             # what "best" means in tables and reports

Resolution per trial: ``Config`` defaults < preset < base < grid point < random sample. Every trial's
config is validated when the file is read, so a bad value fails before anything runs.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dropkit._validation import closest_name_hint
from dropkit.sweep.sampling import DISTRIBUTIONS, sample_params
from dropkit.sweep.trial import Trial, make_trial
from dropkit.train.config import config_keys
from dropkit.train.presets import preset_names, preset_values

__all__ = ["SweepSpec", "load_sweep", "parse_sweep", "EXECUTORS", "METRICS"]

EXECUTORS = ("local", "ray")
# Metrics a sweep can rank trials by (columns of the results table).
METRICS = ("test_acc", "best_test_acc", "train_acc", "gap", "test_loss", "train_loss")
_TOP_KEYS = ("name", "description", "preset", "base", "grid", "random", "executor", "resources", "metric")
_RANDOM_KEYS = ("n", "seed", "params")
_RESOURCE_KEYS = ("cpus", "gpus", "custom")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    Args:
        name: the sweep's name (file stem when the file gives none).
        preset: the preset every trial starts from, or None.
        base: config keys shared by every trial.
        grid: key -> list of values; the trials are their cartesian product.
        random: ``{"n", "seed", "params"}`` or None.
        executor: the default executor, ``"local"`` or ``"ray"``.
        cpus: CPU cores per trial (also its torch threads).
        gpus: GPUs per trial (a fraction shares a GPU; Ray only schedules, ``device`` picks it).
        custom: Ray custom resources per trial (``ray start --resources``), name -> amount.
        metric: the column that ranks trials (higher is better except for losses and ``gap``).
        description: free text shown in reports.
        source: the raw mapping, saved as ``sweep.yaml`` in the sweep folder.
    """

    name: str
    preset: str | None
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    random: dict[str, Any] | None
    executor: str = "local"
    cpus: float = 1
    gpus: float = 0
    metric: str = "test_acc"
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, float] = field(default_factory=dict)

    def varied_keys(self) -> list[str]:
        """Config keys that change between trials (grid keys, then random keys), in file order."""
        keys = list(self.grid)
        if self.random:
            keys += [k for k in self.random["params"] if k not in keys]
        return keys

    def trials(self) -> list[Trial]:
        """Every trial of the sweep, grid-major then sample index; each config validated."""
        base: dict[str, Any] = preset_values(self.preset) if self.preset else {}
        base.update(self.base)
        grid_keys = list(self.grid)
        points = [dict(zip(grid_keys, values)) for values in itertools.product(*self.grid.values())]
        samples: list[dict[str, Any]] = [{}]
        if self.random:
            samples = [sample_params(self.random["params"], self.random["seed"], i) for i in range(self.random["n"])]
        given = set(self.base) | set(self.varied_keys())
        out: list[Trial] = []
        seen: set[str] = set()
        for point in points:
            for sample in samples:
                overrides = {**point, **sample}
                values = {**base, **overrides}
                # A sweep naming steps (or epochs) replaces the other one coming from the preset.
                if "steps" in given and "epochs" not in given:
                    values["epochs"] = None
                if "epochs" in given and "steps" not in given:
                    values["steps"] = None
                trial = make_trial(values, overrides, where=f"sweep {self.name!r}")
                if trial.trial_id not in seen:  # duplicate grid values give one trial, not two
                    seen.add(trial.trial_id)
                    out.append(trial)
        return out


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep file (YAML or JSON)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep: file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"sweep: {str(path)!r} is not valid YAML/JSON: {exc}") from None
    return parse_sweep(data, default_name=path.stem)


def parse_sweep(data: Any, *, default_name: str = "sweep") -> SweepSpec:
    """Validate a sweep mapping (as read from a sweep file) and return a :class:`SweepSpec`."""
    where = "sweep"
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the file must hold a mapping with base/grid/random, got {type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            hint = closest_name_hint(str(key), _TOP_KEYS)
            if not hint and str(key).replace("-", "_") in config_keys():
                hint = " (config keys go under 'base:' or 'grid:')"
            raise ValueError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(_TOP_KEYS)}")
    if "grid" not in data and "random" not in data:
        raise ValueError(f"{where}: needs a 'grid:' and/or a 'random:' section, got neither")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{where}: name must be a non-empty string without '/', got {name!r}")
    preset = data.get("preset")
    if preset is not None and preset not in preset_names():
        hint = closest_name_hint(str(preset), preset_names())
        raise ValueError(f"{where}: preset must be one of {', '.join(map(repr, preset_names()))}, got {preset!r}{hint}")
    base = _mapping(data.get("base"), "base")
    for key in base:
        _check_config_key(key, "base")
    base = {k.replace("-", "_"): v for k, v in base.items()}

    grid: dict[str, list[Any]] = {}
    if "grid" in data:
        raw = _mapping(data["grid"], "grid")
        if not raw:
            raise ValueError(f"{where}: grid must map config keys to lists of values, got an empty grid")
        for key, values in raw.items():
            _check_config_key(key, "grid")
            if not isinstance(values, list):
                raise ValueError(f"{where}: grid.{key} must be a list of values, got {values!r}")
            if not values:
                raise ValueError(f"{where}: grid.{key} must be a non-empty list of values, got an empty list")
            grid[str(key).replace("-", "_")] = values

    random = None
    if "random" in data:
        random = _parse_random(data["random"])
        both = sorted(set(grid) & set(random["params"]))
        if both:
            raise ValueError(f"{where}: {both[0]!r} is in both grid and random; give it in one of them")

    executor = data.get("executor", "local")
    if executor not in EXECUTORS:
        hint = closest_name_hint(str(executor), EXECUTORS)
        raise ValueError(f"{where}: executor must be one of {', '.join(map(repr, EXECUTORS))}, got {executor!r}{hint}")
    resources = _mapping(data.get("resources"), "resources")
    for key in resources:
        if key not in _RESOURCE_KEYS:
            raise ValueError(
                f"{where}: unknown key resources.{key}{closest_name_hint(str(key), _RESOURCE_KEYS)}; allowed: cpus, gpus, "
                "custom"
            )
    cpus = resources.get("cpus", 1)
    gpus = resources.get("gpus", 0)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
        raise ValueError(f"{where}: resources.cpus must be a number > 0, got {cpus!r}")
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or gpus < 0:
        raise ValueError(f"{where}: resources.gpus must be a number >= 0, got {gpus!r}")
    custom = _mapping(resources.get("custom"), "resources.custom")
    for key, amount in custom.items():
        if key in ("CPU", "GPU", "cpus", "gpus", "memory", "object_store_memory"):
            raise ValueError(f"{where}: resources.custom.{key}: give CPUs and GPUs as resources.cpus / resources.gpus")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
            raise ValueError(f"{where}: resources.custom.{key} must be a number > 0, got {amount!r}")
    metric = data.get("metric", "test_acc")
    if metric not in METRICS:
        hint = closest_name_hint(str(metric), METRICS)
        raise ValueError(f"{where}: metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}{hint}")
    description = data.get("description", "")
    spec = SweepSpec(
        name=name,
        preset=preset,
        base=base,
        grid=grid,
        random=random,
        executor=executor,
        cpus=cpus,
        gpus=gpus,
        metric=metric,
        description=str(description or ""),
        source=data,
        custom={str(k): float(v) for k, v in custom.items()},
    )
    spec.trials()  # validate every trial's config now, before anything runs
    return spec


def _mapping(value: Any, section: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"sweep: {section} must be a mapping of keys to values, got {value!r}")
    return value


def _check_config_key(key: Any, section: str) -> None:
    name = str(key).replace("-", "_")
    if name not in config_keys():
        raise ValueError(f"sweep: unknown config key {section}.{key}{closest_name_hint(name, config_keys())}")


def _parse_random(raw: Any) -> dict[str, Any]:
    where = "sweep"
    raw = _mapping(raw, "random")
    for key in raw:
        if key not in _RANDOM_KEYS:
            hint = closest_name_hint(str(key), _RANDOM_KEYS)
            if not hint and str(key).replace("-", "_") in config_keys():
                hint = " (distributions go under random.params)"
            raise ValueError(f"{where}: unknown key random.{key}{hint}; allowed: n, seed, params")
    n = raw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: random.n must be an integer >= 1, got {n!r}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{where}: random.seed must be an integer >= 0, got {seed!r}")
    params = _mapping(raw.get("params"), "random.params")
    if not params:
        raise ValueError(f"{where}: random.params must map config keys to distributions, got none")
    clean: dict[str, Any] = {}
    for key, dist in params.items():
        _check_config_key(key, "random.params")
        if not isinstance(dist, dict) or len(dist) != 1:
            kinds = ", ".join(DISTRIBUTIONS)
            raise ValueError(f"{where}: random.params.{key} must be one distribution like {{uniform: [0, 1]}} ({kinds}), got {dist!r}")
        clean[str(key).replace("-", "_")] = dist
    sample_params(clean, seed, 0)  # validates the distributions
    return {"n": n, "seed": seed, "params": clean}
