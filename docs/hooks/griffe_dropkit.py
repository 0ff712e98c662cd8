"""Griffe extension: read dropkit's docstrings as the site renders them.

dropkit's docstrings are Google style with an ``Example:`` section of doctests and Sphinx roles
(``:class:`~dropkit.schedules.DropoutScheduler```). Griffe's Google parser knows ``Examples:`` (doctests
become code blocks) and no roles, so this extension, before parsing:

- renames a section title ``Example:`` to ``Examples:``;
- turns a role naming a ``dropkit`` object into a cross-reference to its API page (an optional one:
  a private or unexported target renders as code instead of failing the build), any other role into
  inline code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.M)
_ROLE = re.compile(r":(?P<role>[a-z]+):`(?P<target>[^`]+)`")
_LINK_ROLES = {"class", "func", "meth", "mod", "attr", "data", "exc", "obj"}


def _role(match: re.Match[str]) -> str:
    role, target = match.group("role"), match.group("target").strip()
    short = target.startswith("~")
    target = target.lstrip("~")
    shown = target.rsplit(".", 1)[-1] if short else target
    if role in _LINK_ROLES:
        shown = shown + "()" if role in {"func", "meth"} and not shown.endswith(")") else shown
        if target.startswith("dropkit."):
            return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'
    return f"<code>{shown}</code>"


def rewrite(text: str) -> str:
    """The docstring as the Google parser should see it (see the module docstring)."""
    return _ROLE.sub(_role, _EXAMPLE.sub(r"\1Examples:", text))


class DropkitDocstrings(griffe.Extension):
    """Apply :func:`rewrite` to every docstring griffe reads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
