"""Datasets for dropout experiments, held whole in memory as tensors.

``load_dataset(name)`` returns an :class:`ArrayDataset` for ``"mnist1d"`` (generated offline),
``"digits"`` (bundled with scikit-learn), ``"fashion-mnist"`` and ``"mnist"`` (IDX files found
locally or downloaded with SHA-256 checks); :func:`load_file_dataset` reads the user's own files
(IDX, ``.npz``, CSV/Parquet, image folders; :mod:`dropkit.data.files`). Where files are looked for: :mod:`dropkit.data.locate`.

Example:
    >>> from dropkit.data import load_dataset
    >>> ds = load_dataset("digits")
    >>> ds.train_x.shape, ds.test_y.dtype
    (torch.Size([1437, 1, 8, 8]), torch.int64)
"""

from dropkit.data.dataset import ArrayDataset
from dropkit.data.download import ChecksumError
from dropkit.data.files import KINDS, is_file_spec, parse_dataset_spec
from dropkit.data.for_config import data_record, load_config_dataset
from dropkit.data.from_files import load_file_dataset
from dropkit.data.idx import read_idx, write_idx
from dropkit.data.registry import clear_memo, dataset_names, dataset_status, load_dataset, speech_dataset_names
from dropkit.data.status import DatasetNotFoundError, DatasetStatus

__all__ = [
    "load_dataset",
    "dataset_names",
    "speech_dataset_names",
    "dataset_status",
    "clear_memo",
    "ArrayDataset",
    "DatasetStatus",
    "DatasetNotFoundError",
    "ChecksumError",
    "read_idx",
    "write_idx",
    "KINDS",
    "is_file_spec",
    "parse_dataset_spec",
    "load_file_dataset",
    "load_config_dataset",
    "data_record",
]
