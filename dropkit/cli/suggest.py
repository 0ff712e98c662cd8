"""Argument parsing that suggests the closest flag or sub-command for a misspelt one.

argparse (before Python 3.14) answers ``dropkit train --droput 0.3`` with its usage and
"unrecognized arguments", and ``dropkit trian`` with the list of every choice. Config keys and sweep files
already suggest the closest valid name; the command line now does too::

    dropkit train: error: unrecognized arguments: --droput 0.3 (did you mean --dropout?)
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence

__all__ = ["SuggestingParser", "unrecognized_message", "closest_flag"]


def closest_flag(token: str, flags: Sequence[str]) -> str | None:
    """The flag of ``flags`` closest to ``token`` (``--name=value`` compared by its name), or None.

    Example:
        >>> closest_flag("--eval-evry", ["--eval-every", "--epochs", "--p"])
        '--eval-every'
        >>> closest_flag("--epochs=3", ["--eval-every", "--epochs"])
        '--epochs'
    """
    name = token.split("=", 1)[0]
    long_flags = [f for f in flags if f.startswith("--")]
    if not name.startswith("--"):
        return None
    # Compare without the dashes and with '_' as '-' (users type config keys: --eval_every).
    norm = {f[2:]: f for f in long_flags}
    match = difflib.get_close_matches(name[2:].replace("_", "-"), list(norm), n=1, cutoff=0.6)
    return norm[match[0]] if match else None


def unrecognized_message(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's "unrecognized arguments" message with "did you mean" for each unknown flag."""
    flags = sorted(parser._option_string_actions)  # every option string of the parser
    hints = []
    for token in extras:
        if token.startswith("--"):
            best = closest_flag(token, flags)
            name = token.split("=", 1)[0]
            if best and best != name:
                hints.append(f"{name} -> {best}")
    text = f"unrecognized arguments: {' '.join(extras)}"
    if len(hints) == 1:
        return f"{text} (did you mean {hints[0].split(' -> ')[1]}?)"
    if hints:
        return f"{text} (did you mean: {', '.join(hints)}?)"
    return text


class SuggestingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose "invalid choice" errors name the closest choice.

    Sub-parsers created with ``add_subparsers().add_parser`` are of the same class.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.6)
            if close:
                message = f"{message}; did you mean {close[0]!r}?"
        super().error(message)
