"""IDX reader and writer: round trips, and every malformed file refused with a message naming it."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from dropkit.data.idx import read_idx, read_idx_header, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _raw_idx(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip(tmp_path: Path, dtype: type, compress: bool) -> None:
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = tmp_path / "a.idx"
    write_idx(path, arr, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == (2, 3, 5)
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable
    assert list(tmp_path.iterdir()) == [path]  # the atomic write left no temp file


def test_big_endian_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "x"
    write_idx(path, np.array([1, 258], dtype=np.int32), gzip=False)
    assert path.read_bytes() == b"\x00\x00\x0c\x01" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x01\x00\x00\x01\x02"


def test_compression_detected_from_bytes_not_name(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_raw = tmp_path / "raw-but-named.gz"
    raw_named_gz = tmp_path / "gzip-but-named.idx"
    write_idx(gz_named_raw, arr, gzip=False)
    write_idx(raw_named_gz, arr, gzip=True)
    np.testing.assert_array_equal(read_idx(gz_named_raw), arr)
    np.testing.assert_array_equal(read_idx(raw_named_gz), arr)
    assert read_idx_header(raw_named_gz).compressed and not read_idx_header(gz_named_raw).compressed


def test_gzip_default_follows_suffix(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    write_idx(tmp_path / "a", np.zeros(3, np.uint8))
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a").read_bytes()[:2] == b"\x00\x00"


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "h.gz"
    write_idx(path, np.zeros((7, 28, 28), np.uint8))
    h = read_idx_header(path)
    assert (h.shape, h.dtype, h.header_bytes, h.payload_bytes) == ((7, 28, 28), np.dtype("u1"), 16, 7 * 784)


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
def test_truncated_payload(tmp_path: Path, compress: bool) -> None:
    data = _raw_idx(0x08, (4, 5), bytes(19))  # one byte short of 20
    path = tmp_path / "short.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=r"short\.idx': truncated file: expected 20 bytes of data for shape \(4, 5\) "
                       r"\(uint8\), found 19"):
        read_idx(path)


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
def test_extra_bytes(tmp_path: Path, compress: bool) -> None:
    data = _raw_idx(0x08, (4, 5), bytes(23))  # three bytes too many
    path = tmp_path / "long.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=r"long\.idx': extra bytes after the data: expected 20 bytes of data for "
                       r"shape \(4, 5\) \(uint8\), found 23"):
        read_idx(path)


def test_wrong_count_in_header(tmp_path: Path) -> None:
    # Header says 6 labels, the file holds 5: the exact byte count catches it.
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(_raw_idx(0x08, (6,), bytes(5))))
    with pytest.raises(ValueError, match=r"labels\.gz': truncated file: expected 6 bytes of data for shape \(6,\) "
                       r"\(uint8\), found 5"):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "hdr"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 10))  # 3 dims declared, 1 given
    with pytest.raises(ValueError, match=r"hdr.*truncated.*expected 12 bytes of header.*found 4"):
        read_idx(path)
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match=r"tiny.*expected 4 bytes of magic number, found 2"):
        read_idx(tmp_path / "tiny")


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x07\x08\x01", b"PK\x03\x04"])
def test_wrong_magic(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(magic + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=rf"bad\.idx.*two zero bytes, found 0x{magic.hex()}"):
        read_idx(path)


@pytest.mark.parametrize("code", [0x00, 0x07, 0x0A, 0x0F, 0xFF])
def test_unknown_dtype_code(tmp_path: Path, code: int) -> None:
    path = tmp_path / "code.idx"
    path.write_bytes(_raw_idx(code, (2,), bytes(2)))
    with pytest.raises(ValueError, match=rf"code\.idx.*unknown IDX type code.*0x08.*found 0x{code:02X}"):
        read_idx(path)


def test_zero_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "nodim"
    path.write_bytes(b"\x00\x00\x08\x00")
    with pytest.raises(ValueError, match=r"nodim.*dimensions.*>= 1, found 0"):
        read_idx(path)


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    good = tmp_path / "good.gz"
    write_idx(good, np.arange(4000, dtype=np.int32))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:-30])  # gzip stream ends early
    with pytest.raises(ValueError, match=r"cut\.gz"):
        read_idx(cut)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_write_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="write_idx: array dtype must be uint8.*got uint16"):
        write_idx(tmp_path / "a", np.zeros(3, np.uint16))
    with pytest.raises(TypeError, match="got bool"):
        write_idx(tmp_path / "a", np.zeros(3, bool))
    with pytest.raises(ValueError, match="1 to 255 dimensions, got 0"):
        write_idx(tmp_path / "a", np.uint8(3))
    assert not any(tmp_path.iterdir())


def test_empty_dimension(tmp_path: Path) -> None:
    write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "e").shape == (0, 28, 28)
