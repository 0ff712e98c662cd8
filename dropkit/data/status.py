"""What ``dropkit datasets`` reports per dataset, and the error raised when a dataset cannot be found."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["ChecksumStatus", "DatasetStatus", "DatasetNotFoundError"]

ChecksumStatus = Literal["ok", "mismatch", "not checked"]


class DatasetNotFoundError(FileNotFoundError):
    """No place holds the dataset's files and they could not be downloaded; the message lists every
    place searched, every download tried and how to supply the files."""


@dataclass(frozen=True)
class DatasetStatus:
    """Where a dataset is and whether it is intact, without loading it into memory.

    Args:
        name: registry name.
        found: whether usable files (or a cached generated file, or a bundled copy) exist.
        location: the folder or file it loads from, ``None`` when not found.
        searched: every place looked in, in search order, each with what was there.
        size_bytes: total size on disk of the files at ``location``, ``None`` when not found.
        num_train: number of training samples found, ``None`` when not found or unreadable.
        num_test: number of test samples found, ``None`` when not found or unreadable.
        checksum: ``"ok"`` (every file matches a known SHA-256), ``"mismatch"`` (at least one does not;
            ``detail`` names it) or ``"not checked"`` (generated or bundled data, or nothing found).
        detail: one human-readable line: mismatching files, or what happens on first load.

    Example:
        >>> s = DatasetStatus("mnist", False, None, ("/tmp/x/mnist (cache): no such folder",), None,
        ...                   None, None, "not checked", "download on first load")
        >>> s.as_dict()["checksum"]
        'not checked'
    """

    name: str
    found: bool
    location: str | None
    searched: tuple[str, ...]
    size_bytes: int | None
    num_train: int | None
    num_test: int | None
    checksum: ChecksumStatus
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``searched`` as a list)."""
        out = asdict(self)
        out["searched"] = list(self.searched)
        return out
