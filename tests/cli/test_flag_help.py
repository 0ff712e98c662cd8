"""``--help`` of the config flags shows each flag's type, allowed values and default (issue 16), taken
from ``Config`` itself so it cannot drift from what the config accepts."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from dropkit.cli.config_args import add_config_arguments
from dropkit.cli.flag_help import flag_allowed, flag_help_text, flag_metavar
from dropkit.train.config import Config

FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dropkit train")
    add_config_arguments(parser)
    return parser


def _help_text() -> str:
    return _parser().format_help()


def test_every_config_flag_shows_type_and_default_and_no_bare_v() -> None:
    assert not re.search(r"--[a-z-]+ V\b", _help_text())
    actions = {a.dest[4:]: a for a in _parser()._actions if a.dest.startswith("cfg_") and a.metavar}
    assert set(actions) == set(FIELDS)
    for name, action in actions.items():
        assert action.metavar != "V" and "type: " in action.help and "default: " in action.help, (name, action.help)


@pytest.mark.parametrize(
    "name, metavar, fragment",
    [
        ("batch_size", "INT", "type: int; allowed: an integer >= 1; default: 100"),
        ("optimizer", "{adam,adamw,sgd}", "allowed: one of adam, adamw, sgd; default: adam"),
        ("p", "FLOAT", "allowed: in [0, 1]; default: 0.5"),
        ("hidden", "INT,INT,...", "type: comma-separated ints; allowed: a list of positive integers; default: 128,64"),
        ("max_norm", "FLOAT", "type: float or none; allowed: None or a number > 0; default: None"),
        ("compile", "BOOL", "allowed: true or false"),
        ("kernel_size", "INT", "allowed: an integer >= 1"),  # from validate's loop over several keys
    ],
)
def test_flag_metavar_and_help(name: str, metavar: str, fragment: str) -> None:
    field = FIELDS[name]
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
    assert flag_metavar(field) == metavar
    assert fragment in flag_help_text(field, "comment", default)
    assert f"--{name.replace('_', '-')} {metavar}" in _help_text()


@pytest.mark.parametrize(
    "name, bad",
    [("batch_size", 0), ("lr", -1.0), ("l2", -0.1), ("p", 1.5), ("kernel_size", 0), ("eval_train_samples", -1),
     ("max_norm", 0.0), ("threads", 0)],
)
def test_allowed_text_is_what_the_config_error_says(name: str, bad: object) -> None:
    allowed = flag_allowed(FIELDS[name])
    assert allowed
    with pytest.raises(ValueError, match=re.escape(f"{name} must be {allowed}")):
        Config(**{name: bad})
