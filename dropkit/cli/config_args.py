"""Command-line flags for every config key, shared by ``train``, ``compare`` and ``sweep``.

Flags are generated from :class:`~dropkit.train.config.Config`: ``eval_every`` becomes
``--eval-every``, its help text is the field's comment and its default is shown. Values are parsed
by the config's own coercion, so the CLI, config files and sweeps accept the same things.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any

from dropkit.cli.flag_help import flag_help_text, flag_metavar
from dropkit.train.config import Config, from_dict, load_config_file
from dropkit.train.presets import PRESETS, preset_names, preset_values

__all__ = ["add_config_arguments", "resolve_config", "field_help"]


def field_help() -> dict[str, str]:
    """The ``# comment`` after each field of ``Config``, keyed by field name."""
    out: dict[str, str] = {}
    for line in inspect.getsource(Config).splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


# Other spellings of a config key's flag: what users type first.
_FLAG_ALIASES: dict[str, tuple[str, ...]] = {"p": ("--dropout",)}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config`` and one ``--<key>`` flag per config key."""
    presets = ", ".join(f"{n} ({PRESETS[n]['description']})" for n in preset_names())
    parser.add_argument("--preset", metavar="NAME", help="start from a preset: " + presets.replace("%", "%%"))  # argparse formats help with %
    parser.add_argument("--config", metavar="FILE", help="a YAML or JSON file of config keys (overrides the preset)")
    group = parser.add_argument_group("config keys (override preset and config file)")
    helps = field_help()
    for f in dataclasses.fields(Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            *_FLAG_ALIASES.get(f.name, ()),
            dest=f"cfg_{f.name}",
            metavar=flag_metavar(f),
            default=None,
            help=flag_help_text(f, helps.get(f.name, ""), default),
        )
    group.add_argument("--no-progress", dest="cfg_progress", action="store_const", const="false", help="hide the progress bar")


def resolve_config(args: argparse.Namespace, *, base: dict[str, Any] | None = None, **forced: Any) -> Config:
    """defaults < ``base`` (e.g. a run's saved config) < preset < config file < flags < ``forced``."""
    values: dict[str, Any] = dict(base or {})
    file_values = load_config_file(args.config) if getattr(args, "config", None) else {}
    # A config file may name a preset (as sweep files do): it starts from it; --preset on the command line wins.
    preset = getattr(args, "preset", None) or file_values.pop("preset", None)
    file_values.pop("preset", None)
    if preset:
        values.update(preset_values(str(preset)))
    values.update(file_values)
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            values[key[4:]] = value
    values.update(forced)
    # A flag giving steps (or epochs) replaces the other one coming from a preset or file.
    given = _flags_given(args)
    if "steps" in given and "epochs" not in given:
        values["epochs"] = None
    if "epochs" in given and "steps" not in given:
        values["steps"] = None
    if "epochs" in values and values.get("epochs") is not None and "steps" not in values:
        values["steps"] = None
    return from_dict(values)


def _flags_given(args: argparse.Namespace) -> set[str]:
    return {k[4:] for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
