"""``dropkit datasets``: where each dataset was found, its size and checksum status, and the file
datasets (``--dataset KIND:PATH``) decoded into the cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dropkit.data import dataset_names, dataset_status
from dropkit.data.registry import speech_dataset_names
from dropkit.data.file_cache import cached_entries

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit datasets`` on the CLI's subparsers."""
    parser = sub.add_parser("datasets", help="list datasets: where found, size, checksum status")
    parser.add_argument("--data-dir", metavar="DIR", help="also look in DIR first")
    parser.add_argument("--searched", action="store_true", help="also list every place searched")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def _file_records() -> list[dict]:
    """One record per cached file dataset (``--dataset KIND:PATH``), in the shape of the built-in ones."""
    out = []
    for e in cached_entries():
        out.append({
            "name": f"{e['kind']}:{e['path']}", "found": Path(e["path"]).exists(), "location": e["cache_file"],
            "searched": [], "size_bytes": e["size_bytes"], "num_train": e.get("num_train"),
            "num_test": e.get("num_test"), "checksum": "cached", "cached": True,
            "detail": f"decoded {e.get('created', '?')}; {e.get('split', '')}; classes {', '.join(e['class_names'][:5])}"
                      + (" ..." if len(e["class_names"]) > 5 else ""),
        })
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit datasets``: print where each dataset was found, its size and checksum status; return the exit code."""
    records = [dataset_status(name, data_dir=args.data_dir).as_dict() for name in dataset_names() + speech_dataset_names()]
    records += _file_records()  # file datasets decoded into the cache, newest first
    if args.json:
        print(json.dumps(records, indent=2, default=str))
        return 0
    w = max(15, *(len(r["name"]) + 2 for r in records))
    header = f"{'dataset':<{w}}{'found':<7}{'train':>7}{'test':>7}{'size':>10}  {'checksum':<12} location"
    print(header)
    for r in records:
        location = r["location"] or r["detail"]
        print(
            f"{r['name']:<{w}}{'yes' if r['found'] else 'no':<7}{r['num_train'] or '-':>7}{r['num_test'] or '-':>7}"
            f"{_size(r['size_bytes']):>10}  {r['checksum']:<12} {location}"
        )
        if args.searched:
            for place in r["searched"]:
                print(f"{'':<{w}}searched: {place}")
    return 0
