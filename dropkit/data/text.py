"""Character-level text corpora: nanoGPT's vocabulary and 90/10 split, for any UTF-8 text or file.

The recipe is the one of nanoGPT's ``data/shakespeare_char/prepare.py``
(https://github.com/karpathy/nanoGPT): the vocabulary is every distinct character of the *whole* text,
sorted by code point, with ids in that order; the first 90% of the characters (``int(0.9 * n)``) are
the training split, the rest the validation split. Text is kept exactly as read (no case folding, no
newline normalisation) apart from a leading UTF-8 byte-order mark, which is dropped.

``text:PATH`` in a run config (``--dataset text:notes.txt``) reads ``PATH`` with :func:`load_text_file`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["CharVocab", "TextCorpus", "char_corpus", "load_text_file", "TEXT_PREFIX", "VAL_FRACTION"]

#: The dataset prefix that names a UTF-8 file: ``text:PATH``.
TEXT_PREFIX = "text:"
#: nanoGPT's validation share: the last 10% of the characters.
VAL_FRACTION = 0.1


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: id ``i`` is ``chars[i]``; the characters are distinct and sorted.

    Args:
        chars: the characters in id order (sorted by code point, as ``sorted(set(text))`` gives).

    Example:
        >>> v = CharVocab.from_text("hello")
        >>> v.chars, v.size
        (('e', 'h', 'l', 'o'), 4)
        >>> v.encode("hole").tolist(), v.decode([1, 3, 2, 0])
        ([1, 3, 2, 0], 'hole')
    """

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        object.__setattr__(self, "chars", chars)
        if not chars:
            raise ValueError("CharVocab: chars must hold at least one character, got none")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            bad = next(c for c in chars if not isinstance(c, str) or len(c) != 1)
            raise ValueError(f"CharVocab: chars must be single characters, got {bad!r}")
        if list(chars) != sorted(set(chars)):
            raise ValueError("CharVocab: chars must be distinct and sorted by code point, got an unsorted or repeated list")

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Every distinct character of ``text``, sorted (nanoGPT's ``sorted(list(set(data)))``)."""
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        """Number of characters (the model's output classes)."""
        return len(self.chars)

    def encode(self, text: str, *, where: str = "CharVocab.encode") -> Tensor:
        """``text`` as an int64 tensor of ids.

        Raises:
            ValueError: ``text`` holds characters outside the vocabulary (they are listed).
        """
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted(set(text) - index.keys())
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise ValueError(
                f"{where}: text must use only the {self.size} characters of the vocabulary, got "
                f"{len(missing)} other(s): {shown}"
            )
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor | list[int]) -> str:
        """The text of ``ids`` (a 1-D tensor or a list of ints)."""
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        return "".join(self.chars[i] for i in values)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form, read back by :meth:`from_json`."""
        return {"chars": "".join(self.chars), "size": self.size}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CharVocab:
        chars = data.get("chars")
        if not isinstance(chars, str):
            raise ValueError(f"CharVocab.from_json: chars must be a string, got {type(chars).__name__}")
        return cls(tuple(chars))


@dataclass(frozen=True, eq=False)
class TextCorpus:
    """A character-level corpus held in memory as token ids, split into train and validation.

    Args:
        name: the dataset name (``"shakespeare-char"``, ``"text:notes.txt"``).
        train_ids: int64 ids of the training characters, shape ``(N_train,)``.
        val_ids: int64 ids of the validation characters, shape ``(N_val,)``.
        vocab: the character vocabulary (of the whole text).
        source: where the text came from (a file), for logs and reports.
        sha256: SHA-256 of the whole text encoded as UTF-8.
        corpus: which text this is, for reports (``"tinyshakespeare"``, ``"shakespeare-works"``, ``"file"``).

    Shape:
        - train_ids: :math:`(N_{train})`, val_ids: :math:`(N_{val})`, ids in ``[0, vocab.size)``.

    Example:
        >>> c = char_corpus("abcabcabcd", "toy", source="example")
        >>> c.num_train, c.num_val, c.vocab.size, c.vocab.decode(c.val_ids)
        (9, 1, 4, 'd')
    """

    name: str
    train_ids: Tensor
    val_ids: Tensor
    vocab: CharVocab
    source: str
    sha256: str
    corpus: str = "file"

    @property
    def num_train(self) -> int:
        return int(self.train_ids.numel())

    @property
    def num_val(self) -> int:
        return int(self.val_ids.numel())

    @property
    def num_classes(self) -> int:
        """The vocabulary size: a language model's output classes."""
        return self.vocab.size

    def __repr__(self) -> str:
        return (
            f"TextCorpus(name={self.name!r}, corpus={self.corpus!r}, train={self.num_train}, val={self.num_val}, "
            f"vocab={self.vocab.size}, source={self.source!r})"
        )


