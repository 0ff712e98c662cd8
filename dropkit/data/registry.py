"""``load_dataset(name)``: the one entry point, with an in-process memo; ``dataset_status`` for the CLI."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dropkit._validation import closest_name_hint
from dropkit.data import locate
from dropkit.data.dataset import ArrayDataset
from dropkit.data.digits import digits_status, load_digits_dataset
from dropkit.data.files import is_file_spec
from dropkit.data.mnist import SPECS, dataset_files, find_idx_dataset, idx_dataset_status, load_idx_dataset
from dropkit.data.mnist1d import find_mnist1d_cache, load_mnist1d, mnist1d_status
from dropkit.data.status import DatasetStatus

__all__ = ["dataset_names", "speech_dataset_names", "load_dataset", "dataset_status", "clear_memo"]

# Small first; the same order as the ``dataset`` choices of the training config.
_NAMES = ("mnist1d", "digits", "fashion-mnist", "mnist")
# Speech (log-mel features, dropkit.data.speech_*): kept out of dataset_names(), whose images and signals
# the uncertainty evaluation also uses as out-of-distribution sets.
_SPEECH = ("espeak-digits", "espeak-digits-tiny", "fsdd", "speech-commands")
_MEMO: dict[tuple[object, ...], ArrayDataset] = {}
_LOCK = threading.Lock()


def dataset_names() -> list[str]:
    """Names of the image and signal datasets :func:`load_dataset` accepts, smallest first (speech:
    :func:`speech_dataset_names`).

    Example:
        >>> dataset_names()
        ['mnist1d', 'digits', 'fashion-mnist', 'mnist']
    """
    return list(_NAMES)


def speech_dataset_names() -> list[str]:
    """The speech datasets :func:`load_dataset` also accepts: log-mel features of spoken words.

    Example:
        >>> speech_dataset_names()
        ['espeak-digits', 'espeak-digits-tiny', 'fsdd', 'speech-commands']
    """
    return list(_SPEECH)


def _check_name(where: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{where}: name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")  # "Fashion_MNIST" is "fashion-mnist"
    if key not in _NAMES + _SPEECH:
        options = ", ".join(repr(n) for n in _NAMES + _SPEECH)
        raise ValueError(f"{where}: name must be one of {options}, got {name!r}{closest_name_hint(key, _NAMES + _SPEECH)}")
    return key


def _fingerprint(name: str, data_dir: Path | None) -> tuple[object, ...] | None:
    """What a load of ``name`` would read right now: the files found and their sizes and mtimes.

    ``None`` when nothing is there yet (a download or generation is needed). Equal fingerprints mean
    the memo may answer; any change of environment, roots or files gives a fresh load.
    """
    if name in SPECS:
        folder = find_idx_dataset(name, data_dir)
        paths = [] if folder is None else dataset_files(SPECS[name], folder)
    elif name == "mnist1d":
        path = find_mnist1d_cache(data_dir)
        paths = [] if path is None else [path]
    elif name in _SPEECH:
        from dropkit.data.speech import speech_fingerprint_files

        paths = speech_fingerprint_files(name, data_dir)
    else:
        return (name,)
    if not paths:
        return None
    stats = []
    for p in paths:
        st = p.stat()
        stats.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return (name, *stats)


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> ArrayDataset:
    """Load a whole dataset into memory as tensors.

    Files are looked for in ``data_dir``, ``$DROPKIT_DATA``, the user cache and ``/usr/share/datasets``
    (see :mod:`dropkit.data.locate`); MNIST and Fashion-MNIST are downloaded into the cache when
    missing, MNIST-1D is generated offline, digits come with scikit-learn. A second call in the same
    process that would read the same files (same paths, sizes and mtimes) returns the same object:
    treat its tensors as read-only.

    Args:
        name: one of :func:`dataset_names` (``"mnist1d"``, ``"digits"``, ``"fashion-mnist"``, ``"mnist"``) or
            :func:`speech_dataset_names` (log-mel features ``(N, frames, n_mels)``, :mod:`dropkit.data.speech`),
            or files as ``PATH`` / ``KIND:PATH``, read by :func:`~dropkit.data.load_file_dataset` with its
            default options.
        data_dir: a folder searched first, holding ``<name>/`` or the files themselves; must exist
            (default None).
        download: allow downloading MNIST / Fashion-MNIST from the official mirrors (default True).

    Returns:
        An :class:`~dropkit.data.dataset.ArrayDataset`; images are ``(N, 1, H, W)`` float32 in ``[0, 1]``.

    Raises:
        ValueError: unknown ``name`` (with the allowed names and a did-you-mean hint), a file with an
            unknown SHA-256 (:class:`~dropkit.data.download.ChecksumError`) or a malformed file.
        FileNotFoundError: ``data_dir`` does not exist, or the dataset is nowhere and cannot be downloaded
            (:class:`~dropkit.data.status.DatasetNotFoundError`, listing every place searched).

    Example:
        >>> ds = load_dataset("digits")
        >>> ds.input_shape, ds.num_classes, ds.train_x.dtype
        ((1, 8, 8), 10, torch.float32)
    """
    if is_file_spec(name):  # the user's files; options (split, label column, ...): load_file_dataset
        from dropkit.data.from_files import load_file_dataset

        return load_file_dataset(name)
    name = _check_name("load_dataset", name)
    folder = locate.check_data_dir("load_dataset", data_dir)
    if not isinstance(download, bool):
        raise TypeError(f"load_dataset: download must be a bool, got {type(download).__name__}")
    with _LOCK:
        key = _fingerprint(name, folder)
        if key is not None and key in _MEMO:
            return _MEMO[key]
        if name in SPECS:
            ds = load_idx_dataset(name, folder, download=download)
        elif name == "mnist1d":
            ds = load_mnist1d(folder)
        elif name in _SPEECH:
            from dropkit.data.speech import load_speech_dataset

            ds = load_speech_dataset(name, folder, download=download)
        else:
            ds = load_digits_dataset()
        key = _fingerprint(name, folder)
        if key is not None:
            _MEMO[key] = ds
        return ds


def clear_memo() -> None:
    """Forget every dataset :func:`load_dataset` holds in memory (the next call reads from disk)."""
    with _LOCK:
        _MEMO.clear()


def dataset_status(name: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetStatus:
    """Describe where dataset ``name`` is, its size and sample counts, and its checksum status.

    Nothing is downloaded or generated; MNIST / Fashion-MNIST files are hashed (about 0.1 s for 30 MB).

    Args:
        name: one of :func:`dataset_names`.
        data_dir: a folder searched first, as in :func:`load_dataset` (default None).

    Returns:
        A :class:`~dropkit.data.status.DatasetStatus`; ``checksum`` is ``"ok"``, ``"mismatch"`` or
        ``"not checked"`` (generated or bundled data, or nothing found).

    Example:
        >>> [dataset_status(n).checksum for n in ("digits", "mnist1d")]
        ['not checked', 'not checked']
    """
    name = _check_name("dataset_status", name)
    folder = locate.check_data_dir("dataset_status", data_dir)
    if name in SPECS:
        return idx_dataset_status(name, folder)
    if name == "mnist1d":
        return mnist1d_status(folder)
    if name in _SPEECH:
        from dropkit.data.speech import speech_dataset_status

        return speech_dataset_status(name, folder)
    return digits_status()
