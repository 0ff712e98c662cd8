"""MNIST-1D and digits loaders, the registry (names, memo, status) and ArrayDataset's checks."""

from __future__ import annotations

import random
import urllib.request

import numpy as np
import pytest
import torch

from dropkit.data import (
    ArrayDataset,
    DatasetStatus,
    clear_memo,
    dataset_names,
    dataset_status,
    load_dataset,
)
from dropkit.data import mnist1d as mnist1d_module


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to reach the network fail the test."""
    import requests

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_names() -> None:
    assert dataset_names() == ["mnist1d", "digits", "fashion-mnist", "mnist"]


@pytest.mark.parametrize("where", [load_dataset, dataset_status])
def test_unknown_name(where) -> None:
    fn = where.__name__
    with pytest.raises(ValueError, match=rf"{fn}: name must be one of 'mnist1d', 'digits', 'fashion-mnist', "
                       r"'mnist', 'espeak-digits', 'espeak-digits-tiny', 'fsdd', 'speech-commands', "
                       r"got 'fashion-mnsit' \(did you mean 'fashion-mnist'\?\)"):
        where("fashion-mnsit")
    with pytest.raises(ValueError, match=r"got 'cifar10'$"):
        where("cifar10")
    with pytest.raises(TypeError, match=rf"{fn}: name must be a str, got int"):
        where(3)


def test_download_flag_must_be_bool() -> None:
    with pytest.raises(TypeError, match="load_dataset: download must be a bool, got str"):
        load_dataset("digits", download="no")  # type: ignore[arg-type]


def test_mnist1d_generated_offline_and_cached(roots, no_network, monkeypatch) -> None:
    py_state, np_state = random.getstate(), np.random.get_state()
    assert dataset_status("mnist1d").found is False

    ds = load_dataset("mnist1d")
    assert (ds.name, ds.input_shape, ds.num_classes) == ("mnist1d", (40,), 10)
    assert ds.train_x.shape == (4000, 40) and ds.test_x.shape == (1000, 40)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert torch.isfinite(ds.train_x).all()
    assert ds.train_y.min() == 0 and ds.train_y.max() == 9 and ds.test_y.unique().numel() == 10
    assert ds.class_names == tuple("0123456789")
    # The generator standardises the whole set: mean 0, std 1 over train and test together.
    everything = torch.cat([ds.train_x, ds.test_x]).double()
    assert abs(everything.mean().item()) < 1e-4 and abs(everything.std().item() - 1) < 1e-3
    # Generating must not disturb the caller's random streams.
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]

    cached = list((roots.cache / "mnist1d").iterdir())
    assert [p.name for p in cached] == [mnist1d_module.cache_file_name(mnist1d_module.generator_args())]
    status = dataset_status("mnist1d")
    assert (status.found, status.location, status.checksum) == (True, str(cached[0]), "not checked")
    assert (status.num_train, status.num_test, status.size_bytes) == (4000, 1000, cached[0].stat().st_size)

    # A fresh process (memo cleared) reads the cache file instead of regenerating: same values.
    clear_memo()

    def no_generation(args: object) -> None:
        raise AssertionError("regenerated although the cache file exists")

    monkeypatch.setattr(mnist1d_module, "_generate", no_generation)
    again = load_dataset("mnist1d")
    assert again is not ds and again.source == str(cached[0])
    assert torch.equal(again.train_x, ds.train_x) and torch.equal(again.test_y, ds.test_y)


def test_mnist1d_corrupt_cache_is_regenerated(roots, no_network, monkeypatch) -> None:
    small = {**mnist1d_module.generator_args(), "num_samples": 500}  # 10x fewer samples: faster
    monkeypatch.setattr(mnist1d_module, "generator_args", lambda: dict(small))
    name = mnist1d_module.cache_file_name(small)
    path = roots.cache / "mnist1d" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    ds = load_dataset("mnist1d")
    assert ds.train_x.shape == (400, 40) and ds.test_x.shape == (100, 40)
    assert path.read_bytes()[:2] == b"PK"  # replaced by a good npz
    assert name != mnist1d_module.cache_file_name({**small, "num_samples": 5000})  # arguments are in the name


def test_digits() -> None:
    ds = load_dataset("digits")
    assert (ds.name, ds.input_shape, ds.num_classes) == ("digits", (1, 8, 8), 10)
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.train_x.dtype == torch.float32 and ds.test_y.dtype == torch.int64
    assert ds.train_x.min() == 0 and ds.train_x.max() == 1
    # The 0-16 pixel levels map onto multiples of 1/16.
    assert torch.equal(ds.train_x * 16, (ds.train_x * 16).round())
    # Stratified: each class's share of the test split is within one sample of its share overall.
    all_y = torch.cat([ds.train_y, ds.test_y])
    expected = torch.bincount(all_y, minlength=10).double() * 360 / 1797
    assert (torch.bincount(ds.test_y, minlength=10).double() - expected).abs().max() <= 1
    # Fixed split: the same on every call, memo or not.
    clear_memo()
    again = load_dataset("digits")
    assert again is not ds and torch.equal(again.test_x, ds.test_x) and torch.equal(again.train_y, ds.train_y)
    status = dataset_status("digits")
    assert (status.found, status.num_train, status.num_test, status.checksum) == (True, 1437, 360, "not checked")


def test_memo_returns_same_object() -> None:
    a = load_dataset("digits")
    assert load_dataset("Digits") is a  # names are case- and underscore-insensitive
    clear_memo()
    assert load_dataset("digits") is not a


def test_status_record_as_dict() -> None:
    d = dataset_status("digits").as_dict()
    assert set(d) == {f for f in DatasetStatus.__dataclass_fields__}
    assert isinstance(d["searched"], list) and d["checksum"] == "not checked"


def _tiny(**overrides: object) -> ArrayDataset:
    kwargs: dict[str, object] = dict(
        name="toy", train_x=torch.zeros(4, 3), train_y=torch.tensor([0, 1, 0, 1]), test_x=torch.zeros(2, 3),
        test_y=torch.tensor([1, 0]), num_classes=2, input_shape=(3,), class_names=("a", "b"), source="t",
    )
    kwargs.update(overrides)
    return ArrayDataset(**kwargs)  # type: ignore[arg-type]


def test_array_dataset_checks() -> None:
    ds = _tiny()
    x, y = ds.train[1]
    assert torch.equal(x, ds.train_x[1]) and int(y) == 1 and len(ds.test) == 2
    assert "train=4, test=2" in repr(ds)
    with pytest.raises(TypeError, match=r"train_x must be float32, got torch.float64"):
        _tiny(train_x=torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"test_y must be int64, got torch.int32"):
        _tiny(test_y=torch.tensor([1, 0], dtype=torch.int32))
    with pytest.raises(ValueError, match=r"train_x must have shape \(N, \*\(3,\)\), got \(4, 2\)"):
        _tiny(train_x=torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"train_y must have shape \(4,\) to match train_x, got \(3,\)"):
        _tiny(train_y=torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"test_y must lie in \[0, 1\], got \[0, 2\]"):
        _tiny(test_y=torch.tensor([2, 0]))
    with pytest.raises(ValueError, match=r"class_names must have num_classes=2 entries, got 3"):
        _tiny(class_names=("a", "b", "c"))
