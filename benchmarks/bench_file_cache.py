"""Cold vs cached load of a file dataset (``--dataset KIND:PATH``): what the decoded-data cache saves.

Providers, each repeated and interleaved, one torch thread:

- ``decode``: :func:`~dropkit.data.load_file_dataset` with ``cache=False`` (read, check, split, convert);
- ``decode+write``: a cold cache: decode and write the cache entry (the first run on the files);
- ``cached``: the entry is there (every later run; ``env.json`` says ``"cache": "hit"``);
- ``builtin``: ``load_dataset(name)`` of the same files as a known dataset (SHA-256 check + gunzip),
  when ``--builtin NAME`` is given, for scale.

Usage::

    python benchmarks/bench_file_cache.py [--dataset idx:/usr/share/datasets/fashion-mnist] [--repeats 5]
    python benchmarks/bench_file_cache.py --smoke --out /tmp/file_cache.csv   # tiny .npz, for the tests
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["dataset", "provider", "median_s", "min_s", "max_s", "repeats", "num_train", "num_test", "cache_bytes",
           "cpu", "torch", "git_sha", "date"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="idx:/usr/share/datasets/fashion-mnist", help="a KIND:PATH spec")
    parser.add_argument("--builtin", default=None, help="also time load_dataset(NAME) on the same files (e.g. fashion-mnist)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny generated .npz instead of --dataset")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cpu" / "file_cache.csv")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-file-cache-"))
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")  # a private cache: cold means cold
    import numpy as np
    import torch

    from dropkit.data import clear_memo, load_dataset, load_file_dataset
    from dropkit.data.file_cache import cache_root
    from dropkit.train.env_info import cpu_name, git_sha

    torch.set_num_threads(1)
    spec = args.dataset
    if args.smoke:
        rng = np.random.default_rng(0)
        np.savez(scratch / "tiny.npz", x=rng.integers(0, 256, (200, 1, 8, 8), dtype=np.uint8), y=np.arange(200) % 4)
        spec, args.repeats = f"npz:{scratch / 'tiny.npz'}", min(args.repeats, 2)

    def clear_cache() -> None:
        for p in cache_root().glob("*") if cache_root().is_dir() else []:
            p.unlink()

    def timed(fn) -> tuple[float, object]:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    times: dict[str, list[float]] = {"decode": [], "decode+write": [], "cached": []}
    if args.builtin:
        times["builtin"] = []
    ds = None
    for _ in range(args.repeats):
        times["decode"].append(timed(lambda: load_file_dataset(spec, cache=False))[0])
        clear_cache()
        t, ds = timed(lambda: load_file_dataset(spec))
        assert ds.details["cache"] == "written", ds.details
        times["decode+write"].append(t)
        t, hit = timed(lambda: load_file_dataset(spec))
        assert hit.details["cache"] == "hit", hit.details
        times["cached"].append(t)
        if args.builtin:
            clear_memo()
            folder = Path(spec.split(":", 1)[1])
            times["builtin"].append(timed(lambda: load_dataset(args.builtin, data_dir=folder.parent, download=False))[0])
    cache_bytes = sum(p.stat().st_size for p in cache_root().glob("*.npz"))
    common = {"dataset": spec, "repeats": args.repeats, "num_train": ds.num_train, "num_test": ds.num_test,
              "cache_bytes": cache_bytes, "cpu": cpu_name(), "torch": torch.__version__, "git_sha": git_sha() or "",
              "date": datetime.date.today().isoformat()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for provider, ts in times.items():
            w.writerow({**common, "provider": provider, "median_s": f"{statistics.median(ts):.4f}",
                        "min_s": f"{min(ts):.4f}", "max_s": f"{max(ts):.4f}"})
            print(f"{provider:>13}: median {statistics.median(ts):.3f} s over {len(ts)}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
