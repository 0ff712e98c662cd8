"""Every ```python block of the README and of the pages under docs/ runs as written, so they stay true.

README blocks run one by one, each in a fresh namespace. A docs page is a tutorial: its blocks run in
order in one namespace (a later block uses what an earlier one built), in a temporary working folder.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced ```python block of a Markdown text."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


BLOCKS = [code for _, code in python_blocks(README.read_text())]
DOC_PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if python_blocks(p.read_text()))


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int) -> None:
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def test_every_tutorial_has_code() -> None:
    tutorials = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
    assert tutorials, "docs/tutorials/ holds no page"
    empty = [p.name for p in tutorials if not python_blocks(p.read_text())]
    assert not empty, f"tutorials without a ```python block: {empty}"


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_page_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # a real module, so that a block's "--model <this module>:Net" imports the class an earlier line defines
    module = types.ModuleType("docs_page_" + re.sub(r"\W", "_", page.relative_to(ROOT).as_posix()))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    name = page.relative_to(ROOT).as_posix()
    for index, (line, code) in enumerate(python_blocks(page.read_text())):
        exec(compile("\n" * (line - 1) + code, f"{name} (python block {index})", "exec"), namespace)
