"""Only keys that vary are swept keys: not other models' keys in an MLP compare, not the empty configs of a
sweep's pending trials (which made an interrupted sweep's report read "None on None" with every key swept)."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest

from dropkit.cli.compare import compare
from dropkit.report import build_report
from dropkit.report.sources import load_source
from dropkit.report.tables import varied_keys
from dropkit.sweep import parse_sweep
from dropkit.sweep.runner import write_tables
from dropkit.sweep.trial import run_trial
from dropkit.train.config import Config
from dropkit.train.model_keys import applies_to, keys_for_model
from dropkit.train.run_dir import write_json

pytestmark = pytest.mark.xdist_group("report")

TINY = dict(dataset="digits", hidden=[16], steps=20, eval_every=10, progress=False, threads=1)


def _overview(index_html: Path, key: str) -> str:
    text = index_html.read_text()
    m = re.search(rf"<th class=\"k\">{re.escape(key)}</th><td class=\"k\">(.*?)</td>", text)
    assert m, f"no {key!r} in the overview"
    return html_lib.unescape(m.group(1))


def test_model_keys_follow_the_config_sections() -> None:
    assert not applies_to("conv_p", "mlp") and applies_to("conv_p", "cnn")
    assert not applies_to("drop_path", "mlp") and applies_to("drop_path", "transformer")
    assert applies_to("p", "mlp") and applies_to("lr", "transformer")
    mlp = keys_for_model("mlp")
    assert "hidden" in mlp and not {"channels", "rnn_cell", "attn_p", "resid_p", "drop_path"} & set(mlp)


def test_an_mlp_compare_sweeps_only_p(tmp_path: Path) -> None:
    out = tmp_path / "c"
    compare(Config(**TINY, p=0.5), out)
    src = load_source(out)
    assert varied_keys(src.records, ["p"]) == ["p"]  # before: p, conv_p, attn_p, resid_p, drop_path
    page = build_report(out)
    assert _overview(page, "swept keys") == "p"
    assert "conv_p" not in page.read_text() and "drop_path" not in page.read_text()  # nor in the config table


def test_an_interrupted_sweep_report_names_its_model_and_only_the_swept_key(tmp_path: Path) -> None:
    spec = parse_sweep({"name": "half", "base": TINY, "grid": {"p": [0.1, 0.3, 0.5, 0.7]}})
    trials = spec.trials()
    out = tmp_path / "sweep"
    for t in trials[:2]:  # two trials ran, two never started (pending: no folder, no config)
        run_trial(t.values, str(out / "trials" / t.trial_id))
    write_json(out / "trials.json", [{"trial_id": t.trial_id, "overrides": t.overrides} for t in trials])
    write_json(out / "sweep.json", {"name": "half", "varied": spec.varied_keys(), "metric": "test_acc", "status": "interrupted"})
    write_tables(spec, out, trials)
    src = load_source(out)
    assert varied_keys(src.records, ["p"]) == ["p"]
    page = build_report(out)
    assert (_overview(page, "model"), _overview(page, "dataset")) == ("mlp", "digits")  # before: None on None
    assert _overview(page, "swept keys") == "p"
    assert _overview(page, "status") == "2 completed, 2 pending"


def test_a_run_config_lists_only_its_model_keys_and_resumes_whatever_the_others_say(tmp_path: Path) -> None:
    import yaml

    cfg = Config(**TINY).without_dropout()  # compare's baseline: conv_p, drop_path, ... all 0
    from dropkit.train.trainer import train_run

    train_run(cfg, tmp_path / "r")
    saved = yaml.safe_load((tmp_path / "r/config.yaml").read_text())
    assert "hidden" in saved and not {"channels", "conv_p", "rnn_cell", "attn_p", "drop_path"} & set(saved)
    # The keys left out read back as their defaults (not the baseline's 0), which an MLP never reads:
    assert train_run(cfg, tmp_path / "r", resume=True)["status"] == "completed"
