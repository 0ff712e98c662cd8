"""CSV and Parquet tables (``--dataset csv:FILE``, ``parquet:FILE``, or a folder with ``train.csv`` and
``test.csv``), read with pyarrow.

One column holds the label (``label_column``; by default the one named ``label``, ``target``, ``class``
or ``y``); every other column is a numeric feature. Integer labels are class indices; string labels
become classes in sorted order, their strings the class names. Features are standardised with the
mean and std of the training split only (after the ratio split, when there is no test file). Missing
values (empty cells, ``NaN``, ``null``) and non-numeric feature columns are errors naming the file, the
column and the row (``row 1`` is the first data row; for CSV also its line in the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dropkit._validation import closest_name_hint
from dropkit.data.decoded import Decoded, check_labels

__all__ = ["LABEL_COLUMNS", "table_files", "read_table_dataset"]

#: Column names taken as the label when ``label_column`` is not given (first match, case-insensitive).
LABEL_COLUMNS = ("label", "target", "class", "y")


def table_files(path: Path, kind: str) -> dict[str, Path]:
    """``{"train": file}`` or ``{"train": file, "test": file}`` for a table file or a folder of them."""
    if path.is_file():
        return {"train": path}
    suffix = ".csv" if kind == "csv" else ".parquet"
    train, test = path / f"train{suffix}", path / f"test{suffix}"
    if not train.is_file():
        raise ValueError(f"dataset: folder '{path}' must hold train{suffix} (and optionally test{suffix}), found no train{suffix}")
    return {"train": train, "test": test} if test.is_file() else {"train": train}


def _read(path: Path, kind: str):  # -> pyarrow.Table
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise ImportError(f"dataset: reading {kind} tables needs pyarrow: pip install 'dropkit[data]' ({exc})") from exc

    try:
        if kind == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path)
        import pyarrow.parquet as pq

        return pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise ValueError(f"dataset: '{path}': not a readable {kind.upper()} table (truncated or malformed): {exc}") from exc


def _row_text(i: int, kind: str) -> str:
    return f"row {i + 1} (line {i + 2})" if kind == "csv" else f"row {i + 1}"


def _label_column(names: list[str], given: str | None, path: Path) -> str:
    if given is not None:
        if given not in names:
            raise ValueError(
                f"dataset: '{path}' has no label column {given!r}; columns are {', '.join(names)}"
                f"{closest_name_hint(given, names)}"
            )
        return given
    lower = {n.lower(): n for n in names}
    for candidate in LABEL_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    raise ValueError(
        f"dataset: '{path}' has no label column: none of {', '.join(LABEL_COLUMNS)} among its columns "
        f"({', '.join(names)}); name it with --label-column"
    )


def _columns(table, path: Path, kind: str, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import pyarrow as pa

    names = table.column_names
    features = [n for n in names if n != label]
    if not features:
        raise ValueError(f"dataset: '{path}' has only the label column {label!r}; it needs feature columns")
    cols = []
    for name in features:
        col = table.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)
                or pa.types.is_null(col.type)):
            raise ValueError(
                f"dataset: '{path}': feature column {name!r} is not numeric ({col.type}); encode it as numbers or drop it"
            )
        values = col.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(
                f"dataset: '{path}': {_row_text(int(bad[0]), kind)}, column {name!r} is missing or not finite "
                f"({len(bad)} such rows in this column); fill or drop them"
            )
        cols.append(values)
    labels = table.column(label)
    if labels.null_count:
        i = int(np.flatnonzero(labels.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"dataset: '{path}': {_row_text(i, kind)} has no label (column {label!r} is empty)")
    return np.stack(cols, axis=1), labels.to_numpy(zero_copy_only=False), features


def read_table_dataset(path: Path, kind: str, label_column: str | None = None) -> Decoded:
    """Read and check a CSV or Parquet dataset (a file, or a folder with ``train.*`` and ``test.*``).

    Raises:
        ValueError: an unreadable table, a missing label column, non-numeric or missing features,
            missing labels, negative or non-integral integer labels, different columns in train and test,
            or a test label string that the training table does not have.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "iris.csv"
        >>> _ = p.write_text("a,b,species\\n1,2,setosa\\n3,4,virginica\\n5,6,setosa\\n")
        >>> dec = read_table_dataset(p, "csv", label_column="species")
        >>> dec.train_x.shape, dec.train_y.tolist(), dec.class_names
        ((3, 2), [0, 1, 0], ('setosa', 'virginica'))
    """
    files = table_files(path, kind)
    read: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    columns: dict[str, list[str]] = {}
    label = None
    for split, file in files.items():
        table = _read(file, kind)
        label = _label_column(table.column_names, label_column, file)
        x, y, columns[split] = _columns(table, file, kind, label)
        read[split] = (x.astype(np.float32), y)
    if "test" in read and columns["test"] != columns["train"]:
        raise ValueError(
            f"dataset: '{files['test']}' has feature columns {columns['test']}, "
            f"'{files['train']}' {columns['train']}; they must be the same, in the same order"
        )
    raw_train = read["train"][1]
    if raw_train.dtype.kind in "OUS":  # string labels: classes in sorted order
        names = tuple(sorted({str(v) for v in raw_train}))
        index = {n: i for i, n in enumerate(names)}
        ys = {}
        for split, (_, y) in read.items():
            unknown = [i for i, v in enumerate(y) if str(v) not in index]
            if unknown:
                raise ValueError(
                    f"dataset: '{files[split]}': {_row_text(unknown[0], kind)} has label {y[unknown[0]]!r}, "
                    f"which the training table does not have ({', '.join(names)})"
                )
            ys[split] = np.array([index[str(v)] for v in y], dtype=np.int64)
    else:
        ys = {split: check_labels(y, files[split], f"label column {label!r}") for split, (_, y) in read.items()}
        names = tuple(str(i) for i in range(max(int(y.max()) for y in ys.values()) + 1))
    test = ("test" in read)
    return Decoded(
        read["train"][0], ys["train"], read["test"][0] if test else None, ys["test"] if test else None,
        names, files=list(files.values()), standardise=True,
    )
