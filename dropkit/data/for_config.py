"""``load_config_dataset(cfg)``: the dataset a run config names, built-in or from files, and the record
of where it really came from (written to the run's ``env.json``)."""

from __future__ import annotations

from typing import Any

from dropkit.data.dataset import ArrayDataset
from dropkit.data.files import is_file_spec
from dropkit.data.from_files import data_options, load_file_dataset
from dropkit.data.registry import load_dataset

__all__ = ["load_config_dataset", "data_record"]


def load_config_dataset(cfg: Any, *, download: bool | None = None) -> ArrayDataset:
    """Load ``cfg.dataset``: a built-in name (with ``cfg.data_dir``, ``cfg.download``) or a file spec (with
    ``cfg.label_column``, ``cfg.test_split``, ``cfg.split_seed``, ``cfg.image_size``).

    Args:
        cfg: a :class:`~dropkit.train.config.Config` (or anything with those attributes).
        download: overrides ``cfg.download`` for built-in datasets (default: None, use it).

    Example:
        >>> from dropkit.train.config import Config
        >>> load_config_dataset(Config(dataset="digits")).num_classes
        10
    """
    if is_file_spec(cfg.dataset):
        return load_file_dataset(cfg.dataset, **data_options(cfg))
    return load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download if download is None else download)


def data_record(data: ArrayDataset) -> dict[str, Any]:
    """What ``env.json`` says about the data: its name, the folder or file really read and how.

    Example:
        >>> from dropkit.data import load_dataset
        >>> data_record(load_dataset("digits"))["dataset"]
        'digits'
    """
    return {"dataset": data.name, "source": data.source, "num_train": data.num_train, "num_test": data.num_test,
            "class_names": list(data.class_names), **dict(data.details)}
