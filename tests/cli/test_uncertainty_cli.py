"""``dropkit uncertainty``: files and keys written, reproducibility, MC vs deterministic, and every bad input
answered with exit status 2 and a message that names the problem."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dropkit.cli.main import main

TRAIN = ["--steps", "40", "--eval-every", "40", "--batch-size", "64", "--threads", "1", "--no-progress"]


def train(out: Path, *extra: str) -> Path:
    rc = main(["train", "--dataset", "digits", "--model", "mlp", "--hidden", "32", "--p", "0.3", *TRAIN, "--out", str(out), *extra])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tmp_path_factory.mktemp("unc") / "digits")


def uncertainty(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["uncertainty", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_writes_metrics_and_plots(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "u"
    rc, text, _ = uncertainty(capsys, str(run_dir), "--samples", "6", "--noise", "0.2", "0.4", "--rotate", "20",
                              "--ood", "noise", "--batch-size", "100", "--out", str(out))
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"metrics.json", "reliability.png", "ood_entropy.png", "shift.png"}
    doc = json.loads((out / "metrics.json").read_text())
    assert {"run", "dataset", "model", "samples", "seed", "n_test", "conditions", "ood", "skipped", "reliability",
            "plots", "time_s", "env"} <= set(doc)
    assert doc["samples"] == 6 and doc["n_test"] == 360 and doc["dataset"] == "digits"
    assert [(c["shift"], c["level"]) for c in doc["conditions"]] == [("none", 0), ("noise", 0.2), ("noise", 0.4), ("rotate", 20)]
    for c in doc["conditions"]:
        for mode in ("deterministic", "mc"):
            s = c[mode]
            assert 0 <= s["accuracy"] <= 1 and 0 <= s["ece"] <= 1 and 0 <= s["brier"] <= 2
            assert 0 < s["nll"] < 10 and 0 < s["mean_entropy"] <= math.log(10) + 1e-9
        assert c["mc"]["mean_mutual_information"] > 0  # dropout 0.3 makes the passes disagree
        assert "mean_mutual_information" not in c["deterministic"]
    clean = doc["conditions"][0]
    assert clean["mc"]["nll"] != clean["deterministic"]["nll"]
    # 360 rows in the reliability bins, and the diagram's ECE is the condition's ECE
    for mode in ("deterministic", "mc"):
        assert sum(doc["reliability"][mode]["count"]) == 360
        assert doc["reliability"][mode]["ece"] == pytest.approx(clean[mode]["ece"])
    ood = doc["ood"]
    assert ood["dataset"] == "noise" and ood["n_in"] == ood["n_out"] == 360
    for key in ("auroc", "aupr_in", "aupr_out"):
        assert 0 <= ood["mc"]["entropy"][key] <= 1 and 0 <= ood["mc"]["mutual_information"][key] <= 1
    assert "clean" in text and "noise 0.4" in text and "rotate 20" in text and "AUROC" in text


def test_default_location_and_reproducible_with_a_seed(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = []
    for _ in range(2):
        rc, _, _ = uncertainty(capsys, str(run_dir), "--samples", "3", "--noise", "0.3", "--ood", "none", "--seed", "5")
        assert rc == 0
        doc = json.loads((run_dir / "uncertainty" / "metrics.json").read_text())
        assert doc["ood"] is None and "ood_entropy.png" not in doc["plots"]
        docs.append([{m: {k: v for k, v in c[m].items() if k != "seconds"} for m in ("deterministic", "mc")}
                     for c in doc["conditions"]])
    assert docs[0] == docs[1]
    rc, _, _ = uncertainty(capsys, str(run_dir), "--samples", "3", "--noise", "0.3", "--ood", "none", "--seed", "6")
    doc = json.loads((run_dir / "uncertainty" / "metrics.json").read_text())
    assert doc["conditions"][0]["mc"]["nll"] != docs[0][0]["mc"]["nll"]
    assert doc["conditions"][0]["deterministic"]["nll"] == docs[0][0]["deterministic"]["nll"]


def test_one_sample_mc_is_a_single_stochastic_pass(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, _ = uncertainty(capsys, str(run_dir), "--samples", "1", "--ood", "none", "--out", str(tmp_path))
    assert rc == 0
    mc = json.loads((tmp_path / "metrics.json").read_text())["conditions"][0]["mc"]
    # T = 1: no disagreement to measure; per-pass entropies are float32, so zero up to float32 rounding
    assert mc["mean_mutual_information"] == pytest.approx(0, abs=1e-6)


def test_rotation_is_skipped_with_a_message_for_1d_signals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--dataset", "mnist1d", "--model", "mlp", "--hidden", "16", "--p", "0.2", *TRAIN, "--out", str(tmp_path / "r")])
    assert rc == 0
    rc, text, _ = uncertainty(capsys, str(tmp_path / "r"), "--samples", "2", "--rotate", "15", "--max-samples", "200")
    assert rc == 0
    doc = json.loads((tmp_path / "r" / "uncertainty" / "metrics.json").read_text())
    assert [c["shift"] for c in doc["conditions"]] == ["none"]
    assert "rotation skipped" in doc["skipped"][0] and "rotation skipped" in text
    assert doc["ood"]["dataset"] == "noise" and doc["n_test"] == 200


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--samples", "0"], "--samples must be >= 1, got 0"),
        (["--ood", "mnsit"], "did you mean 'mnist'"),
        (["--ood", "mnist1d"], "must have the run's input shape (1, 8, 8), got (40,)"),
        (["--ood", "digits"], "must differ from the run's dataset"),
        (["--noise", "-0.1"], "noise must be a finite number >= 0, got -0.1"),
    ],
)
def test_bad_arguments_exit_2(run_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    rc, _, err = uncertainty(capsys, str(run_dir), *argv)
    assert rc == 2
    assert "dropkit uncertainty: error:" in err and message in err


def test_not_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = uncertainty(capsys, str(tmp_path))
    assert rc == 2 and "is not a dropkit run folder (no config.yaml)" in err
    rc, _, err = uncertainty(capsys, str(tmp_path / "missing"))
    assert rc == 2 and "does not exist" in err


def test_model_without_dropout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = train(tmp_path / "p0", "--p", "0")
    rc, _, err = uncertainty(capsys, str(run), "--samples", "5")
    assert rc == 2 and "has no dropout" in err and "nothing to sample" in err
    assert not (run / "uncertainty").exists()
