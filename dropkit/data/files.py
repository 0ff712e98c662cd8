"""Datasets from the user's own files: ``--dataset PATH`` or ``--dataset KIND:PATH``.

Kinds and what ``PATH`` names:

===============  ==========================================================================================
``idx``          a folder of IDX image/label files of any name (``*train*`` / ``*t10k*`` or ``*test*`` for the
                 splits, or one image and one label file split by ratio); :mod:`dropkit.data.idx_folder`
``npz``          a NumPy ``.npz`` with ``x_train, y_train, x_test, y_test`` or ``x, y``; :mod:`dropkit.data.npz`
``csv``          a CSV table, or a folder with ``train.csv`` and ``test.csv``; :mod:`dropkit.data.table`
``parquet``      a Parquet table, or a folder with ``train.parquet`` and ``test.parquet``
``imagefolder``  torchvision's ``ImageFolder`` layout: ``train/<class>/*.png`` and ``test/<class>/*``, or
                 ``<class>/*`` split by ratio; :mod:`dropkit.data.image_folder`
===============  ==========================================================================================

Without ``KIND:`` the kind is sniffed when only one fits: by suffix for files (``.npz``, ``.csv``,
``.parquet``), by content for folders. A spec is canonicalised to ``kind:/absolute/path`` so that the
run's ``config.yaml`` records the exact files read, whatever the working directory of a later
``--resume``, sweep worker or report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dropkit._validation import closest_name_hint

__all__ = ["KINDS", "FileSpec", "is_file_spec", "parse_dataset_spec", "canonical_dataset", "sniff_kind"]

#: The file formats ``--dataset KIND:PATH`` accepts.
KINDS: tuple[str, ...] = ("idx", "npz", "csv", "parquet", "imagefolder")
_SUFFIX_KIND = {".npz": "npz", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_REGISTRY_NAMES = ("mnist1d", "digits", "fashion-mnist", "mnist")


@dataclass(frozen=True)
class FileSpec:
    """A parsed ``--dataset`` value naming files.

    Args:
        kind: one of :data:`KINDS`.
        path: the file or folder, absolute.

    Example:
        >>> FileSpec("npz", Path("/data/x.npz")).text
        'npz:/data/x.npz'
    """

    kind: str
    path: Path

    @property
    def text(self) -> str:
        """The canonical spelling, ``kind:/absolute/path``."""
        return f"{self.kind}:{self.path}"


def _split_kind(text: str) -> tuple[str | None, str]:
    head, sep, tail = text.partition(":")
    if sep and head.lower() in KINDS:
        return head.lower(), tail
    return None, text


def is_file_spec(text: object) -> bool:
    """True when ``text`` names files rather than a built-in dataset (no file is read).

    ``KIND:...`` with a known kind, anything with a path separator or a known suffix, or an existing path.

    Example:
        >>> is_file_spec("csv:table.csv"), is_file_spec("./my_data"), is_file_spec("fashion-mnist")
        (True, True, False)
    """
    if not isinstance(text, str) or not text.strip():
        return False
    if text.strip().lower().replace("_", "-") in _REGISTRY_NAMES:
        return False
    kind, rest = _split_kind(text)
    if kind is not None:
        return True
    if "/" in text or os.sep in text or text.startswith(("~", ".")):
        return True
    return Path(text).suffix.lower() in _SUFFIX_KIND or Path(text).exists()


def sniff_kind(path: Path, *, where: str = "dataset") -> str:
    """The kind of the files at ``path``, when exactly one kind fits.

    Raises:
        ValueError: no kind or several fit; the message lists what was found and how to say ``KIND:``.
    """
    if path.is_file():
        kind = _SUFFIX_KIND.get(path.suffix.lower())
        if kind is None:
            raise ValueError(
                f"{where}: cannot tell the format of '{path}' from its suffix {path.suffix!r}; "
                f"write KIND:PATH with KIND one of {', '.join(KINDS)} (e.g. csv:{path})"
            )
        return kind
    entries = sorted(path.iterdir())
    files = [p for p in entries if p.is_file()]
    names = {p.name.lower() for p in files}
    fits = []
    if any(_looks_like_idx(p) for p in files):
        fits.append("idx")
    for kind, suffix in (("csv", ".csv"), ("parquet", ".parquet"), ("npz", ".npz")):
        if f"train{suffix}" in names:
            fits.append(kind)
    subdirs = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    if subdirs and _has_images(subdirs):
        fits.append("imagefolder")
    if len(fits) == 1:
        return fits[0]
    what = "several formats (" + ", ".join(fits) + ")" if fits else "no format dropkit reads"
    raise ValueError(
        f"{where}: the folder '{path}' holds {what}; write KIND:PATH with KIND one of {', '.join(KINDS)} "
        f"(e.g. idx:{path} for IDX files, imagefolder:{path} for train/<class>/*.png)"
    )


def _looks_like_idx(path: Path) -> bool:
    from dropkit.data.idx import read_idx_header

    if "idx" not in path.name.lower() and "ubyte" not in path.name.lower():
        return False
    try:
        read_idx_header(path)
    except (ValueError, OSError, EOFError):
        return False
    return True


def _has_images(folders: list[Path]) -> bool:
    for folder in folders:
        for p in folder.rglob("*"):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                return True
    return False


def parse_dataset_spec(text: str, *, where: str = "dataset") -> FileSpec:
    """Parse ``PATH`` or ``KIND:PATH`` into a :class:`FileSpec` with an absolute path (sniffing the kind).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: an unknown kind, or a kind that cannot be sniffed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("a,label\\n1,0\\n")
        >>> parse_dataset_spec(str(p)).kind
        'csv'
    """
    if not isinstance(text, str):
        raise TypeError(f"{where}: must be a dataset name or a path, got {type(text).__name__}")
    kind, rest = _split_kind(text.strip())
    head, sep, _ = text.partition(":")
    if kind is None and sep and not Path(text).expanduser().exists() and head.isidentifier():
        raise ValueError(
            f"{where}: unknown file kind {head!r} in {text!r}; KIND must be one of "
            f"{', '.join(KINDS)}{closest_name_hint(head.lower(), KINDS)}"
        )
    path = Path(rest).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{where}: {text!r}: no such file or folder '{path.absolute()}'")
    path = path.resolve()
    return FileSpec(kind if kind is not None else sniff_kind(path, where=where), path)


def canonical_dataset(value: str) -> str:
    """``value`` as ``kind:/absolute/path`` when it names existing files; anything else unchanged.

    Example:
        >>> canonical_dataset("fashion-mnist")
        'fashion-mnist'
    """
    if not is_file_spec(value):
        return value
    try:
        return parse_dataset_spec(value).text
    except (OSError, ValueError):
        return value  # reported with its reason when the dataset is loaded
