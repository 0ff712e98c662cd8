"""The decoded-data cache for file datasets: one ``.npz`` per (files, options), written atomically.

The format is MNIST-1D's cache format (:mod:`dropkit.data.mnist1d`): an uncompressed ``.npz`` holding
``train_x, train_y, test_x, test_y`` plus a JSON ``meta`` string, under ``<cache>/files/``
(``<cache>`` is :func:`dropkit.data.locate.cache_dir`). The key hashes the kind, the absolute path,
the loading options and every source file's path, size and mtime: editing, adding or removing a file
gives a new key, and the entries of older versions of the same files are deleted when the new one is
written. Images stay ``uint8`` in the cache (a quarter of float32) and are scaled on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dropkit._io import atomic_path
from dropkit.data import locate

__all__ = ["CACHE_FORMAT", "cache_root", "source_digest", "entry_path", "read_entry", "write_entry", "cached_entries"]

logger = logging.getLogger(__name__)

#: Bumped when the stored arrays' meaning changes; entries of other formats are ignored.
CACHE_FORMAT = 1
_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def cache_root() -> Path:
    """``<cache>/files``: where decoded file datasets are kept."""
    return locate.cache_dir() / "files"


def source_digest(files: list[Path]) -> str:
    """A hex digest of every file's absolute path, size and mtime (no file content is read)."""
    h = hashlib.sha256()
    for f in sorted(Path(p).resolve() for p in files):
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _path_tag(kind: str, path: Path) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.name)[:40] or "data"
    return f"{kind}-{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def entry_path(kind: str, path: Path, options: dict[str, Any], sources: str) -> Path:
    """The cache file for ``(kind, path, options)`` read from files with digest ``sources``."""
    key = json.dumps({"format": CACHE_FORMAT, "kind": kind, "path": str(path), "options": options, "sources": sources},
                     sort_keys=True)
    return cache_root() / f"{_path_tag(kind, path)}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return meta if meta.get("format") == CACHE_FORMAT else None


def read_entry(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and meta of a cache file, or ``None`` when it is missing or unreadable (logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("format") != CACHE_FORMAT:
                return None
            arrays = {k: f[k] for k in _ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable dataset cache %s: %s", path, exc)
        return None
    return arrays, meta


def write_entry(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write a cache file atomically and delete entries of the same files made from older versions of them."""
    meta = {**meta, "format": CACHE_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare path
            np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **{k: arrays[k] for k in _ARRAYS})
    tag = path.name.rsplit("-", 1)[0]
    for other in path.parent.glob(f"{tag}-*.npz"):
        if other != path:
            old = _read_meta(other)
            if old is None or old.get("sources") != meta.get("sources"):
                other.unlink(missing_ok=True)
                logger.debug("removed stale dataset cache %s", other)


def cached_entries() -> list[dict[str, Any]]:
    """One record per cache file (its meta plus ``cache_file`` and ``size_bytes``), newest first.

    Example:
        >>> isinstance(cached_entries(), list)
        True
    """
    root = cache_root()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.glob("*.npz"), key=lambda q: q.stat().st_mtime, reverse=True):
        meta = _read_meta(p)
        if meta is not None:
            out.append({**meta, "cache_file": str(p), "size_bytes": p.stat().st_size})
    return out
