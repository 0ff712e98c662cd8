"""The validation split: held out from the training data (seeded), the best step chosen on it, and the test
accuracy reported at that step (before, best step and "best test acc" were chosen on the test set)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from dropkit.data import load_dataset
from dropkit.train.config import Config
from dropkit.train.run_dir import read_config, read_metrics
from dropkit.train.trainer import train_run
from dropkit.train.validation import split_train_val

TINY = dict(dataset="digits", hidden=[16], p=0.3, steps=60, eval_every=10, progress=False, threads=1)


def test_the_split_is_seeded_disjoint_and_complete() -> None:
    train, val = split_train_val(1000, 0.1, seed=3)
    assert len(val) == 100 and len(train) == 900
    assert set(train.tolist()).isdisjoint(val.tolist()) and len(set(train.tolist()) | set(val.tolist())) == 1000
    again_train, again_val = split_train_val(1000, 0.1, seed=3)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)  # the same after a resume, on every rank
    assert not torch.equal(val, split_train_val(1000, 0.1, seed=4)[1])
    assert len(split_train_val(1000, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\), got 1.0"):
        split_train_val(10, 1.0, seed=0)


def test_best_step_is_chosen_on_validation_and_test_is_reported_there(tmp_path: Path) -> None:
    summary = train_run(Config(**TINY, val_fraction=0.2), tmp_path / "r")
    rows = read_metrics(tmp_path / "r")
    assert all(r["val_acc"] is not None and r["val_loss"] is not None for r in rows)
    chosen = max(rows, key=lambda r: r["val_acc"])  # the first of equal values
    assert summary["selected_on"] == "val_acc"
    assert (summary["best_step"], summary["best_val_acc"]) == (chosen["step"], chosen["val_acc"])
    assert summary["best_test_acc"] == chosen["test_acc"]  # the test accuracy at that step, not the best one
    # Training used only the other 80 %: an epoch has ceil(n_train / batch) steps of the smaller set.
    n_train = len(load_dataset("digits").train_x)
    n_fit = n_train - round(0.2 * n_train)
    assert rows[1]["epoch"] == pytest.approx(10 / math.ceil(n_fit / 100))


def test_without_a_validation_split_the_best_step_is_chosen_on_test(tmp_path: Path) -> None:
    summary = train_run(Config(**TINY, val_fraction=0.0), tmp_path / "r")
    rows = read_metrics(tmp_path / "r")
    assert all(r["val_acc"] is None for r in rows)
    assert summary["selected_on"] == "test_acc" and summary["best_test_acc"] == max(r["test_acc"] for r in rows)
    n_train = len(load_dataset("digits").train_x)
    assert rows[1]["epoch"] == pytest.approx(10 / math.ceil(n_train / 100))


def test_a_run_from_before_the_split_keeps_training_on_all_its_data(tmp_path: Path) -> None:
    assert train_run(Config(**TINY, val_fraction=0.0), tmp_path / "r")["status"] == "completed"
    saved = yaml.safe_load((tmp_path / "r/config.yaml").read_text())
    del saved["val_fraction"]  # config.yaml as runs wrote it before val_fraction existed
    (tmp_path / "r/config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    assert read_config(tmp_path / "r").val_fraction == 0.0


def test_val_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match=r"config: val_fraction must be in \[0, 1\), got 1.0"):
        Config(val_fraction=1.0)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got -0.1"):
        Config(val_fraction=-0.1)


def test_the_summary_names_what_it_chose_on(tmp_path: Path) -> None:
    train_run(Config(**TINY), tmp_path / "r")  # the default: a 10 % validation split
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["selected_on"] == "val_acc" and 0 <= summary["best_val_acc"] <= 1
