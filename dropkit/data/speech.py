"""The speech datasets of :func:`dropkit.data.load_dataset`: one entry point for the synthesised corpus
(:mod:`dropkit.data.speech_synth`) and the on-disk layouts (:mod:`dropkit.data.speech_folders`).

Every one is a classification :class:`~dropkit.data.dataset.ArrayDataset` of log-mel features
``(N, frames, n_mels)`` float32 (:mod:`dropkit.data.speech_audio`), for ``--model speech-rnn``:

- ``espeak-digits``: ten spoken digits synthesised offline with ``espeak-ng`` (1,280 utterances, 64
  voices; the 32 test voices are unheard in training), generated once into the cache;
- ``espeak-digits-tiny``: the same with one training and one test voice (20 utterances), for tests;
- ``fsdd``: the Free Spoken Digit Dataset, found locally or downloaded;
- ``speech-commands``: Google Speech Commands v0.02, found locally or downloaded (2.4 GB).

Example:
    >>> from dropkit.data.speech import speech_dataset_status
    >>> speech_dataset_status("fsdd").checksum
    'not checked'
"""

from __future__ import annotations

from pathlib import Path

from dropkit.data.dataset import ArrayDataset
from dropkit.data.speech_folders import load_speech_folder, speech_folder_files, speech_folder_status
from dropkit.data.speech_synth import RECIPES, espeak_digits_status, find_espeak_digits_cache, load_espeak_digits
from dropkit.data.status import DatasetStatus

__all__ = ["load_speech_dataset", "speech_dataset_status", "speech_fingerprint_files"]


def load_speech_dataset(name: str, data_dir: Path | None = None, download: bool = True) -> ArrayDataset:
    """Load speech dataset ``name`` (one of :func:`dropkit.data.registry.speech_dataset_names`).

    Args:
        name: ``"espeak-digits"``, ``"espeak-digits-tiny"``, ``"fsdd"`` or ``"speech-commands"``.
        data_dir: an existing folder searched first, or ``None``.
        download: allow downloading FSDD / Speech Commands (the espeak-ng corpus is always generated
            when missing) (default: True).
    """
    if name in RECIPES:
        return load_espeak_digits(name, data_dir)
    return load_speech_folder(name, data_dir, download=download)


def speech_dataset_status(name: str, data_dir: Path | None = None) -> DatasetStatus:
    """Where speech dataset ``name`` is; nothing is generated, downloaded or decoded."""
    if name in RECIPES:
        return espeak_digits_status(name, data_dir)
    return speech_folder_status(name, data_dir)


def speech_fingerprint_files(name: str, data_dir: Path | None = None) -> list[Path]:
    """The files whose paths, sizes and mtimes key the in-process memo of ``name`` (empty: not there yet)."""
    if name in RECIPES:
        found = find_espeak_digits_cache(name, data_dir)
        return [] if found is None else [found]
    return speech_folder_files(name, data_dir)
