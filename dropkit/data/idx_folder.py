"""IDX image/label files of any name in one folder (``--dataset idx:FOLDER``), e.g. a relabelled copy of
Fashion-MNIST. No checksum is enforced: these are the user's files.

Each IDX file (raw or gzip; see :mod:`dropkit.data.idx`) is classified by its header: 1-D files are
labels, files with 2 or more dimensions are images (``(N, H, W)`` becomes ``(N, 1, H, W)``) or
features. A file whose name says IDX (``*idx*``, ``*ubyte*``, ``*.gz``) must be one; other files that
are not (a README) are skipped. A name containing ``train`` marks the training split, ``t10k`` or ``test`` the test split;
a folder with one image and one label file and no test files is split by ratio. An optional
``classes.txt`` (one name per line, in label order) gives the class names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dropkit.data.decoded import Decoded, check_counts, check_finite, check_labels
from dropkit.data.idx import read_idx, read_idx_header

__all__ = ["CLASSES_FILE", "idx_folder_files", "read_idx_folder", "read_class_names"]

#: Optional file with one class name per line.
CLASSES_FILE = "classes.txt"


def _split_of(name: str) -> str | None:
    low = name.lower()
    if "train" in low:
        return "train"
    if "t10k" in low or "test" in low:
        return "test"
    return None


def _is_idx_candidate(path: Path) -> bool:
    """Files that should be IDX: not hidden, not the class list, not an obvious other format."""
    return (
        path.is_file()
        and not path.name.startswith(".")
        and path.name != CLASSES_FILE
        and path.suffix.lower() not in (".txt", ".md", ".json", ".csv", ".npz", ".py", ".yaml", ".yml")
    )


def _named_idx(name: str) -> bool:
    low = name.lower()
    return "idx" in low or "ubyte" in low or low.endswith(".gz")


def idx_folder_files(folder: Path) -> dict[str, dict[str, Path]]:
    """``{"train": {"images": p, "labels": p}, "test": {...}}`` for the IDX files of ``folder``.

    Raises:
        ValueError: a file that should be IDX is not (wrong magic, truncated header), or the files
            do not form one or two image/label pairs; the message names each file and its role.
    """
    roles: dict[str, dict[str, Path]] = {}
    unsplit: list[tuple[str, Path]] = []
    for path in sorted(folder.iterdir()):
        if not _is_idx_candidate(path):
            continue
        try:
            header = read_idx_header(path)  # ValueError naming the file: wrong magic, truncated header
        except ValueError:
            if _named_idx(path.name):
                raise
            continue  # a README, a LICENSE: not data
        role = "labels" if len(header.shape) == 1 else "images"
        split = _split_of(path.name)
        if split is None:
            unsplit.append((role, path))
            continue
        if role in roles.setdefault(split, {}):
            raise ValueError(
                f"dataset: '{folder}' holds two {split} {role} files, '{roles[split][role].name}' and "
                f"'{path.name}'; keep one"
            )
        roles[split][role] = path
    if unsplit:
        if roles:
            names = ", ".join(p.name for _, p in unsplit)
            raise ValueError(
                f"dataset: '{folder}': cannot tell the split of {names}: name train files '*train*' and "
                "test files '*t10k*' or '*test*'"
            )
        for role, path in unsplit:
            if role in roles.setdefault("train", {}):
                raise ValueError(f"dataset: '{folder}' holds two {role} files without train/test in their names")
            roles["train"][role] = path
    for split in ("train", "test"):
        if split in roles and set(roles[split]) != {"images", "labels"}:
            have = ", ".join(f"{r} '{p.name}'" for r, p in roles[split].items())
            missing = ({"images", "labels"} - set(roles[split])).pop()
            raise ValueError(f"dataset: '{folder}': the {split} split has {have} but no {missing} file")
    if "train" not in roles:
        found = ", ".join(f"{s} {r}" for s, d in roles.items() for r in d) or "no IDX files"
        raise ValueError(
            f"dataset: '{folder}' must hold a train image file and a train label file (IDX), found {found}"
        )
    return roles


def read_class_names(path: Path, num_labels: int) -> tuple[str, ...] | None:
    """The names in ``path`` (one per line, blank lines ignored), or ``None`` when there is no such file."""
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(names) < num_labels:
        raise ValueError(
            f"dataset: '{path}' names {len(names)} classes but the labels reach {num_labels - 1}; "
            f"give one name per class, {num_labels} or more"
        )
    return names


def read_idx_folder(folder: Path) -> Decoded:
    """Read and check the IDX pairs in ``folder``.

    Raises:
        ValueError: any malformed file (names it), mismatched image and label counts, labels below 0
            or beyond ``classes.txt``, NaN pixels, or image shapes that differ between the splits.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from dropkit.data.idx import write_idx
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> write_idx(d / "images-idx3-ubyte", np.zeros((4, 2, 2), dtype=np.uint8))
        >>> write_idx(d / "labels-idx1-ubyte", np.array([0, 1, 0, 1], dtype=np.uint8))
        >>> dec = read_idx_folder(d)
        >>> dec.train_x.shape, dec.test_x, dec.class_names
        ((4, 1, 2, 2), None, ('0', '1'))
    """
    roles = idx_folder_files(folder)
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    files: list[Path] = []
    for split, pair in roles.items():
        x, y = read_idx(pair["images"]), read_idx(pair["labels"])
        files += [pair["images"], pair["labels"]]
        check_counts(x, y, f"'{pair['images']}'", f"'{pair['labels']}'")
        check_finite(x, pair["images"], "image")
        y = check_labels(y, pair["labels"], "label")
        if x.ndim == 3:
            x = x[:, None]
        arrays[split] = (x, y)
    if "test" in arrays and arrays["test"][0].shape[1:] != arrays["train"][0].shape[1:]:
        raise ValueError(
            f"dataset: '{roles['test']['images']}' holds samples of shape {arrays['test'][0].shape[1:]}, "
            f"the train images '{roles['train']['images']}' {arrays['train'][0].shape[1:]}; they must match"
        )
    max_label = max(int(y.max()) if len(y) else 0 for _, y in arrays.values())
    names = read_class_names(folder / CLASSES_FILE, max_label + 1)
    if names is not None:
        files.append(folder / CLASSES_FILE)
    else:
        names = tuple(str(i) for i in range(max_label + 1))
    train_x, train_y = arrays["train"]
    test_x, test_y = arrays.get("test", (None, None))
    is_uint8 = train_x.dtype == np.uint8 and (test_x is None or test_x.dtype == np.uint8)
    if not is_uint8:
        train_x = train_x.astype(np.float32)
        test_x = None if test_x is None else test_x.astype(np.float32)
    return Decoded(
        train_x, train_y, test_x, test_y, names, files=files, x_scale=1 / 255 if is_uint8 else 1.0,
    )
