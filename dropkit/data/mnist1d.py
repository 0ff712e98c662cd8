"""MNIST-1D, regenerated offline with the ``mnist1d`` package and cached as ``.npz``.

Greydanus & Kobak 2020, "Scaling Down Deep Learning with MNIST-1D", https://arxiv.org/abs/2011.14439.
Only ``mnist1d.data.make_dataset`` is called: it builds the data from templates and a seed, with no
network. ``get_dataset`` (which may download a pickle) is never used. With the package defaults that
is 5000 samples of length 40, seed 42, split 4000 train / 1000 test.

The inputs are standardised by the generator (zero mean, unit variance), not scaled to ``[0, 1]``.
The cache file is named after the generator arguments and stores them; a file made with other
arguments is ignored and regenerated. It is looked for in the places of :mod:`dropkit.data.locate`
(``<root>/mnist1d/<file>``) and written to ``<cache>/mnist1d/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dropkit._io import atomic_path
from dropkit.data.dataset import ArrayDataset
from dropkit.data import locate
from dropkit.data.locate import search_places
from dropkit.data.status import DatasetStatus

__all__ = ["NAME", "generator_args", "cache_file_name", "find_mnist1d_cache", "load_mnist1d", "mnist1d_status"]

logger = logging.getLogger(__name__)

NAME = "mnist1d"
_CLASS_NAMES = tuple(str(d) for d in range(10))


def generator_args() -> dict[str, Any]:
    """The ``mnist1d`` generator arguments used (the package defaults, without its download URL).

    Example:
        >>> a = generator_args()
        >>> a["num_samples"], a["final_seq_length"], a["seed"]
        (5000, 40, 42)
    """
    from mnist1d.data import get_dataset_args

    args = dict(get_dataset_args(as_dict=True))
    args.pop("url", None)
    return args


def cache_file_name(args: dict[str, Any]) -> str:
    """File name for data made with ``args``: readable fields plus a short hash of all of them.

    Example:
        >>> cache_file_name(generator_args()).startswith("mnist1d_n5000_len40_seed42_")
        True
    """
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
    return f"mnist1d_n{args['num_samples']}_len{args['final_seq_length']}_seed{args['seed']}_{digest}.npz"


def _generate(args: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run the generator, leaving Python's and numpy's global RNG states as they were."""
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "train_x": np.asarray(data["x"], dtype=np.float32),
        "train_y": np.asarray(data["y"], dtype=np.int64),
        "test_x": np.asarray(data["x_test"], dtype=np.float32),
        "test_y": np.asarray(data["y_test"], dtype=np.int64),
    }


def _read_cache(path: Path, args: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays in ``path`` if it is a readable cache made with ``args``, else ``None`` (logged)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = json.loads(str(f["generator_args"]))
            if stored != json.loads(json.dumps(args)):
                logger.warning("ignoring %s: made with other mnist1d arguments", path)
                return None
            return {k: f[k] for k in ("train_x", "train_y", "test_x", "test_y")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable mnist1d cache %s: %s", path, exc)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray], args: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare path
            np.savez(f, generator_args=np.array(json.dumps(args, sort_keys=True)), **arrays)


def _find_cache(file_name: str, data_dir: Path | None) -> tuple[Path | None, list[str]]:
    searched = []
    for place in search_places(NAME, data_dir):
        candidate = place.path / file_name
        if candidate.is_file():
            searched.append(f"{place}: {file_name}")
            return candidate, searched
        searched.append(f"{place}: no {file_name}")
    return None, searched


def find_mnist1d_cache(data_dir: Path | None = None) -> Path | None:
    """The first cache file for the current generator arguments in the search places, or ``None``."""
    return _find_cache(cache_file_name(generator_args()), data_dir)[0]


def load_mnist1d(data_dir: Path | None = None) -> ArrayDataset:
    """Load MNIST-1D from a cache file, or generate it offline and cache it.

    Args:
        data_dir: an existing folder searched first (``<data_dir>/mnist1d/`` or ``<data_dir>/``), or ``None``.

    Returns:
        An :class:`ArrayDataset`: ``train_x`` ``(4000, 40)`` and ``test_x`` ``(1000, 40)`` float32
        (standardised), int64 labels 0-9, ``input_shape == (40,)``.

    Example:
        >>> ds = load_mnist1d()  # doctest: +SKIP
        >>> ds.train_x.shape, ds.input_shape  # doctest: +SKIP
        (torch.Size([4000, 40]), (40,))
    """
    args = generator_args()
    file_name = cache_file_name(args)
    path, _ = _find_cache(file_name, data_dir)
    arrays = _read_cache(path, args) if path is not None else None
    if arrays is None:
        logger.info("generating MNIST-1D offline with the mnist1d package (seed %s)", args["seed"])
        arrays = _generate(args)
        path = locate.cache_dir() / NAME / file_name
        try:
            _write_cache(path, arrays, args)
            source = f"{path} (generated by mnist1d, seed {args['seed']})"
        except OSError as exc:
            logger.warning("could not cache MNIST-1D in %s: %s", path, exc)
            source = f"generated by mnist1d, seed {args['seed']} (not cached)"
    else:
        source = str(path)
    return ArrayDataset(
        name=NAME,
        train_x=torch.from_numpy(arrays["train_x"]),
        train_y=torch.from_numpy(arrays["train_y"]),
        test_x=torch.from_numpy(arrays["test_x"]),
        test_y=torch.from_numpy(arrays["test_y"]),
        num_classes=len(_CLASS_NAMES),
        input_shape=(int(arrays["train_x"].shape[1]),),
        class_names=_CLASS_NAMES,
        source=source,
    )


def mnist1d_status(data_dir: Path | None = None) -> DatasetStatus:
    """Whether the MNIST-1D cache file exists, its size and sample counts; never generates anything.

    Example:
        >>> mnist1d_status().checksum
        'not checked'
    """
    args = generator_args()
    file_name = cache_file_name(args)
    path, searched = _find_cache(file_name, data_dir)
    if path is None:
        return DatasetStatus(
            name=NAME, found=False, location=None, searched=tuple(searched), size_bytes=None,
            num_train=None, num_test=None, checksum="not checked",
            detail=f"generated offline on first load (seed {args['seed']}) and cached in {locate.cache_dir() / NAME}",
        )  # fmt: skip
    arrays = _read_cache(path, args)
    return DatasetStatus(
        name=NAME,
        found=arrays is not None,
        location=str(path),
        searched=tuple(searched),
        size_bytes=path.stat().st_size,
        num_train=None if arrays is None else len(arrays["train_y"]),
        num_test=None if arrays is None else len(arrays["test_y"]),
        checksum="not checked",
        detail="generated by mnist1d" if arrays is not None else "unreadable cache file: regenerated on load",
    )
