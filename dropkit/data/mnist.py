"""MNIST and Fashion-MNIST: the four standard gzipped IDX files, found locally or downloaded and checked.

- MNIST: LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/ (mirror:
  https://ossci-datasets.s3.amazonaws.com/mnist/, used first because the original site often refuses).
- Fashion-MNIST: Xiao, Rasul & Vollgraf 2017, https://arxiv.org/abs/1708.07747,
  http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (Debian: ``dataset-fashion-mnist``).

The files are looked for as described in :mod:`dropkit.data.locate`; when no place holds all four and
``download=True`` they are downloaded into ``<cache>/<name>/`` (:func:`~dropkit.data.download.download_file`:
streamed, SHA-256 checked before the rename). Every file is hashed on load; a file whose SHA-256 is not
a known one raises :class:`~dropkit.data.download.ChecksumError` instead of silently training on
something else.

Known digests per file: the official download first. Debian's ``dataset-fashion-mnist`` re-gzips the
upstream files (same images, different gzip header), so its archives have their own digests, which
are accepted as well.
"""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dropkit.data.dataset import ArrayDataset
from dropkit.data.download import ChecksumError, download_file, sha256_file
from dropkit.data.idx import read_idx, read_idx_header
from dropkit.data import locate
from dropkit.data.locate import ENV_VAR, search_places, unused_places
from dropkit.data.status import DatasetNotFoundError, DatasetStatus

