"""The ``dropkit`` command: one module per sub-command in :mod:`dropkit.cli`, each with
``add_parser(subparsers)`` and a ``run(args) -> int`` set as the parser's ``func`` default."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dropkit.cli.errors import CLIError

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order ``dropkit --help`` lists them. Add yours in your section.
COMMANDS: list[str] = [
    "dropkit.cli.train",
    "dropkit.cli.compare",
    "dropkit.cli.datasets",
    # --- sweep / report ---
    "dropkit.cli.sweep",
    "dropkit.cli.report",
    # --- uncertainty ---
    "dropkit.cli.uncertainty",
    # --- bench ---
    # --- text ---
    "dropkit.cli.sample",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dropkit",
        description="Train, compare, sweep and report dropout experiments.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