def char_corpus(text: str, name: str, *, source: str, corpus: str = "file", val_fraction: float = VAL_FRACTION) -> TextCorpus:
    """Encode ``text`` with its own character vocabulary and split it nanoGPT's way.

    Args:
        text: the whole text.
        name: the dataset name recorded in the corpus.
        source: where the text came from.
        corpus: which text this is (default ``"file"``).
        val_fraction: the share of characters, from the end, held out for validation (default 0.1).

    Raises:
        ValueError: ``text`` is too short to leave at least one character in each split, or
            ``val_fraction`` is outside ``(0, 1)``.
    """
    where = f"text corpus {name!r}"
    if not (isinstance(val_fraction, float) and 0.0 < val_fraction < 1.0):
        raise ValueError(f"{where}: val_fraction must be in (0, 1), got {val_fraction!r}")
    n = len(text)
    n_train = int(n * (1.0 - val_fraction))  # nanoGPT: data[:int(n*0.9)]
    if n_train < 1 or n - n_train < 1:
        raise ValueError(f"{where}: text must hold enough characters for a train and a validation split, got {n}")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text, where=where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return TextCorpus(name, ids[:n_train].clone(), ids[n_train:].clone(), vocab, source, digest, corpus)


def read_utf8(path: str | os.PathLike[str], *, where: str = "text") -> str:
    """The contents of ``path`` decoded as strict UTF-8 (a leading byte-order mark dropped).

    Raises:
        FileNotFoundError: ``path`` does not exist or is a folder.
        ValueError: the bytes are not UTF-8 (the offset and byte are named) or the file is empty.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        what = "a folder" if p.is_dir() else "missing"
        raise FileNotFoundError(f"{where}: path must be an existing UTF-8 text file, got '{p}' ({what})")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise ValueError(
            f"{where}: '{p}' must be UTF-8 text, got byte 0x{bad} at offset {exc.start} ({exc.reason}); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    if not text:
        raise ValueError(f"{where}: '{p}' must hold some text, got an empty file")
    return text


def load_text_file(path: str | os.PathLike[str], *, name: str | None = None, val_fraction: float = VAL_FRACTION) -> TextCorpus:
    """Read any UTF-8 file as a character-level corpus (nanoGPT's vocabulary and 90/10 split).

    Args:
        path: the file.
        name: the dataset name to record (default ``"text:<path>"``).
        val_fraction: the share of characters, from the end, held out for validation (default 0.1).

    Returns:
        A :class:`TextCorpus` with ``corpus="file"``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: not UTF-8, empty, or too short to split.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "poem.txt"
        >>> _ = p.write_text("To be, or not to be: that is the question.\\n", encoding="utf-8")
        >>> c = load_text_file(p)
        >>> c.num_train, c.num_val, c.vocab.size
        (38, 5, 18)
    """
    p = Path(path).expanduser()
    text = read_utf8(p, where="text")
    return char_corpus(text, name or f"{TEXT_PREFIX}{path}", source=str(p.resolve()), corpus="file", val_fraction=val_fraction)