__all__ = [
    "IdxFile",
    "IdxDatasetSpec",
    "SPECS",
    "MNIST",
    "FASHION_MNIST",
    "find_idx_dataset",
    "file_path",
    "dataset_files",
    "load_idx_dataset",
    "idx_dataset_status",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdxFile:
    """One file of an IDX dataset.

    Args:
        filename: the standard file name, e.g. ``"train-images-idx3-ubyte.gz"``.
        sha256: accepted hex digests of the file as stored; the official download first.
        raw_sha256: accepted hex digests of the uncompressed file (``filename`` without ``.gz``), for
            folders holding raw IDX files (default: none known, raw files are refused).
    """

    filename: str
    sha256: tuple[str, ...]
    raw_sha256: tuple[str, ...] = ()

    @property
    def raw_filename(self) -> str:
        """The uncompressed file's name: ``filename`` without ``.gz``."""
        return self.filename[:-3] if self.filename.endswith(".gz") else self.filename


@dataclass(frozen=True)
class IdxDatasetSpec:
    """Everything needed to find, fetch, check and decode one IDX image-classification dataset.

    Args:
        name: registry name and subfolder name.
        train_images, train_labels, test_images, test_labels: the four files.
        mirrors: base URLs tried in order; a file's URL is ``mirror + filename``.
        class_names: one per label.
        num_train: expected number of training samples.
        num_test: expected number of test samples.
        image_size: ``(height, width)`` of each image.
        debian_package: the Debian package installing the files in ``/usr/share/datasets/<name>``, if any.
    """

    name: str
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    num_train: int
    num_test: int
    image_size: tuple[int, int] = (28, 28)
    debian_package: str | None = None

    @property
    def files(self) -> tuple[IdxFile, ...]:
        """The four files: train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


MNIST = IdxDatasetSpec(
    name="mnist",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz", ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",)
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz", ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",)
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz", ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",)
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz", ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",)
    ),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    class_names=tuple(str(d) for d in range(10)),
    num_train=60000,
    num_test=10000,
)

FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    # (official download, Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1 re-gzipped copy); then the
    # digest of the uncompressed file, the same for both (computed from the Debian files with zcat | sha256sum)
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz",
        (
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",),
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz",
        (
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",),
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz",
        (
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",),
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        (
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
        ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),  # fmt: skip
    num_train=60000,
    num_test=10000,
    debian_package="dataset-fashion-mnist",
)

#: Registry of IDX datasets; tests swap entries with ``monkeypatch.setitem`` (local mirrors, small files).
SPECS: dict[str, IdxDatasetSpec] = {MNIST.name: MNIST, FASHION_MNIST.name: FASHION_MNIST}


# --- finding ----------------------------------------------------------------------------------------


def file_path(folder: Path, f: IdxFile) -> Path | None:
    """``folder/<filename>`` (gzip) or else ``folder/<filename without .gz>`` (raw), whichever exists."""
    for name in (f.filename, f.raw_filename):
        if (folder / name).is_file():
            return folder / name
    return None


def dataset_files(spec: IdxDatasetSpec, folder: Path) -> list[Path]:
    """The four files of ``spec`` in ``folder`` (gzip or raw each); the folder must hold all of them."""
    paths = [file_path(folder, f) for f in spec.files]
    assert all(p is not None for p in paths), f"{folder} does not hold every file of {spec.name}"
    return paths  # type: ignore[return-value]


def _find(spec: IdxDatasetSpec, data_dir: Path | None) -> tuple[Path | None, list[str]]:
    """First place holding all four files (gzip or raw), and one line per place looked at.

    A shared root (``$DROPKIT_DATA``, cache, system) holding only some of the files is skipped, as a
    half-finished copy; the folder the user named (``data_dir``) is not: some files there but not all
    is an error, never a silent fall-through to another copy.
    """
    searched: list[str] = []
    for place in search_places(spec.name, data_dir):
        if not place.path.is_dir():
            searched.append(f"{place}: no such folder")
            continue
        missing = [f.filename for f in spec.files if file_path(place.path, f) is None]
        if not missing:
            other = _matches_other(spec, place.path) if place.origin == "data_dir" and place.path == data_dir else None
            if other is not None:  # a flat folder: MNIST and Fashion-MNIST files have the same names
                searched.append(f"{place}: holds the {other!r} files (same names), skipped")
                continue
            searched.append(f"{place}: all {len(spec.files)} files")
            return place.path, searched
        what = "none of the files" if len(missing) == len(spec.files) else "missing " + ", ".join(missing)
        searched.append(f"{place}: {what}")
        if place.origin == "data_dir" and len(missing) < len(spec.files):
            raise DatasetNotFoundError(
                f"load_dataset: data_dir '{place.path}' holds some files of {spec.name!r} but not "
                f"{', '.join(missing)} (gzip or raw); add them, or pass --dataset idx:{place.path} to train on "
                "the files that are there"
            )
    return None, searched


def find_idx_dataset(name: str, data_dir: Path | None = None) -> Path | None:
    """The first folder holding all files of IDX dataset ``name`` (no hashing, no download), or ``None``.

    Example:
        >>> find_idx_dataset("fashion-mnist")  # doctest: +SKIP
        PosixPath('/usr/share/datasets/fashion-mnist')
    """
    return _find(SPECS[name], data_dir)[0]


def _accepted(f: IdxFile, path: Path) -> tuple[str, ...]:
    return f.sha256 if path.name == f.filename else f.raw_sha256


def _checksum_problems(spec: IdxDatasetSpec, folder: Path) -> list[str]:
    """One line per file whose SHA-256 is not a known one (empty when all are fine)."""
    problems = []
    for f, path in zip(spec.files, dataset_files(spec, folder)):
        accepted = _accepted(f, path)
        if not accepted:
            problems.append(f"'{path}' is uncompressed and no SHA-256 of the raw file is known; gzip the files "
                            "as downloaded, or use --dataset idx:PATH")
            continue
        digest = sha256_file(path)
        if digest not in accepted:
            problems.append(f"SHA-256 of '{path}' must be {accepted[0]}, got {digest}")
    return problems


def _matches_other(spec: IdxDatasetSpec, folder: Path) -> str | None:
    """The name of another known dataset whose digests every file in ``folder`` matches, if any."""
    for other in SPECS.values():
        if other.name == spec.name or any(file_path(folder, f) is None for f in other.files):
            continue
        if all(sha256_file(p) in _accepted(f, p) for f, p in zip(other.files, dataset_files(other, folder))):
            return other.name
    return None


# --- downloading ------------------------------------------------------------------------------------


def _download_all(spec: IdxDatasetSpec) -> tuple[Path | None, list[str], bool]:
    """Download the missing or wrong files into ``<cache>/<name>/``.

    Returns ``(folder or None, one line per failed attempt, whether any attempt had a wrong checksum)``.
    Files fetched before a failure stay (they are verified), so a later call only fetches the rest.
    """
    target = locate.cache_dir() / spec.name
    failures: list[str] = []
    bad_checksum = False
    for f in spec.files:
        dest = target / f.filename
        if dest.is_file() and sha256_file(dest) in f.sha256:
            continue
        for mirror in spec.mirrors:
            url = mirror.rstrip("/") + "/" + f.filename
            try:
                download_file(url, dest, f.sha256)
                break
            except ChecksumError as exc:
                bad_checksum = True
                failures.append(f"{url}: {exc}")
            except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url}: {type(exc).__name__}: {reason}")
        else:
            return None, failures, bad_checksum
    return target, failures, bad_checksum


def _not_found_message(
    spec: IdxDatasetSpec, data_dir: Path | None, searched: list[str], failures: list[str], download: bool
) -> str:
    names = ", ".join(f.filename for f in spec.files)
    lines = [f"load_dataset: dataset {spec.name!r} not found. Looked in, in order:"]
    lines += [f"  - {s}" for s in searched]
    if unused := unused_places(data_dir):
        lines.append("Not searched: " + "; ".join(unused) + ".")
    if download:
        lines.append("Download failed:")
        lines += [f"  - {s}" for s in failures] or ["  - (no mirror answered)"]
    else:
        lines.append("Not downloaded (download=False).")
    lines.append(f"To supply the files ({names}):")
    cache = locate.cache_dir() / spec.name
    lines.append(f"  - copy them into {cache}/ (or into <data_dir>/{spec.name}/ and pass data_dir),")
    lines.append(f"  - or set {ENV_VAR}=<folder> with the files in <folder>/{spec.name}/,")
    if spec.debian_package:
        lines.append(f"  - or on Debian/Ubuntu: sudo apt install {spec.debian_package},")
    urls = " or ".join(spec.mirrors)
    lines.append(f"  - or allow the download (download=True) from {urls}.")
    return "\n".join(lines)


# --- public -----------------------------------------------------------------------------------------


def _to_tensors(
    spec: IdxDatasetSpec, images: np.ndarray, labels: np.ndarray, split: str, folder: Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the decoded arrays against the spec; return ``(x, y)`` as float32 ``[0, 1]`` and int64."""
    expected = spec.num_train if split == "train" else spec.num_test
    where = f"load_dataset({spec.name!r})"
    if images.shape != (expected, *spec.image_size):
        raise ValueError(
            f"{where}: {split} images in '{folder}' must have shape {(expected, *spec.image_size)}, "
            f"got {images.shape}"
        )
    if labels.shape != (expected,):
        raise ValueError(
            f"{where}: {split} labels in '{folder}' must have shape ({expected},), got {labels.shape}"
        )
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(
            f"{where}: {split} files in '{folder}' must hold uint8 data, got {images.dtype} and {labels.dtype}"
        )
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels).to(torch.int64)
    return x, y


