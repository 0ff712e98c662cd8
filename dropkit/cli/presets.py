"""``dropkit presets``: the named starting points, one per line; ``dropkit presets NAME`` prints one as YAML.

Before, the presets were one paragraph of ``train --help``. The YAML a preset prints is a valid
``--config`` file (with ``preset: NAME`` it can also be named in one).
"""

from __future__ import annotations

import argparse

import yaml

from dropkit.train.presets import PRESETS, preset_names, preset_values

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "presets",
        help="list the presets (--preset NAME), or print one preset's config keys",
        description="List the presets of train/compare/sweep (--preset NAME); with NAME, print its config keys as YAML.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="a preset to print as YAML (default: list them all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.name:
        values = preset_values(args.name)  # an unknown name: an error listing the presets
        print(f"# preset {args.name}: {PRESETS[args.name]['description']}")
        print(yaml.safe_dump(values, sort_keys=False), end="")
        return 0
    names = preset_names()
    width = max(len(n) for n in names) + 2
    for name in names:
        print(f"{name:<{width}}{PRESETS[name]['description']}")
    print("\nuse: dropkit train --preset NAME   (dropkit presets NAME shows its keys)")
    return 0
