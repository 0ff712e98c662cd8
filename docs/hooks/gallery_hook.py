"""MkDocs hook: render the gallery's figures from the real layers and add them to the site.

The PNGs are written atomically (:func:`gallery_figures.write_all`) into ``build/docs-figures/`` and
served as ``gallery/figures/<name>.png``; a page linking a figure that was not made is a broken link,
so a strict build fails on it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gallery_figures  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    out = Path(config.config_file_path).parent / "build" / "docs-figures"
    for path in gallery_figures.write_all(out):
        files.append(File.generated(config, f"gallery/figures/{path.name}", abs_src_path=str(path)))
    return files
