"""Fixtures for the data tests: every search root points at a temporary folder, the memo starts empty."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dropkit.data import clear_memo, locate, mnist
from dropkit.data.download import sha256_file
from dropkit.data.idx import write_idx


@dataclasses.dataclass
class Roots:
    """The temporary stand-ins for the four search roots."""

    data_dir: Path
    env: Path
    cache: Path
    system: Path


@pytest.fixture(autouse=True)
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Roots]:
    """Isolate the tests from the machine: cache and system dirs in tmp, $DROPKIT_DATA unset."""
    r = Roots(tmp_path / "data_dir", tmp_path / "env", tmp_path / "cache", tmp_path / "system")
    monkeypatch.setattr(locate, "cache_dir", lambda: r.cache)
    monkeypatch.setattr(locate, "SYSTEM_DATASETS_DIR", r.system)
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # belt and braces for platformdirs
    clear_memo()
    yield r
    clear_memo()


def _fake_idx_files(folder: Path, *, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four standard files of a tiny MNIST-like dataset into ``folder``; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gzip=True)
    return arrays


def _fake_spec(folder: Path, *, name: str = "mnist", mirrors: tuple[str, ...] = (), n_train: int = 20,
              n_test: int = 10) -> mnist.IdxDatasetSpec:
    """The registered spec of ``name`` with the digests and sizes of the fake files in ``folder``."""
    base = mnist.SPECS[name]

    def f(file: mnist.IdxFile) -> mnist.IdxFile:
        return mnist.IdxFile(file.filename, (sha256_file(folder / file.filename),))

    return dataclasses.replace(
        base,
        train_images=f(base.train_images), train_labels=f(base.train_labels),
        test_images=f(base.test_images), test_labels=f(base.test_labels),
        mirrors=mirrors, num_train=n_train, num_test=n_test,
    )


@pytest.fixture
def fake_idx_files():
    """``fake_idx_files(folder, n_train=20, n_test=10, seed=0)`` writes a tiny MNIST-like dataset."""
    return _fake_idx_files


@pytest.fixture
def fake_spec():
    """``fake_spec(folder, name="mnist", mirrors=(), ...)``: a spec matching the fake files in ``folder``."""
    return _fake_spec


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served on 127.0.0.1 by ``http.server``; yields ``(folder, base_url)``."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- the user's own files, small and learnable: class c has its mean at +c on feature c % d ---------------


class UserFiles:
    """Writers of tiny datasets in every file format ``--dataset KIND:PATH`` reads."""

    @staticmethod
    def arrays(n: int = 90, d: int = 4, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = np.arange(n) % classes
        x = rng.normal(size=(n, d)).astype(np.float32)
        x[np.arange(n), y % d] += 3.0
        return x, y

    @classmethod
    def csv(cls, path: Path, n: int = 90, *, label: str = "label", names: tuple[str, ...] = ("ant", "bee", "cat")) -> Path:
        x, y = cls.arrays(n, classes=len(names))
        lines = [",".join([f"f{i}" for i in range(x.shape[1])] + [label])]
        lines += [",".join(f"{v:.5f}" for v in row) + f",{names[c]}" for row, c in zip(x, y)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        return path

    @classmethod
    def parquet(cls, path: Path, n: int = 90) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        x, y = cls.arrays(n)
        cols = {f"f{i}": x[:, i] for i in range(x.shape[1])}
        pq.write_table(pa.table({**cols, "label": y}), path)
        return path

    @classmethod
    def npz(cls, path: Path, n: int = 90, *, split: bool = False) -> Path:
        x, y = cls.arrays(n)
        if split:
            np.savez(path, x_train=x[: n // 2], y_train=y[: n // 2], x_test=x[n // 2 :], y_test=y[n // 2 :],
                     class_names=np.array(["a", "b", "c"]))
        else:
            np.savez(path, x=x, y=y)
        return path

    @staticmethod
    def image_folder(root: Path, *, per_class: tuple[int, int] = (6, 2), size: tuple[int, int] = (12, 10),
                     mode: str = "RGB", classes: tuple[str, ...] = ("cat", "dog")) -> Path:
        from PIL import Image

        rng = np.random.default_rng(0)
        for split, k in zip(("train", "test"), per_class):
            for ci, c in enumerate(classes):
                folder = root / split / c
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(k):
                    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
                    arr = np.clip(rng.normal(60 + 120 * ci, 20, shape), 0, 255).astype(np.uint8)
                    Image.fromarray(arr, mode).save(folder / f"{i}.png")
        return root

    @staticmethod
    def idx_folder(folder: Path, *, n_train: int = 60, n_test: int = 30, classes: int = 3, gzip: bool = True,
                   names: tuple[str, str, str, str] = ("train-images", "train-labels", "t10k-images", "t10k-labels")) -> Path:
        rng = np.random.default_rng(0)
        folder.mkdir(parents=True, exist_ok=True)
        ext = ".gz" if gzip else ""
        for (img, lab), n in zip(((names[0], names[1]), (names[2], names[3])), (n_train, n_test)):
            y = (np.arange(n) % classes).astype(np.uint8)
            x = np.clip(rng.normal(80, 30, (n, 8, 8)) + 40 * y[:, None, None], 0, 255).astype(np.uint8)
            write_idx(folder / f"{img}-idx3-ubyte{ext}", x)
            write_idx(folder / f"{lab}-idx1-ubyte{ext}", y)
        return folder


@pytest.fixture
def user_files() -> type[UserFiles]:
    """:class:`UserFiles`: ``user_files.csv(path)``, ``.npz(path)``, ``.image_folder(root)``, ``.idx_folder(dir)``."""
    return UserFiles
