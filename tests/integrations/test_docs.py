"""docs/integrations.md: every python block runs as written (temp folders under tmp_path) and prints what
the page says it prints."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("lightning")
pytest.importorskip("transformers")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def run_block(index: int, tmp_path, monkeypatch) -> dict:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(BLOCKS[index], f"docs/integrations.md python block {index}", "exec"), namespace)
    return namespace


def test_page_has_one_example_per_library() -> None:
    assert len(BLOCKS) == 2
    assert "dropkit.integrations.lightning" in BLOCKS[0] and "dropkit.integrations.transformers" in BLOCKS[1]


def test_lightning_example(tmp_path, monkeypatch, capsys) -> None:
    ns = run_block(0, tmp_path, monkeypatch)
    printed = capsys.readouterr().out.splitlines()
    history = ns["schedule"].history
    steps = len(history)
    assert steps == 16 and [s for s, _ in history] == list(range(16))
    cutoff = round(0.2 * steps)
    assert [r for _, r in history] == [0.3] * cutoff + [0.0] * (steps - cutoff)
    assert printed[1] == "{'net.3.p': 0.0}"  # the rates read back right after fit
    assert ns["schedule"].rates == {"net.3.p": 0.3}  # the example then sets the rate for MC dropout
    preds = ns["preds"]
    assert len(preds) == 2 and preds[0].samples_used == 30 and tuple(preds[0].mean.shape) == (32, 3)
    assert float(preds[0].mutual_information.mean()) > 0
    assert list(tmp_path.glob("*/lightning_logs"))  # the example's logger wrote under tmp_path


def test_transformers_example(tmp_path, monkeypatch) -> None:
    ns = run_block(1, tmp_path, monkeypatch)
    rates = [r for _, r in ns["schedule"].history]
    assert rates == pytest.approx([0.2 * t / 8 for t in range(8)])
    assert ns["model"].config.attention_probs_dropout_prob == pytest.approx(0.175)
    metrics = ns["metrics"]
    assert metrics["mc_samples"] == 20 and metrics["mc_mean_mutual_information"] > 0
    assert {"mc_nll", "mc_ece", "mc_deterministic_nll", "mc_deterministic_ece"} <= set(metrics)
