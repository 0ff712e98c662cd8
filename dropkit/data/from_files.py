"""``load_file_dataset(spec)``: the user's files -> checked, split, standardised, cached :class:`ArrayDataset`.

The kinds and layouts are described in :mod:`dropkit.data.files`. Steps: list the source files, look
the cache up (:mod:`dropkit.data.file_cache`), else decode with the kind's reader, split by
``test_split`` / ``split_seed`` when the files hold no test split (stratified by class), standardise
table features with training statistics, check the result and write the cache. A failing check raises
before anything is written, so a bad file leaves no cache entry.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dropkit.data import file_cache
from dropkit.data.dataset import ArrayDataset
from dropkit.data.decoded import Decoded
from dropkit.data.files import FileSpec, parse_dataset_spec

__all__ = ["load_file_dataset", "source_files", "data_options"]

logger = logging.getLogger(__name__)


def data_options(cfg: object) -> dict[str, Any]:
    """The loading options a config holds (``label_column``, ``test_split``, ``split_seed``, ``image_size``)."""
    return {
        "label_column": getattr(cfg, "label_column", None),
        "test_split": getattr(cfg, "test_split", 0.2),
        "split_seed": getattr(cfg, "split_seed", 0),
        "image_size": getattr(cfg, "image_size", None),
    }


def source_files(spec: FileSpec) -> list[Path]:
    """Every file a load of ``spec`` reads, found without decoding anything."""
    if spec.kind == "idx":
        from dropkit.data.idx_folder import CLASSES_FILE, idx_folder_files

        if not spec.path.is_dir():
            raise ValueError(f"dataset: idx:PATH must name a folder of IDX files, got the file '{spec.path}'")
        files = [p for pair in idx_folder_files(spec.path).values() for p in pair.values()]
        return files + ([spec.path / CLASSES_FILE] if (spec.path / CLASSES_FILE).is_file() else [])
    if spec.kind == "npz":
        return [spec.path]
    if spec.kind in ("csv", "parquet"):
        from dropkit.data.table import table_files

        return list(table_files(spec.path, spec.kind).values())
    from dropkit.data.image_folder import image_folder_layout

    if not spec.path.is_dir():
        raise ValueError(f"dataset: imagefolder:PATH must name a folder, got the file '{spec.path}'")
    return [f for split in image_folder_layout(spec.path).values() for files in split.values() for f in files]


def _decode(spec: FileSpec, options: dict[str, Any]) -> Decoded:
    if spec.kind == "idx":
        from dropkit.data.idx_folder import read_idx_folder

        return read_idx_folder(spec.path)
    if spec.kind == "npz":
        from dropkit.data.npz import read_npz

        return read_npz(spec.path)
    if spec.kind in ("csv", "parquet"):
        from dropkit.data.table import read_table_dataset

        return read_table_dataset(spec.path, spec.kind, options["label_column"])
    from dropkit.data.image_folder import read_image_folder

    return read_image_folder(spec.path, options["image_size"])


def _finish(dec: Decoded, options: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split (when there is no test split) and standardise; return the arrays to cache and the split notes."""
    from dropkit.data.split import standardise, stratified_split

    notes: dict[str, Any] = {}
    if dec.test_x is None:
        tr, te = stratified_split(dec.train_y, options["test_split"], options["split_seed"])
        train_x, train_y, test_x, test_y = dec.train_x[tr], dec.train_y[tr], dec.train_x[te], dec.train_y[te]
        notes["split"] = f"test_split={options['test_split']}, split_seed={options['split_seed']} (stratified)"
    else:
        train_x, train_y, test_x, test_y = dec.train_x, dec.train_y, dec.test_x, dec.test_y
        notes["split"] = "from the files"
    if dec.standardise:
        train_x, test_x, _, _ = standardise(train_x, test_x)
        notes["standardised"] = "features: mean and std of the training split"
    arrays = {"train_x": np.ascontiguousarray(train_x), "train_y": np.ascontiguousarray(train_y, dtype=np.int64),
              "test_x": np.ascontiguousarray(test_x), "test_y": np.ascontiguousarray(test_y, dtype=np.int64)}
    return arrays, notes


