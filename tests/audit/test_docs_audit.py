"""docs/audit.md stays true: its console and CI examples run (its Python blocks run with every docs page)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from dropkit.cli.main import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
TEXT = PAGE.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_page_has_python_examples() -> None:  # they run in tests/test_readme_examples.py, with every docs page
    assert len(BLOCKS) >= 2


def test_console_example_runs_and_prints_what_the_page_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    console = re.findall(r"```console\n(.*?)```", TEXT, flags=re.S)[0]
    command, _, shown = console.partition("\n" + "module")
    argv = shlex.split(command.removeprefix("$ ").replace("\\\n", " "))
    assert argv[:2] == ["dropkit", "audit"]
    argv = [str(tmp_path / a) if a == "audit.json" else a for a in argv[1:]]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    columns = lambda text: [line.split()[:3] + line.split()[-1:] for line in text.splitlines() if line.strip()]
    # the same rows, declarations and verdicts (the measured fractions depend on the platform's generator)
    assert columns(printed) == columns("module" + shown)
    assert (tmp_path / "audit.json").exists()


def test_ci_example_with_a_hugging_face_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    console = re.findall(r"```console\n(.*?)```", TEXT, flags=re.S)[1]
    source = console.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    (tmp_path / "ci_models.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    command = console.split("$ PYTHONPATH=. ", 1)[1].split(" || exit 1", 1)[0]
    argv = shlex.split(command.replace("\\\n", " "))
    argv = [str(tmp_path / a) if a == "audit.json" else a for a in argv[1:]]
    assert main(argv) == 0  # BERT's config: classifier_dropout is None, every rate it declares fires
    assert (tmp_path / "audit.json").exists()