def load_idx_dataset(name: str, data_dir: Path | None = None, *, download: bool = True) -> ArrayDataset:
    """Find (or download), check and decode the IDX dataset ``name``.

    Args:
        name: a key of :data:`SPECS` (``"mnist"`` or ``"fashion-mnist"``).
        data_dir: an existing folder searched first (already checked by the caller), or ``None``.
        download: fetch missing files from the mirrors into the cache (default True).

    Returns:
        An :class:`ArrayDataset` with images ``(N, 1, 28, 28)`` float32 in ``[0, 1]`` and int64 labels.

    Raises:
        DatasetNotFoundError: no place holds the files and downloading is off or failed.
        ChecksumError: a file found or downloaded has an unknown SHA-256.
        ValueError: a file is not a valid IDX file or has the wrong shape.

    Example:
        >>> ds = load_idx_dataset("fashion-mnist", download=False)  # doctest: +SKIP
        >>> ds.train_x.shape  # doctest: +SKIP
        torch.Size([60000, 1, 28, 28])
    """
    spec = SPECS[name]
    folder, searched = _find(spec, data_dir)
    if folder is None:
        failures: list[str] = []
        if download:
            folder, failures, bad_checksum = _download_all(spec)
            if folder is None and bad_checksum:
                raise ChecksumError(
                    f"load_dataset: dataset {spec.name!r}: every download of a file failed, at least one with "
                    "a wrong SHA-256 (nothing was kept):\n" + "\n".join(f"  - {s}" for s in failures)
                )
        if folder is None:
            raise DatasetNotFoundError(_not_found_message(spec, data_dir, searched, failures, download))
    problems = _checksum_problems(spec, folder)
    if problems:
        other = _matches_other(spec, folder)
        if other is not None:
            raise ChecksumError(
                f"load_dataset: '{folder}' holds the {other!r} files, not {spec.name!r} (the file names are the "
                f"same; their SHA-256 says which): pass --dataset {other}"
            )
        raise ChecksumError(
            f"load_dataset: dataset {spec.name!r} in '{folder}' does not match the known files:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\nTo train on these files as they are (a relabelled or edited copy), pass --dataset idx:{folder} "
            "(no checksum is enforced there); to get the official files, delete these and let a download fetch them."
        )
    if data_dir is not None and data_dir not in (folder, folder.parent):
        logger.warning("data_dir '%s' holds no %s files: reading them from '%s'", data_dir, spec.name, folder)
    arrays = {f.filename: read_idx(p) for f, p in zip(spec.files, dataset_files(spec, folder))}
    train_x, train_y = _to_tensors(
        spec, arrays[spec.train_images.filename], arrays[spec.train_labels.filename], "train", folder
    )
    test_x, test_y = _to_tensors(
        spec, arrays[spec.test_images.filename], arrays[spec.test_labels.filename], "test", folder
    )
    logger.debug("loaded %s from %s", spec.name, folder)
    return ArrayDataset(
        name=spec.name,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=len(spec.class_names),
        input_shape=(1, *spec.image_size),
        class_names=spec.class_names,
        source=str(folder),
    )


