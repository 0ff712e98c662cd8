"""What each ``--<config-key>`` flag accepts, for ``--help``: its type, allowed values and default.

The facts come from :class:`~dropkit.train.config.Config` itself, so the help cannot drift from what
the config accepts: the field's annotation gives the type (``int``, ``float | None``, ``list[int]``),
``Config.validate``'s checks give the allowed range (``an integer >= 1``, ``in [0, 1]``) and the
config's choice table the allowed names.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from functools import lru_cache
from typing import Any

from dropkit.train import config as _config

__all__ = ["flag_metavar", "flag_type", "flag_allowed", "flag_help_text"]

_SCALAR = {"int": "INT", "float": "FLOAT", "bool": "BOOL", "str": "STR"}


def _annotation(field: dataclasses.Field[Any]) -> tuple[str, bool, bool]:
    """``(scalar type name, is a list, may be None)`` of a field's annotation string."""
    text = str(field.type).replace(" ", "")
    parts = [p for p in text.split("|") if p != "None"]
    optional = len(parts) < len(text.split("|"))
    base = parts[0] if parts else "str"
    is_list = base.startswith("list[")
    return (base[5:-1] if is_list else base), is_list, optional


def _need_calls(node: ast.AST) -> list[ast.Call]:
    return [c for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
            and c.func.id == "need" and len(c.args) == 3]


@lru_cache(maxsize=1)
def _allowed_from_validate() -> dict[str, str]:
    """``key -> allowed`` from the ``need(condition, key, allowed)`` checks of ``Config.validate``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(_config.Config.validate)))
    allowed: dict[str, str] = {}
    for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For) and isinstance(n.iter, ast.Tuple)):
        keys = [e.value for e in loop.iter.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        for call in _need_calls(loop):
            if isinstance(call.args[1], ast.Name) and isinstance(call.args[2], ast.Constant):
                allowed.update({k: call.args[2].value for k in keys})
    for call in _need_calls(tree):
        key, text = call.args[1], call.args[2]
        # a computed message (one rate per hidden layer) is an f-string, left out
        if isinstance(key, ast.Constant) and isinstance(text, ast.Constant):
            allowed.setdefault(key.value, text.value)
    for key in _config.DROPOUT_FIELDS:
        allowed.setdefault(key, "in [0, 1]" if key != "hidden_p" else "a list of rates in [0, 1]")
    return allowed


def flag_type(field: dataclasses.Field[Any]) -> str:
    """The field's type in words: ``int``, ``float or none``, ``comma-separated ints``."""
    base, is_list, optional = _annotation(field)
    words = f"comma-separated {base}s" if is_list else base
    return f"{words} or none" if optional else words


def flag_allowed(field: dataclasses.Field[Any]) -> str | None:
    """The values the config accepts, from its checks and choice table (None: any value of the type)."""
    choices = _config._CHOICES.get(field.name)
    if choices:
        return "one of " + ", ".join(choices)
    if _annotation(field)[0] == "bool":
        return "true or false (also 1/0, yes/no, on/off)"
    return _allowed_from_validate().get(field.name)


def flag_metavar(field: dataclasses.Field[Any]) -> str:
    """The flag's placeholder in usage lines: ``{adam,adamw,sgd}``, ``INT``, ``FLOAT``, ``INT,INT,...``."""
    choices = _config._CHOICES.get(field.name)
    if choices:
        return "{" + ",".join(choices) + "}"
    base, is_list, _ = _annotation(field)
    name = _SCALAR.get(base, base.upper())
    return f"{name},{name},..." if is_list else name


def flag_help_text(field: dataclasses.Field[Any], comment: str, default: Any) -> str:
    """``comment (type: ...; allowed: ...; default: ...)`` for ``--help``.

    Example:
        >>> import dataclasses
        >>> from dropkit.train.config import Config
        >>> f = {f.name: f for f in dataclasses.fields(Config)}["batch_size"]
        >>> flag_metavar(f), flag_help_text(f, "training batch size", 100)
        ('INT', 'training batch size (type: int; allowed: an integer >= 1; default: 100)')
    """
    allowed = flag_allowed(field)
    choices = _config._CHOICES.get(field.name)
    if choices and comment.startswith(" | ".join(choices)):  # the comment only listed the choices
        comment = comment[len(" | ".join(choices)):].lstrip(" :;,")
    shown = ",".join(map(str, default)) if isinstance(default, list) else default
    parts = [f"type: {flag_type(field)}"] + ([f"allowed: {allowed}"] if allowed else []) + [f"default: {shown}"]
    return f"{comment} ({'; '.join(parts)})".strip()
