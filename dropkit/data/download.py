"""Checked downloads with the standard library: stream to a temp file, hash, rename only if the hash is known.

Nothing half-downloaded or unverified ever sits under the final name: the body is streamed into a
temporary file next to the destination (:func:`dropkit._io.atomic_path`), its SHA-256 is computed on
the way, and the file is renamed into place only when the digest is one of the accepted ones. On a
mismatch or any error the temporary file is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.parse
import urllib.request
from collections.abc import Collection
from pathlib import Path

from dropkit._io import atomic_path

__all__ = ["ChecksumError", "DOWNLOAD_TIMEOUT_S", "download_file", "sha256_file"]

logger = logging.getLogger(__name__)

#: Seconds to wait for a connection or for the next chunk of a response.
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's SHA-256 is not one of the digests expected for it."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
        >>> _ = p.write_bytes(b"")
        >>> sha256_file(p)[:16]
        'e3b0c44298fc1c14'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | Collection[str],
    *,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download ``url`` to ``dest`` atomically, keeping it only if its SHA-256 is accepted.

    Args:
        url: an ``http://`` or ``https://`` address.
        dest: the final file; parent folders are created.
        sha256: the accepted hex digest, or several (e.g. the official file and a known repack).
        timeout: seconds to wait for the connection and for each read (default 30).

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        ValueError: ``url`` is not http(s).
        ChecksumError: the downloaded bytes hash to another digest (nothing is left on disk).
        OSError: network errors (``urllib.error.URLError``, ``TimeoutError``, ...), unchanged.

    Example:
        >>> download_file("https://example.org/x.gz", "x.gz", "ab12...")  # doctest: +SKIP
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"download_file: url must start with http:// or https://, got {url!r}")
    accepted = {sha256.lower()} if isinstance(sha256, str) else {s.lower() for s in sha256}
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": "dropkit"})
    logger.info("downloading %s -> %s", url, dest)
    with atomic_path(dest) as tmp:
        h = hashlib.sha256()
        size = 0
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as f:
            while chunk := response.read(_CHUNK):
                h.update(chunk)
                f.write(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        digest = h.hexdigest()
        if digest not in accepted:
            expected = " or ".join(sorted(accepted))
            raise ChecksumError(
                f"download_file: SHA-256 of {url} must be {expected}, got {digest} "
                f"({size} bytes); the download was discarded"
            )
    logger.info("saved %s (%d bytes, SHA-256 ok)", dest, size)
    return dest
