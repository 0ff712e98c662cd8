"""Which config keys apply to which model: the ``# --- <model> ---`` sections of :class:`Config`.

Keys under a section named after a model (``# --- cnn ---``, ``# --- rnn ---``, ``# --- transformer ---``)
configure that model only; every other key applies to every run. Reports use this so that an MLP run is
not described by CNN or transformer keys, and an MLP compare (whose baseline sets every rate to 0, the
transformer's ``drop_path`` included) does not list those keys as swept.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
from pathlib import Path
from typing import Any

import yaml

from dropkit._io import atomic_write_text
from dropkit.train.config import Config

__all__ = ["model_sections", "applies_to", "keys_for_model", "run_config_dict", "save_run_config"]


@functools.lru_cache(maxsize=1)
def model_sections() -> dict[str, tuple[str, ...]]:
    """model name -> the keys of its section in ``Config`` (only sections named after a model).

    Example:
        >>> "conv_p" in model_sections()["cnn"], "p" in model_sections()["cnn"]
        (True, False)
    """
    from dropkit.train.config import _CHOICES

    models = set(_CHOICES.get("model", ()))
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in inspect.getsource(Config).splitlines():
        head = re.match(r"\s+# --- (.+?) ---", line)
        if head:
            current = head.group(1).strip()
            continue
        field = re.match(r"\s+(\w+):", line)
        if field and current in models:
            sections.setdefault(current, []).append(field.group(1))
    fields = {f.name for f in dataclasses.fields(Config)}
    return {m: tuple(k for k in keys if k in fields) for m, keys in sections.items()}


def applies_to(key: str, model: object) -> bool:
    """Whether config key ``key`` configures a run of ``model``.

    Example:
        >>> applies_to("drop_path", "mlp"), applies_to("drop_path", "transformer"), applies_to("lr", "rnn")
        (False, True, True)
    """
    from dropkit.models.imported import is_import_path

    if is_import_path(model):  # the user's model: --drop-path and the other placement keys may read any section
        return True
    for owner, keys in model_sections().items():
        if key in keys:
            return owner == model or model in _BORROWS.get(owner, ())
    return True


# Models built from another model's section: the GPT reads the transformer's sizes and rates (d_model,
# heads, depth, attn_p, resid_p, ...), the AWD-LSTM language model the RNN's (rnn_hidden, rnn_layers,
# weight_drop), the speech classifier the RNN's too (rnn_cell, rnn_hidden, rnn_layers, rnn_input_p, ...).
_BORROWS: dict[str, tuple[str, ...]] = {"transformer": ("gpt",), "rnn": ("lstm-lm", "speech-rnn")}


def keys_for_model(model: object) -> list[str]:
    """The config keys that apply to ``model``, in ``Config`` order."""
    return [f.name for f in dataclasses.fields(Config) if applies_to(f.name, model)]


def run_config_dict(cfg: Config) -> dict[str, Any]:
    """``cfg`` as a mapping of the keys that apply to its model (what a run's ``config.yaml`` holds).

    Reading it back (:func:`dropkit.train.run_dir.read_config`) fills the other keys with their defaults,
    which the model does not read.

    Example:
        >>> d = run_config_dict(Config(model="mlp"))
        >>> "hidden" in d, "conv_p" in d, "drop_path" in d
        (True, False, False)
    """
    return {k: v for k, v in cfg.to_dict().items() if applies_to(k, cfg.model)}


def save_run_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write :func:`run_config_dict` of ``cfg`` as YAML, atomically."""
    atomic_write_text(Path(path), yaml.safe_dump(run_config_dict(cfg), sort_keys=False))
