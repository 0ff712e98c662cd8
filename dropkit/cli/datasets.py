"""``dropkit datasets``: where each dataset was found, its size and checksum status."""

from __future__ import annotations

import argparse
import json

from dropkit.data import dataset_names, dataset_status

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help="list datasets: where found, size, checksum status")
    parser.add_argument("--data-dir", metavar="DIR", help="also look in DIR first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    records = [dataset_status(name, data_dir=args.data_dir) for name in dataset_names()]
    if args.json:
        print(json.dumps([_plain(r) for r in records], indent=2, default=str))
        return 0
    for r in records:
        rec = _plain(r)
        print(f"{rec.get('name')}:")
        for key, value in rec.items():
            if key != "name":
                print(f"  {key}: {value}")
    return 0


def _plain(record: object) -> dict:
    if isinstance(record, dict):
        return record
    if hasattr(record, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(record)  # type: ignore[arg-type]
    return dict(vars(record))
