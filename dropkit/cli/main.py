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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, CLIError) as exc:
        if args.verbose:
            raise
        print(f"dropkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dropkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
