"""Where dataset files are looked for, in order.

For a dataset ``<name>`` (e.g. ``fashion-mnist``) the folders searched are, first match wins:

1. ``<data_dir>/<name>/``, then ``<data_dir>/`` itself: the explicit ``data_dir`` argument. Only here
   may the files sit directly in the root, because the caller named the folder for this dataset. A
   ``data_dir`` that does not exist is an error, never silently skipped.
2. ``$DROPKIT_DATA/<name>/``, when the environment variable is set.
3. ``<cache>/<name>/`` with ``<cache> = platformdirs.user_cache_dir("dropkit")``
   (``~/.cache/dropkit`` on Linux); downloads and generated files go here.
4. ``/usr/share/datasets/<name>/``: Debian's dataset packages (``apt install dataset-fashion-mnist``).

Shared roots (2-4) need the ``<name>/`` subfolder because MNIST and Fashion-MNIST use the same file
names: a flat folder could not say which one it holds. Tests point :func:`cache_dir` and
:data:`SYSTEM_DATASETS_DIR` at temporary folders with ``monkeypatch``; both are read at call time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = [
    "ENV_VAR",
    "SYSTEM_DATASETS_DIR",
    "SearchPlace",
    "cache_dir",
    "check_data_dir",
    "search_places",
    "unused_places",
]

#: Environment variable naming a folder that holds ``<name>/`` dataset folders.
ENV_VAR = "DROPKIT_DATA"
#: Where Debian's ``dataset-*`` packages install their files.
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")


@dataclass(frozen=True)
class SearchPlace:
    """One folder that may hold a dataset's files.

    Args:
        path: the folder.
        origin: why it is searched: ``"data_dir"``, ``"$DROPKIT_DATA"``, ``"cache"`` or ``"system"``.
    """

    path: Path
    origin: str

    def __str__(self) -> str:
        return f"{self.path} ({self.origin})"


def cache_dir() -> Path:
    """The per-user cache root, ``platformdirs.user_cache_dir("dropkit")``; downloads land in ``<it>/<name>/``."""
    return Path(platformdirs.user_cache_dir("dropkit"))


def check_data_dir(where: str, data_dir: str | os.PathLike[str] | None) -> Path | None:
    """Return ``data_dir`` as a ``Path`` after checking it is an existing folder (``None`` passes through).

    Raises:
        TypeError: ``data_dir`` is not a string or path.
        FileNotFoundError: ``data_dir`` does not exist or is not a folder.
    """
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"{where}: data_dir must be a path or None, got {type(data_dir).__name__}")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        raise FileNotFoundError(f"{where}: data_dir must be an existing folder, got '{path}' ({what})")
    return path


def search_places(name: str, data_dir: Path | None = None) -> list[SearchPlace]:
    """The folders to look in for dataset ``name``, in search order (see the module docstring).

    Args:
        name: dataset name, also the subfolder name.
        data_dir: an explicit folder checked by :func:`check_data_dir`, or ``None``.

    Example:
        >>> [p.origin for p in search_places("mnist")][-2:]
        ['cache', 'system']
    """
    places: list[SearchPlace] = []
    if data_dir is not None:
        places += [SearchPlace(data_dir / name, "data_dir"), SearchPlace(data_dir, "data_dir")]
    env = os.environ.get(ENV_VAR)
    if env:
        places.append(SearchPlace(Path(env).expanduser() / name, f"${ENV_VAR}"))
    places.append(SearchPlace(cache_dir() / name, "cache"))
    places.append(SearchPlace(Path(SYSTEM_DATASETS_DIR) / name, "system"))
    return places


def unused_places(data_dir: Path | None = None) -> list[str]:
    """One line per optional place that was not searched because it was not given, for error messages.

    Example:
        >>> unused_places(None)[0]
        'data_dir: not given'
    """
    lines = []
    if data_dir is None:
        lines.append("data_dir: not given")
    if not os.environ.get(ENV_VAR):
        lines.append(f"${ENV_VAR}: not set")
    return lines