def idx_dataset_status(name: str, data_dir: Path | None = None) -> DatasetStatus:
    """Where ``name`` would load from, its size, sample counts (from the headers) and checksum status.

    Args:
        name: a key of :data:`SPECS`.
        data_dir: an existing folder searched first, or ``None``.

    Example:
        >>> idx_dataset_status("fashion-mnist").checksum  # doctest: +SKIP
        'ok'
    """
    spec = SPECS[name]
    folder, searched = _find(spec, data_dir)
    if folder is None:
        return DatasetStatus(
            name=spec.name, found=False, location=None, searched=tuple(searched), size_bytes=None,
            num_train=None, num_test=None, checksum="not checked",
            detail=f"not found: downloaded into {locate.cache_dir() / spec.name} on first load (unless download=False)",
        )  # fmt: skip
    problems = _checksum_problems(spec, folder)
    counts: list[int | None] = []
    notes = list(problems)
    for f in (spec.train_labels, spec.test_labels):
        try:
            counts.append(read_idx_header(file_path(folder, f)).shape[0])  # type: ignore[arg-type]
        except (ValueError, OSError) as exc:
            counts.append(None)
            notes.append(str(exc))
    return DatasetStatus(
        name=spec.name,
        found=True,
        location=str(folder),
        searched=tuple(searched),
        size_bytes=sum(p.stat().st_size for p in dataset_files(spec, folder)),
        num_train=counts[0],
        num_test=counts[1],
        checksum="mismatch" if problems else "ok",
        detail="; ".join(notes),
    )
