"""Datasets from the user's files: each format decodes to the right arrays, the split and the
standardisation follow their definitions, the cache answers a second load, and each bad file gets one
error naming the file and leaves no cache entry."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dropkit.data import file_cache, load_file_dataset, parse_dataset_spec
from dropkit.data.files import canonical_dataset, is_file_spec
from dropkit.data.idx import write_idx
from dropkit.data.split import stratified_split


def _cache_files(roots) -> list[Path]:
    folder = roots.cache / "files"
    return sorted(folder.glob("*")) if folder.is_dir() else []


def test_kinds_are_sniffed_where_unambiguous_and_named_otherwise(tmp_path: Path, user_files) -> None:
    assert parse_dataset_spec(str(user_files.csv(tmp_path / "t.csv"))).kind == "csv"
    assert parse_dataset_spec(str(user_files.npz(tmp_path / "d.npz"))).kind == "npz"
    assert parse_dataset_spec(str(user_files.parquet(tmp_path / "p.parquet"))).kind == "parquet"
    assert parse_dataset_spec(str(user_files.idx_folder(tmp_path / "idx"))).kind == "idx"
    assert parse_dataset_spec(str(user_files.image_folder(tmp_path / "img"))).kind == "imagefolder"
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"cannot tell the format of .*data.bin.*KIND:PATH"):
        parse_dataset_spec(str(tmp_path / "data.bin"))
    with pytest.raises(ValueError, match=r"unknown file kind 'csvv'.*did you mean 'csv'"):
        parse_dataset_spec("csvv:whatever.csv")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        parse_dataset_spec("npz:" + str(tmp_path / "missing.npz"))
    assert not is_file_spec("fashion-mnist") and is_file_spec("./x") and is_file_spec("idx:x")
    assert canonical_dataset(str(tmp_path / "t.csv")) == f"csv:{(tmp_path / 't.csv').resolve()}"
    from dropkit.data import load_dataset

    assert load_dataset(str(tmp_path / "t.csv")).name == canonical_dataset(str(tmp_path / "t.csv"))


def test_csv_labels_by_name_features_standardised_with_training_statistics(tmp_path: Path, user_files) -> None:
    ds = load_file_dataset(f"csv:{user_files.csv(tmp_path / 't.csv', label='species')}", label_column="species")
    assert ds.class_names == ("ant", "bee", "cat") and ds.num_classes == 3
    assert (ds.num_train, ds.num_test) == (72, 18)  # round(0.2 * 30) = 6 of each class held out
    torch.testing.assert_close(ds.train_x.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.train_x.std(0, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)
    assert ds.test_x.mean(0).abs().max() > 1e-3  # test statistics are not used


def test_split_is_stratified_seeded_and_disjoint() -> None:
    y = np.repeat([0, 1, 2], [10, 20, 30])
    tr, te = stratified_split(y, 0.1, seed=3)
    assert np.intersect1d(tr, te).size == 0 and len(tr) + len(te) == len(y)
    assert np.bincount(y[te]).tolist() == [1, 2, 3]
    assert np.array_equal(te, stratified_split(y, 0.1, seed=3)[1])
    assert not np.array_equal(te, stratified_split(y, 0.1, seed=4)[1])
    with pytest.raises(ValueError, match="test_split must be in \\(0, 1\\), got 1.5"):
        stratified_split(y, 1.5, 0)


def test_npz_parquet_image_folder_and_idx_decode_to_their_arrays(tmp_path: Path, user_files) -> None:
    x, y = user_files.arrays()
    ds = load_file_dataset(f"npz:{user_files.npz(tmp_path / 's.npz', split=True)}")
    torch.testing.assert_close(ds.train_x, torch.from_numpy(x[:45]))
    assert ds.class_names == ("a", "b", "c") and ds.test_y.tolist() == y[45:].tolist()
    pq = load_file_dataset(str(user_files.parquet(tmp_path / "p.parquet")))
    assert pq.num_train + pq.num_test == 90 and pq.input_shape == (4,)
    img = load_file_dataset(str(user_files.image_folder(tmp_path / "img")))
    assert img.input_shape == (3, 10, 12) and img.class_names == ("cat", "dog") and (img.num_train, img.num_test) == (12, 4)
    assert 0 <= float(img.train_x.min()) and float(img.train_x.max()) <= 1
    small = load_file_dataset(f"imagefolder:{tmp_path / 'img'}", image_size=[5])
    assert small.input_shape == (3, 5, 5)
    idx = load_file_dataset(f"idx:{user_files.idx_folder(tmp_path / 'idx', gzip=False)}")
    assert idx.input_shape == (1, 8, 8) and (idx.num_train, idx.num_test) == (60, 30) and idx.num_classes == 3


def test_idx_pairs_of_any_name_with_class_names_and_a_ratio_split(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    write_idx(folder / "pictures.idx", np.arange(40 * 4, dtype=np.uint8).reshape(40, 2, 2))
    write_idx(folder / "answers.idx", (np.arange(40) % 2).astype(np.uint8), gzip=True)
    (folder / "classes.txt").write_text("even\nodd\n")
    ds = load_file_dataset(f"idx:{folder}", test_split=0.25, split_seed=1)
    assert ds.class_names == ("even", "odd") and (ds.num_train, ds.num_test) == (30, 10)


def test_second_load_reads_the_cache_and_a_changed_file_is_decoded_again(tmp_path: Path, user_files, roots) -> None:
    path = user_files.npz(tmp_path / "d.npz")
    first = load_file_dataset(str(path))
    assert first.details["cache"] == "written" and len(_cache_files(roots)) == 1
    second = load_file_dataset(str(path))
    assert second.details["cache"] == "hit" and second.details["cache_file"] == first.details["cache_file"]
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    other_seed = load_file_dataset(str(path), split_seed=1)
    assert other_seed.details["cache"] == "written" and len(_cache_files(roots)) == 2
    user_files.npz(path, n=60)  # the file changes: its old entries go, a new one is written
    os.utime(path, ns=(1, 1))
    third = load_file_dataset(str(path))
    assert third.details["cache"] == "written" and third.num_train + third.num_test == 60
    assert len(_cache_files(roots)) == 1
    assert [e["path"] for e in file_cache.cached_entries()] == [str(path.resolve())]


def _truncated_idx(tmp: Path, files) -> Path:
    folder = files.idx_folder(tmp / "idx", gzip=False)
    p = folder / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-10])
    return folder


def _wrong_magic(tmp: Path, files) -> Path:
    folder = files.idx_folder(tmp / "idx", gzip=False)
    p = folder / "t10k-labels-idx1-ubyte"
    p.write_bytes(b"\x12\x34" + p.read_bytes()[2:])
    return folder


def _label_out_of_range(tmp: Path, files) -> Path:
    folder = files.idx_folder(tmp / "idx")
    (folder / "classes.txt").write_text("a\nb\n")  # labels reach 2
    return folder


def _mismatched_counts(tmp: Path, files) -> Path:
    folder = files.idx_folder(tmp / "idx")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(59, dtype=np.uint8))
    return folder


def _nan_feature(tmp: Path, files) -> Path:
    p = files.csv(tmp / "t.csv")
    lines = p.read_text().splitlines()
    lines[5] = "nan," + lines[5].split(",", 1)[1]
    p.write_text("\n".join(lines) + "\n")
    return p


def _empty_class(tmp: Path, files) -> Path:
    root = files.image_folder(tmp / "img")
    (root / "train" / "emu").mkdir()
    return root


def _missing_label_column(tmp: Path, files) -> Path:
    return files.csv(tmp / "t.csv", label="kind")


def _truncated_gzip(tmp: Path, files) -> Path:
    folder = files.idx_folder(tmp / "idx")
    p = folder / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return folder


def _npz_count_mismatch(tmp: Path, files) -> Path:
    np.savez(tmp / "d.npz", x=np.zeros((5, 2), np.float32), y=np.zeros(4, np.int64))
    return tmp / "d.npz"


def _bad_image(tmp: Path, files) -> Path:
    root = files.image_folder(tmp / "img")
    (root / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


BAD_FILES = {
    "truncated": (_truncated_idx, r"train-images-idx3-ubyte'.*truncated file"),
    "wrong magic": (_wrong_magic, r"t10k-labels-idx1-ubyte'.*magic number"),
    "label out of range": (_label_out_of_range, r"classes.txt'.*names 2 classes but the labels reach 2"),
    "mismatched counts": (_mismatched_counts, r"train-images-idx3-ubyte.gz' holds 60 samples but .*train-labels-idx1-ubyte.gz' holds 59"),
    "nan feature": (_nan_feature, r"t.csv': row 5 \(line 6\), column 'f0' is missing or not finite"),
    "empty class folder": (_empty_class, r"class folder '.*train/emu' holds no images"),
    "missing label column": (_missing_label_column, r"t.csv' has no label column: none of label, target, class, y"),
    "truncated gzip": (_truncated_gzip, r"train-images-idx3-ubyte.gz'.*(truncated|corrupt)"),
    "npz counts": (_npz_count_mismatch, r"d.npz' x holds 5 samples but y holds 4 labels"),
    "undecodable image": (_bad_image, r"broken.png'"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_each_bad_file_gets_one_error_naming_it_and_leaves_no_cache_entry(case: str, tmp_path: Path, user_files, roots) -> None:
    make, message = BAD_FILES[case]
    path = make(tmp_path, user_files)
    with pytest.raises(ValueError, match=message):
        load_file_dataset(str(path))
    assert _cache_files(roots) == []


def test_labels_must_be_integers_and_test_labels_known(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a,label\n1,0.5\n2,1\n")
    with pytest.raises(ValueError, match=r"f.csv': label column 'label' entry 0 is 0.5, labels must be integers"):
        load_file_dataset(str(tmp_path / "f.csv"))
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "train.csv").write_text("a,label\n1,x\n2,y\n")
    (folder / "test.csv").write_text("a,label\n1,x\n2,z\n")
    with pytest.raises(ValueError, match=r"test.csv': row 2 \(line 3\) has label 'z', which the training table does not have"):
        load_file_dataset(f"csv:{folder}")
    gz = tmp_path / "g"
    gz.mkdir()
    (gz / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not idx at all"))
    with pytest.raises(ValueError, match="magic number"):
        load_file_dataset(f"idx:{gz}")


# --- through the CLI: train, compare, sweep (local and Ray), report ------------------------------------

TINY = ["--hidden", "16", "--steps", "30", "--eval-every", "15", "--threads", "1", "--no-progress"]


def _specs(tmp: Path, files) -> dict[str, str]:
    return {
        "csv": f"csv:{files.csv(tmp / 'table.csv')}",
        "npz": str(files.npz(tmp / 'arrays.npz')),
        "imagefolder": f"imagefolder:{files.image_folder(tmp / 'pictures')}",
    }


def test_train_compare_and_report_on_each_format(tmp_path: Path, user_files, capsys) -> None:
    import json

    from dropkit.cli.main import main
    from dropkit.train.run_dir import read_config

    for kind, spec in _specs(tmp_path, user_files).items():
        out = tmp_path / "runs" / kind
        assert main(["train", "--dataset", spec, *TINY, "--out", str(out / "train")]) == 0, capsys.readouterr().err
        cfg = read_config(out / "train")
        assert cfg.dataset.startswith(f"{kind}:/") and Path(cfg.dataset.split(":", 1)[1]).is_absolute()
        env = json.loads((out / "train/env.json").read_text())["data"]
        assert env["cache"] == "written" and env["kind"] == kind
        # a second run reads the cache, and env.json says so
        assert main(["train", "--dataset", spec, *TINY, "--out", str(out / "again")]) == 0
        assert json.loads((out / "again/env.json").read_text())["data"]["cache"] == "hit"
        assert main(["train", "--resume", "--out", str(out / "train")]) == 0
        assert main(["compare", "--dataset", spec, *TINY, "--p", "0.5", "--out", str(out / "compare")]) == 0
        report = json.loads((out / "compare/compare.json").read_text())
        assert report["dataset"] == cfg.dataset and set(report["results"]) == {"no dropout", "dropout p=0.5"}
        if kind == "imagefolder":  # one report is enough here: the sweep test reports on every format
            assert main(["report", str(out / "compare")]) == 0
            page = (out / "compare/report/index.html").read_text()
            assert "dog" in page and "imagefolder" in page  # class names and source, from env.json
    capsys.readouterr()
    assert main(["datasets", "--json"]) == 0
    listed = {r["name"] for r in json.loads(capsys.readouterr().out) if r.get("cached")}
    assert {s if ":" in s.split("/", 1)[0] else f"npz:{Path(s).resolve()}" for s in _specs(tmp_path, user_files).values()} <= listed


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_sweep_over_file_datasets_and_its_report(executor: str, tmp_path: Path, user_files) -> None:
    import json

    from dropkit.cli.main import main
    from dropkit.sweep import read_table

    if executor == "ray":
        pytest.importorskip("ray")
    specs = _specs(tmp_path, user_files)
    datasets = list(specs.values())
    grid = {"dataset": datasets, "p": [0.0, 0.5]} if executor == "local" else {"dataset": datasets, "p": [0.5]}
    sweep = {"name": "mine", "base": {"hidden": [16], "steps": 20, "eval_every": 10}, "grid": grid, "executor": executor}
    (tmp_path / "s.yaml").write_text(json.dumps(sweep))
    out = tmp_path / "sweep"
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(out), "--workers", "2", "--report"]) == 0
    rows = read_table(out / "results.parquet")
    assert len(rows) == len(datasets) * len(grid["p"]) and all(r["status"] == "completed" for r in rows)
    assert {r["dataset"] for r in rows} == {d if d.split(":", 1)[0] in ("csv", "imagefolder") else f"npz:{Path(d).resolve()}" for d in datasets}
    assert (out / "report/index.html").is_file()


@pytest.mark.parametrize("case", ["truncated", "mismatched counts", "nan feature", "empty class folder", "missing label column"])
def test_a_bad_file_through_the_cli_leaves_no_run_folder_and_no_cache_entry(case: str, tmp_path: Path, user_files, roots,
                                                                            monkeypatch, capsys) -> None:
    from dropkit.cli.main import main

    make, message = BAD_FILES[case]
    path = make(tmp_path, user_files)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for cmd in ("train", "compare"):
        assert main([cmd, "--dataset", str(path), *TINY, "--p", "0.5"]) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and __import__("re").search(message, err), err
    assert main(["train", "--dataset", str(path), *TINY, "--out", str(work / "named")]) == 2
    assert list(work.iterdir()) in ([], [work / "runs"]) and not any((work / "runs").glob("*")) if (work / "runs").exists() else True
    assert not (work / "named").exists()
    assert _cache_files(roots) == []


def test_idx_folder_skips_other_files_but_not_a_bad_idx_named_one(tmp_path: Path, user_files) -> None:
    folder = user_files.idx_folder(tmp_path / "idx")
    (folder / "README").write_text("my relabelled copy\n")
    assert load_file_dataset(f"idx:{folder}").num_train == 60
    (folder / "extra-idx1-ubyte").write_text("not idx\n")
    with pytest.raises(ValueError, match=r"extra-idx1-ubyte'.*magic number"):
        load_file_dataset(f"idx:{folder}")
