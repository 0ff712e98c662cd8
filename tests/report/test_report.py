"""``dropkit report`` on run, compare and sweep folders; the page checked in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest

from dropkit.cli.compare import compare
from dropkit.cli.main import main
from dropkit.report import build_report, detect_kind
from dropkit.sweep import parse_sweep
from dropkit.sweep.runner import write_tables
from dropkit.sweep.trial import run_trial
from dropkit.train.config import Config
from dropkit.train.run_dir import write_json
from dropkit.train.trainer import train_run

pytestmark = pytest.mark.xdist_group("report")

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
TINY = dict(dataset="digits", hidden=[32], steps=40, eval_every=20, progress=False, threads=1)
SWEEP = {
    "name": "grid",
    "base": {"dataset": "digits", "hidden": [32], "steps": 40, "eval_every": 20},
    "grid": {"p": [0.0, 0.5], "l2": [0.0, 0.001], "seed": [0, 1]},
}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished p x l2 x seed sweep folder, its trials run in this process (no pool needed here)."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    spec = parse_sweep(SWEEP)
    trials = spec.trials()
    for t in trials:
        run_trial(t.values, str(out / "trials" / t.trial_id))
    write_json(out / "trials.json", [{"trial_id": t.trial_id, "overrides": t.overrides} for t in trials])
    write_json(out / "sweep.json", {"name": "grid", "varied": spec.varied_keys(), "metric": "test_acc", "executor": "local"})
    write_tables(spec, out, trials)
    return out


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


_CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.target && e.target.src)), true);
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  document.body.setAttribute("data-check", JSON.stringify({
    n: imgs.length, widths: imgs.map(i => i.complete ? i.naturalWidth : 0),
    srcs: imgs.map(i => i.src.slice(0, 22)), errors: window.__errors}));
});
</script></body>"""


def test_sweep_report_has_every_figure_and_the_best_table(sweep_dir: Path) -> None:
    assert detect_kind(sweep_dir) == "sweep"
    assert main(["report", str(sweep_dir)]) == 0
    report = sweep_dir / "report"
    for stem in ("curves", "rates", "heatmap"):
        assert (report / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ET.parse(report / f"{stem}.svg")  # well-formed SVG
    page = (report / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for heading in ("Learning curves", "generalisation gap against p", "heat map", "Best configurations", "env.json"):
        assert heading in page
    assert "Not applicable" not in page
    # The best table's first row is the configuration with the highest mean test accuracy.
    from dropkit.sweep import read_table

    agg = read_table(sweep_dir / "aggregate.parquet")
    best = max(agg, key=lambda a: a["test_acc_mean"])
    table = page.split("Best configurations", 1)[1]
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", table).group(1)  # type: ignore[union-attr]
    assert f"{best['test_acc_mean']:.4f}" in first_row
    assert not list(sweep_dir.glob(".report-*"))


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(sweep_dir: Path, tmp_path: Path) -> None:
    index = build_report(sweep_dir, tmp_path / "report")
    # 1. The page as written: no console messages (errors, failed loads) while it loads.
    shot = tmp_path / "shot.png"
    res = _chromium("--window-size=1200,2600", f"--screenshot={shot}", index.as_uri(), profile=tmp_path / "p1")
    assert shot.exists(), res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    image = matplotlib.image.imread(str(shot))
    assert image.shape[:2] == (2600, 1200)
    rgb = image[..., :3]
    assert (rgb.min(axis=2) < 0.9).mean() > 0.05  # text and plots, not a blank page
    colourful = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.3  # matplotlib's blue / orange lines and the heat map
    assert colourful.sum() > 2000
    # 2. A copy with a probe script: every <img> decoded (naturalWidth > 0) and no error event.
    probe = tmp_path / "report" / "probe.html"
    probe.write_text(index.read_text().replace("</body>", _CHECK_SCRIPT))
    res = _chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri(), profile=tmp_path / "p2")
    match = re.search(r'data-check="([^"]*)"', res.stdout)
    assert match, res.stdout[:500] + res.stderr[-2000:]
    check = json.loads(match.group(1).replace("&quot;", '"'))
    assert check["n"] == 3 and all(w > 0 for w in check["widths"]) and check["errors"] == []
    assert all(s.startswith("data:image/png;base64") for s in check["srcs"])


def test_run_folder_report_shows_curves_and_metadata(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_run(Config(**TINY, p=0.3), run)
    assert detect_kind(run) == "run"
    page = build_report(run).read_text()
    assert page.count("data:image/png;base64,") == 1  # the learning curves; no rate plot for one run
    assert "Not applicable: p takes a single value" in page and "Not applicable: needs runs over" in page
    env = json.loads((run / "env.json").read_text())
    assert env["torch"] in page and "completed" in page


def test_compare_folder_report_plots_both_rates(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    compare(Config(**TINY, p=0.5), out)
    assert detect_kind(out) == "compare"
    page = build_report(out).read_text()
    assert page.count("data:image/png;base64,") == 2  # curves, and accuracy / gap against p
    assert '<td class="k">p0</td>' in page and '<td class="k">p0.5</td>' in page  # both runs in the table


def test_a_failed_rebuild_leaves_the_previous_report_whole(sweep_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    build_report(sweep_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("dropkit.report.build.plot_heatmap", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_report(sweep_dir, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary folder left


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be a run folder"):
        build_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "nope")
