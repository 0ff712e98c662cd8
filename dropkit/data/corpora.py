"""``load_corpus(name)``: the text datasets (character-level language modelling) by name.

Names: ``shakespeare-char``, ``shakespeare-char-tiny``, ``shakespeare-char-works``
(:mod:`dropkit.data.shakespeare`) and ``text:PATH`` for any UTF-8 file (:mod:`dropkit.data.text`).
Like :func:`dropkit.data.load_dataset`, a second load of the same files in one process returns the
same object (treat its tensors as read-only).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dropkit._validation import closest_name_hint
from dropkit.data import locate
from dropkit.data.shakespeare import CORPORA, load_shakespeare_char
from dropkit.data.text import TEXT_PREFIX, TextCorpus, load_text_file

__all__ = ["corpus_names", "is_text_dataset", "load_corpus", "clear_corpus_memo"]

_MEMO: dict[tuple[object, ...], TextCorpus] = {}
_LOCK = threading.Lock()


def corpus_names() -> list[str]:
    """The named text datasets (``text:PATH`` is accepted too).

    Example:
        >>> corpus_names()
        ['shakespeare-char', 'shakespeare-char-tiny', 'shakespeare-char-works']
    """
    return list(CORPORA)


def is_text_dataset(name: object) -> bool:
    """Whether ``name`` names a text dataset (a corpus name or ``text:PATH``).

    Example:
        >>> is_text_dataset("text:notes.txt"), is_text_dataset("shakespeare-char"), is_text_dataset("mnist")
        (True, True, False)
    """
    return isinstance(name, str) and (name.startswith(TEXT_PREFIX) or name in CORPORA)


def load_corpus(name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> TextCorpus:
    """Load the text dataset ``name`` as token ids with nanoGPT's vocabulary and 90/10 split.

    Args:
        name: one of :func:`corpus_names`, or ``text:PATH`` (a UTF-8 file; a relative path is read
            from the current folder).
        data_dir: a folder searched first for the Shakespeare files (default None).
        download: allow fetching missing Shakespeare files (default True).

    Raises:
        ValueError: an unknown name (with a did-you-mean hint), a non-UTF-8 or empty file, a bad checksum.
        FileNotFoundError: the file or corpus is nowhere to be found.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = p.write_text("abcd" * 10, encoding="utf-8")
        >>> load_corpus(f"text:{p}").vocab.chars
        ('a', 'b', 'c', 'd')
    """
    if not isinstance(name, str):
        raise TypeError(f"load_corpus: name must be a str, got {type(name).__name__}")
    folder = locate.check_data_dir("load_corpus", data_dir)
    if name.startswith(TEXT_PREFIX):
        path = Path(name[len(TEXT_PREFIX) :]).expanduser()
        if not name[len(TEXT_PREFIX) :]:
            raise ValueError("load_corpus: text:PATH must name a file, got 'text:' with no path")
        key: tuple[object, ...] | None = None
        if path.is_file():
            st = path.stat()
            key = (name, str(path.resolve()), st.st_size, st.st_mtime_ns)
        with _LOCK:
            if key is not None and key in _MEMO:
                return _MEMO[key]
            corpus = load_text_file(path, name=name)
            if key is not None:
                _MEMO[key] = corpus
            return corpus
    if name not in CORPORA:
        options = ", ".join(repr(n) for n in CORPORA)
        raise ValueError(f"load_corpus: name must be one of {options} or 'text:PATH', got {name!r}{closest_name_hint(name, list(CORPORA))}")
    with _LOCK:
        key = (name, str(folder), download, tuple(str(p.path) for p in locate.search_places("shakespeare-char", folder)))
        if key in _MEMO:
            return _MEMO[key]
        corpus = load_shakespeare_char(name, folder, download)
        _MEMO[key] = corpus
        return corpus


def clear_corpus_memo() -> None:
    """Forget every corpus held in memory."""
    with _LOCK:
        _MEMO.clear()
