"""``dropkit report``: an HTML report with figures for a run, compare or sweep folder."""

from __future__ import annotations

import argparse
import logging

from dropkit.report import build_report, detect_kind

__all__ = ["add_parser", "run"]

log = logging.getLogger("dropkit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit report`` on the CLI's subparsers."""
    parser = sub.add_parser(
        "report",
        help="write an HTML report (learning curves, accuracy and gap against p, p x l2 heat map, best configs)",
        description="Write a self-contained HTML page (figures inline, no external URLs) plus PNG and SVG "
        "figures for a run folder, a compare folder or a sweep folder (detected). Reads only the run files.",
    )
    parser.add_argument("folder", metavar="RUN_OR_SWEEP_DIR", help="a run, compare or sweep folder")
    parser.add_argument("--out", metavar="DIR", help="report folder (default: <folder>/report)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit report``: write the HTML report of a run or sweep folder; return the exit code."""
    kind = detect_kind(args.folder)
    path = build_report(args.folder, args.out)
    print(f"{kind} report: {path}")
    return 0
