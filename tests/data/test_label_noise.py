"""The label-noise experiment of docs/your-data.md end to end on tiny Fashion-MNIST-named files:
examples/label_noise.py writes the noisy copy, ``dropkit compare --dataset idx:FOLDER`` trains on it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from dropkit.cli.main import main
from dropkit.data import read_idx

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "label_noise.py"


@pytest.fixture(scope="module")
def label_noise():
    spec = importlib.util.spec_from_file_location("label_noise_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_flips_the_stated_fraction_always_to_another_class(label_noise) -> None:
    y = np.arange(1000) % 10
    noisy = label_noise.flip_labels(y.astype(np.uint8), 0.4, 10, seed=3)
    assert int((noisy != y).sum()) == 400 and noisy.max() <= 9
    assert np.array_equal(noisy, label_noise.flip_labels(y.astype(np.uint8), 0.4, 10, seed=3))
    with pytest.raises(ValueError, match="fraction must be in \\[0, 1\\], got 1.5"):
        label_noise.flip_labels(y, 1.5, 10, seed=0)


def test_noisy_copy_compares_through_idx(label_noise, roots, fake_idx_files, tmp_path: Path, capsys) -> None:
    source = tmp_path / "fashion"
    fake_idx_files(source, n_train=50, n_test=20)
    out = tmp_path / "noisy"
    assert label_noise.main(["--source", str(source), "--out", str(out), "--fraction", "0.4"]) == 0
    clean, noisy = read_idx(source / "train-labels-idx1-ubyte.gz"), read_idx(out / "train-labels-idx1-ubyte.gz")
    assert int((clean != noisy).sum()) == 20
    assert np.array_equal(read_idx(out / "t10k-labels-idx1-ubyte.gz"), read_idx(source / "t10k-labels-idx1-ubyte.gz"))
    assert main(["compare", "--dataset", f"idx:{out}", "--hidden", "16", "--p", "0.5", "--steps", "10",
                 "--eval-every", "5", "--threads", "1", "--no-progress", "--out", str(tmp_path / "c")]) == 0
    report = json.loads((tmp_path / "c/compare.json").read_text())
    assert report["dataset"] == f"idx:{out}" and set(report["results"]) == {"no dropout", "dropout p=0.5"}
    env = json.loads((tmp_path / "c/p0.5/env.json").read_text())["data"]
    assert env["class_names"][0] == "T-shirt/top" and env["source"] == str(out)
