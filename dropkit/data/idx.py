"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS").

An IDX file is a 4-byte magic number, then one big-endian ``uint32`` per dimension, then the values in
C order, big-endian. The magic number is two zero bytes, a type code and the number of dimensions:

=========  =============  ===========
type code  numpy dtype    bytes each
=========  =============  ===========
``0x08``   ``uint8``      1
``0x09``   ``int8``       1
``0x0B``   ``>i2``        2
``0x0C``   ``>i4``        4
``0x0D``   ``>f4``        4
``0x0E``   ``>f8``        8
=========  =============  ===========

``0x0A`` lies inside that range but is not a type the format defines, so it is refused like any other
unknown code. Files may be gzip-compressed; compression is detected from the gzip magic bytes
(``1f 8b``), never from the file name. The reader checks the header and that the payload holds
exactly the number of bytes the dimensions call for: a truncated file, extra bytes or a wrong magic
number raise ``ValueError`` naming the file, what was expected and what was found.
"""

from __future__ import annotations

import gzip as _gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dropkit._io import atomic_write_bytes

__all__ = ["IdxHeader", "read_idx", "read_idx_header", "write_idx", "IDX_DTYPES"]

#: IDX type code -> numpy dtype (big-endian, as stored in the file).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header declares.

    Args:
        dtype: the stored (big-endian) numpy dtype.
        shape: the dimensions, outermost first.
        compressed: whether the file is gzip-compressed.
    """

    dtype: np.dtype
    shape: tuple[int, ...]
    compressed: bool

    @property
    def header_bytes(self) -> int:
        """Size of the (uncompressed) header: magic number plus one uint32 per dimension."""
        return 4 + 4 * len(self.shape)

    @property
    def payload_bytes(self) -> int:
        """Number of (uncompressed) bytes the values take."""
        return math.prod(self.shape) * self.dtype.itemsize


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: Path) -> tuple[BinaryIO, bool]:
    compressed = _is_gzip(path)
    handle: BinaryIO = _gzip.open(path, "rb") if compressed else open(path, "rb")  # type: ignore[assignment]
    return handle, compressed


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    """Read ``n`` bytes or raise ``ValueError`` saying how many were there."""
    try:
        data = f.read(n)
    except (EOFError, OSError, zlib.error) as exc:  # truncated or corrupt gzip stream
        raise ValueError(
            f"read_idx: '{path}': corrupt or truncated gzip data while reading {what}: {exc}"
        ) from exc
    if len(data) != n:
        raise ValueError(f"read_idx: '{path}': truncated file: expected {n} bytes of {what}, found {len(data)}")
    return data


def _parse_header(f: BinaryIO, path: Path, compressed: bool) -> IdxHeader:
    magic = _read_exact(f, 4, path, "magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(
            f"read_idx: '{path}': not an IDX file: the magic number must start with two zero bytes, "
            f"found 0x{magic.hex()}"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: '{path}': unknown IDX type code: expected one of {known}, found 0x{code:02X}")
    if ndim == 0:
        raise ValueError(f"read_idx: '{path}': number of dimensions in the magic number must be >= 1, found 0")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, f"header ({ndim} dimensions)"))
    return IdxHeader(dtype=IDX_DTYPES[code], shape=tuple(int(d) for d in dims), compressed=compressed)


def read_idx_header(path: str | os.PathLike[str]) -> IdxHeader:
    """Read and check only the header of an IDX file (cheap, also for gzip files).

    Args:
        path: the file, raw or gzip-compressed.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.idx"
        >>> write_idx(p, np.zeros((3, 2), dtype=np.uint8))
        >>> read_idx_header(p).shape
        (3, 2)
    """
    path = Path(path)
    f, compressed = _open(path)
    with f:
        return _parse_header(f, path, compressed)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a whole IDX file into a numpy array in native byte order.

    Args:
        path: the file, raw or gzip-compressed (detected from the magic bytes, not the extension).

    Returns:
        An array of the declared shape; dtype ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
        ``float64`` by the type code.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: wrong magic number, unknown type code, zero dimensions, truncated file, extra bytes
            or a corrupt gzip stream; the message names the file, the expected and the found value.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
        >>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(p)
        array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    f, compressed = _open(path)
    with f:
        header = _parse_header(f, path, compressed)
        n = header.payload_bytes
        what = f"data for shape {header.shape} ({header.dtype.name})"
        if not compressed:  # check the size before reading, so a bad header cannot ask for gigabytes
            found = path.stat().st_size - header.header_bytes
            if found != n:
                kind = "truncated file" if found < n else "extra bytes after the data"
                raise ValueError(f"read_idx: '{path}': {kind}: expected {n} bytes of {what}, found {found}")
        payload = _read_exact(f, n, path, what)
        extra = _count_remaining(f, path)
        if extra:
            raise ValueError(
                f"read_idx: '{path}': extra bytes after the data: expected {n} bytes of {what}, found {n + extra}"
            )
    # astype copies: the result is writeable and in native byte order.
    return np.frombuffer(payload, dtype=header.dtype).reshape(header.shape).astype(header.dtype.newbyteorder("="))


def _count_remaining(f: BinaryIO, path: Path) -> int:
    """Count the bytes left after the payload (0 for a well-formed file)."""
    extra = 0
    try:
        while chunk := f.read(1 << 20):
            extra += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"read_idx: '{path}': corrupt or truncated gzip data after the payload: {exc}") from exc
    return extra


def write_idx(path: str | os.PathLike[str], array: object, *, gzip: bool | None = None) -> None:
    """Write ``array`` as an IDX file, atomically (a temp file renamed into place).

    Args:
        path: destination file; parent folders are created.
        array: array-like of dtype uint8, int8, int16, int32, float32 or float64 with 1 to 255 dims.
        gzip: compress with gzip (fixed mtime, so equal arrays give equal bytes); default ``None``
            compresses when ``path`` ends in ``.gz``.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "images-idx3-ubyte"
        >>> write_idx(p, np.arange(8, dtype=np.uint8).reshape(2, 2, 2), gzip=True)
        >>> read_idx(p).shape
        (2, 2, 2)
    """
    arr = np.asarray(array)
    code = _CODE_OF_KIND.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        allowed = "uint8, int8, int16, int32, float32 or float64"
        raise TypeError(f"write_idx: array dtype must be {allowed}, got {arr.dtype}")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: every dimension must be < 2**32, got shape {arr.shape}")
    path = Path(path)
    if gzip is None:
        gzip = path.name.endswith(".gz")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    atomic_write_bytes(path, _gzip.compress(data, mtime=0) if gzip else data)
