"""Checks on the paths given on the command line, before any work starts."""

from __future__ import annotations

from pathlib import Path

from dropkit.cli.errors import CLIError

__all__ = ["check_out_folder"]


def check_out_folder(where: str, out: str | Path | None) -> None:
    """Raise :class:`CLIError` when ``--out`` names something that is not a folder (an existing file).

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> _ = f.write_text("x")
        >>> check_out_folder("train", f)
        Traceback (most recent call last):
        ...
        dropkit.cli.errors.CLIError: train: --out must be a folder, got '...notes.txt', an existing file
    """
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise CLIError(f"{where}: --out must be a folder, got {str(out)!r}, an existing file")
