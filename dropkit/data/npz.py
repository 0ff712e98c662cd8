"""NumPy ``.npz`` datasets (``--dataset npz:FILE``): ``x_train, y_train, x_test, y_test``, or ``x, y``
split by ratio; an optional ``class_names`` array of strings. Read with ``allow_pickle=False``.

``uint8`` inputs are taken as images and scaled to ``[0, 1]``; other numeric inputs are used as they are
(float32). ``(N, H, W)`` inputs are kept as they are: the model decides what a sample is.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dropkit.data.decoded import Decoded, check_counts, check_finite, check_labels

__all__ = ["read_npz"]

_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: Path) -> Decoded:
    """Read and check an ``.npz`` dataset.

    Raises:
        ValueError: not a readable ``.npz`` (truncated, not a zip), missing or extra-ambiguous keys,
            non-numeric inputs, NaN inputs, mismatched counts or bad labels; each names the file and the
            array or entry.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
        >>> np.savez(p, x=np.zeros((6, 3), np.float32), y=np.array([0, 1, 2, 0, 1, 2]))
        >>> dec = read_npz(p)
        >>> dec.train_x.shape, dec.class_names
        ((6, 3), ('0', '1', '2'))
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"dataset: '{path}': not a readable .npz file (truncated or not a zip archive): {exc}") from exc
    except ValueError as exc:  # object arrays need pickle
        raise ValueError(f"dataset: '{path}': {exc}; store numeric arrays (and class_names as strings)") from exc
    keys = set(arrays)
    if set(_SPLIT_KEYS) <= keys:
        splits = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
    elif {"x", "y"} <= keys:
        splits = {"train": ("x", "y")}
    else:
        raise ValueError(
            f"dataset: '{path}' must hold x_train, y_train, x_test, y_test or x, y; found {', '.join(sorted(keys)) or 'nothing'}"
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, (xk, yk) in splits.items():
        x, y = arrays[xk], arrays[yk]
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise ValueError(f"dataset: '{path}': {xk} must be numeric, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"dataset: '{path}': {xk} must have shape (N, ...) with one sample per row, got {x.shape}")
        check_counts(x, y, f"'{path}' {xk}", yk)
        check_finite(x, path, f"{xk}")
        out[split] = (x, check_labels(y, path, yk))
    if "test" in out and out["test"][0].shape[1:] != out["train"][0].shape[1:]:
        raise ValueError(
            f"dataset: '{path}': x_test samples have shape {out['test'][0].shape[1:]}, "
            f"x_train samples {out['train'][0].shape[1:]}; they must match"
        )
    num = max(int(y.max()) if len(y) else 0 for _, y in out.values()) + 1
    if "class_names" in arrays:
        names = tuple(str(n) for n in np.asarray(arrays["class_names"]).ravel())
        if len(names) < num:
            raise ValueError(f"dataset: '{path}': class_names has {len(names)} names but the labels reach {num - 1}")
    else:
        names = tuple(str(i) for i in range(num))
    train_x, train_y = out["train"]
    test_x, test_y = out.get("test", (None, None))
    images = train_x.dtype == np.uint8 and (test_x is None or test_x.dtype == np.uint8)
    if not images:
        train_x = train_x.astype(np.float32)
        test_x = None if test_x is None else test_x.astype(np.float32)
    return Decoded(train_x, train_y, test_x, test_y, names, files=[path], x_scale=1 / 255 if images else 1.0)