def _to_dataset(name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any], details: dict[str, Any]) -> ArrayDataset:
    scale = float(meta["x_scale"])

    def x(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32)
        return t.mul_(scale) if scale != 1.0 else t

    return ArrayDataset(
        name=name,
        train_x=x(arrays["train_x"]),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=x(arrays["test_x"]),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        num_classes=len(meta["class_names"]),
        input_shape=tuple(arrays["train_x"].shape[1:]),
        class_names=tuple(meta["class_names"]),
        source=meta["path"],
        details=details,
    )


def load_file_dataset(spec: str | FileSpec, *, label_column: str | None = None, test_split: float = 0.2,
                      split_seed: int = 0, image_size: list[int] | None = None, cache: bool = True) -> ArrayDataset:
    """Load a dataset from the user's files (``PATH`` or ``KIND:PATH``), through the decoded-data cache.

    Args:
        spec: ``"idx:FOLDER"``, ``"npz:FILE"``, ``"csv:FILE_OR_FOLDER"``, ``"parquet:..."``,
            ``"imagefolder:ROOT"``, or a path whose kind is sniffed.
        label_column: table label column (default: None, the first of ``label, target, class, y``).
        test_split: fraction of each class held out as test when the files hold no test split (default 0.2).
        split_seed: seed of that split (default 0).
        image_size: image folders: ``[S]`` or ``[H, W]`` (default: None, the first image's size).
        cache: read and write the cache (default True).

    Returns:
        An :class:`ArrayDataset` named by the canonical spec; ``details`` says where it came from
        (``"cache": "hit"`` when read from the cache, ``"written"`` when decoded and cached).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: a malformed file; the message names the file and the row or entry.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "blobs.npz"
        >>> np.savez(p, x=np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32), y=np.arange(20) % 2)
        >>> ds = load_file_dataset(f"npz:{p}", cache=False)
        >>> ds.num_train, ds.num_test, ds.input_shape, ds.details["cache"]
        (16, 4, (4,), 'off')
    """
    spec = spec if isinstance(spec, FileSpec) else parse_dataset_spec(spec)
    options = {"label_column": label_column, "test_split": test_split, "split_seed": split_seed,
               "image_size": None if image_size is None else [int(s) for s in image_size]}
    files = source_files(spec)
    sources = file_cache.source_digest(files)
    entry = file_cache.entry_path(spec.kind, spec.path, options, sources)
    details: dict[str, Any] = {"kind": spec.kind, "path": str(spec.path), "files": len(files)}
    if cache:
        hit = file_cache.read_entry(entry)
        if hit is not None:
            arrays, meta = hit
            logger.info("dataset %s: read from cache %s", spec.text, entry)
            return _to_dataset(spec.text, arrays, meta, {**details, "cache": "hit", "cache_file": str(entry),
                                                         "split": meta.get("split")})
    t0 = time.perf_counter()
    dec = _decode(spec, options)
    arrays, notes = _finish(dec, options)
    meta = {"kind": spec.kind, "path": str(spec.path), "options": options, "sources": sources,
            "class_names": list(dec.class_names), "x_scale": dec.x_scale, "num_train": len(arrays["train_y"]),
            "num_test": len(arrays["test_y"]), "input_shape": list(arrays["train_x"].shape[1:]), **notes}
    ds = _to_dataset(spec.text, arrays, meta, {})  # validates shapes, dtypes and label ranges first
    details.update(notes, decode_s=round(time.perf_counter() - t0, 3))
    if not cache:
        details["cache"] = "off"
    else:
        try:
            file_cache.write_entry(entry, arrays, meta)
            details.update(cache="written", cache_file=str(entry))
            logger.info("dataset %s: decoded %d files in %.1f s, cached in %s", spec.text, len(files),
                        details["decode_s"], entry)
        except OSError as exc:
            logger.warning("dataset %s: could not write the cache %s: %s", spec.text, entry, exc)
            details["cache"] = f"not written ({exc})"
    object.__setattr__(ds, "details", details)
    return ds
