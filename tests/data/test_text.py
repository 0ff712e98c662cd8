"""Character corpora: nanoGPT's vocabulary and 90/10 split, ``text:PATH`` for any UTF-8 file, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dropkit.data.corpora import clear_corpus_memo, is_text_dataset, load_corpus
from dropkit.data.text import CharVocab, char_corpus, load_text_file


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_corpus_memo()
    yield
    clear_corpus_memo()


def test_vocab_is_every_character_sorted_and_round_trips() -> None:
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    vocab = CharVocab.from_text(text)
    assert vocab.chars == tuple(sorted(set(text)))  # nanoGPT: sorted(list(set(data)))
    ids = vocab.encode(text)
    assert ids.dtype == torch.int64 and ids.tolist() == [vocab.chars.index(c) for c in text]
    assert vocab.decode(ids) == text
    assert CharVocab.from_json(vocab.to_json()) == vocab


def test_encode_names_the_characters_outside_the_vocabulary() -> None:
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"text must use only the 3 characters of the vocabulary, got 2 other\(s\): 'x', 'z'"):
        vocab.encode("abzx")


@pytest.mark.parametrize("n", [10, 11, 99, 1000])
def test_split_is_nanogpts_first_90_percent(n: int) -> None:
    text = "".join(chr(ord("a") + i % 7) for i in range(n))
    c = char_corpus(text, "toy", source="test")
    n_train = int(n * 0.9)  # nanoGPT: train_data = data[:int(n*0.9)]
    assert (c.num_train, c.num_val) == (n_train, n - n_train)
    assert c.vocab.decode(c.train_ids) == text[:n_train] and c.vocab.decode(c.val_ids) == text[n_train:]


def test_text_file_is_read_as_utf8_without_bom(tmp_path: Path) -> None:
    path = tmp_path / "poem.txt"
    path.write_bytes(("\ufeff" + "Where art thou, Roméo?\n" * 3).encode("utf-8"))
    c = load_text_file(path)
    assert "\ufeff" not in c.vocab.chars and "é" in c.vocab.chars
    assert c.vocab.decode(torch.cat([c.train_ids, c.val_ids])).startswith("Where art thou, Roméo?\n")
    assert c.name == f"text:{path}" and c.source == str(path.resolve()) and c.corpus == "file"


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"must be UTF-8 text, got byte 0xe9 at offset 3 \(invalid continuation byte"):
        load_text_file(path)
    with pytest.raises(ValueError, match="must be UTF-8 text"):
        load_corpus(f"text:{path}")


@pytest.mark.parametrize(
    "content, message",
    [(b"", "must hold some text, got an empty file"), (b"a", "enough characters for a train and a validation split, got 1")],
)
def test_empty_or_one_character_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "tiny.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_text_file(path)


def test_missing_file_or_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"path must be an existing UTF-8 text file, got .*nope.txt' \(missing\)"):
        load_corpus(f"text:{tmp_path / 'nope.txt'}")
    with pytest.raises(FileNotFoundError, match=r"\(a folder\)"):
        load_text_file(tmp_path)
    with pytest.raises(ValueError, match="text:PATH must name a file, got 'text:' with no path"):
        load_corpus("text:")


def test_text_path_is_memoised_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("abcdefghij" * 5, encoding="utf-8")
    first = load_corpus(f"text:{path}")
    assert load_corpus(f"text:{path}") is first
    path.write_text("zyxw" * 20, encoding="utf-8")
    second = load_corpus(f"text:{path}")
    assert second is not first and second.vocab.chars == ("w", "x", "y", "z")


def test_names_and_did_you_mean() -> None:
    assert is_text_dataset("shakespeare-char") and is_text_dataset("text:x.txt") and not is_text_dataset("mnist1d")
    with pytest.raises(ValueError, match="did you mean 'shakespeare-char'"):
        load_corpus("shakespeare-chr")
