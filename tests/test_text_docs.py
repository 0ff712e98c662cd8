"""docs/text.md names real presets (its ```python blocks run in tests/test_readme_examples.py, with every docs page)."""

from __future__ import annotations

import re
from pathlib import Path

from dropkit.train.presets import preset_names

PAGE = Path(__file__).resolve().parents[1] / "docs" / "text.md"
TEXT = PAGE.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_page_has_python_examples() -> None:
    assert len(BLOCKS) >= 2


def test_every_text_preset_is_in_the_page_and_every_named_preset_exists() -> None:
    text_presets = {n for n in preset_names() if n.startswith("shakespeare-")}
    named = set(re.findall(r"`(shakespeare-[a-z-]+)`", TEXT)) - {"shakespeare-char", "shakespeare-char-tiny", "shakespeare-char-works"}
    assert text_presets and text_presets <= named and named <= set(preset_names())
