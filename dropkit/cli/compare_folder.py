"""The ``dropkit compare`` folder: which folders it may write into, and what it keeps for ``--resume``.

::

    <out>/compare.yaml    the resolved config of the dropout run (read back by ``--resume``)
    <out>/compare.json    status (running | interrupted | completed), the runs, and their results
    <out>/p0/, <out>/p<p>/ one run folder per setting
    <out>/curves.png      learning curves of both settings

A new compare refuses a folder that holds anything else: a file, a ``train`` run folder, or an earlier
compare (finish that one with ``--resume``).
"""

from __future__ import annotations

from pathlib import Path

from dropkit.cli.errors import CLIError
from dropkit.train.run_dir import RunFiles

__all__ = ["check_new_compare_out", "check_resume_out", "COMPARE_CONFIG", "COMPARE_INDEX"]

COMPARE_CONFIG = "compare.yaml"
COMPARE_INDEX = "compare.json"


def check_new_compare_out(out: Path) -> None:
    """Raise :class:`CLIError` unless ``out`` is missing or an empty folder."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"compare: --out must be a folder, got {str(out)!r}, an existing file")
    if RunFiles(out).config.exists():
        raise CLIError(
            f"compare: --out {str(out)!r} is a train run folder (it holds config.yaml); choose another --out"
        )
    if (out / COMPARE_INDEX).exists() or (out / COMPARE_CONFIG).exists():
        raise CLIError(
            f"compare: --out {str(out)!r} already holds a compare; pass --resume to finish it or choose another --out"
        )
    if out.is_dir() and any(out.iterdir()):
        raise CLIError(f"compare: --out {str(out)!r} is not empty; choose a new or empty folder")


def check_resume_out(out: Path | None) -> Path:
    """The compare folder to resume; raise :class:`CLIError` when ``out`` is not one."""
    if out is None:
        raise CLIError("compare: --resume needs --out DIR, the compare folder to finish")
    if not (out / COMPARE_CONFIG).exists():
        hint = " (it is a train run folder: use dropkit train --resume)" if RunFiles(out).config.exists() else ""
        raise CLIError(f"compare: --resume: {str(out)!r} is not a compare folder (no {COMPARE_CONFIG}){hint}")
    return out
