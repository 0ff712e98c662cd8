"""The ``dropkit`` command: one module per sub-command in :mod:`dropkit.cli`, each with
``add_parser(subparsers)`` and a ``run(args) -> int`` set as the parser's ``func`` default."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from dropkit import __version__
from dropkit.cli.errors import CLIError
from dropkit.cli.suggest import SuggestingParser, unrecognized_message

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order ``dropkit --help`` lists them. Add yours in your section.
COMMANDS: list[str] = [
    "dropkit.cli.train",
    "dropkit.cli.compare",
    "dropkit.cli.datasets",
    "dropkit.cli.presets",
    # --- sweep / report ---
    "dropkit.cli.sweep",
    "dropkit.cli.report",
    # --- uncertainty ---
    "dropkit.cli.uncertainty",
    # --- bench ---
    # --- audit ---
    "dropkit.cli.audit",
    # --- text ---
    "dropkit.cli.sample",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``dropkit`` argument parser with every subcommand."""
    parser = SuggestingParser(
        prog="dropkit",
        description="Train, compare, sweep and report dropout experiments.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"dropkit {__version__} (torch {_torch_version()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler that writes to ``sys.stderr`` as it is when a record is emitted.

    ``logging.basicConfig(stream=sys.stderr)`` binds the stream of the first call for good: when
    :func:`main` runs more than once in a process (tests, notebooks) and ``sys.stderr`` was replaced
    in between, later records went to the old, possibly closed, stream ("--- Logging error ---").
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102 - the property StreamHandler.emit reads
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(verbose: bool) -> None:
    """Log ``%(message)s`` lines to the current stderr, at DEBUG with ``--verbose`` else INFO.

    Like ``logging.basicConfig``, a root logger that already has other handlers (the caller's own
    logging set-up) is left alone.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _CurrentStderrHandler)]
    if not ours:
        if root.handlers:
            return
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dropkit`` command: parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # name the closest flag of the sub-command (argparse only prints its usage)
        sub = _subparser(parser, args.command)
        sub.error(unrecognized_message(extras, sub))
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, ImportError, CLIError) as exc:
        if args.verbose:
            raise
        print(f"dropkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dropkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dropkit datasets --json | head`: the reader is gone, stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
