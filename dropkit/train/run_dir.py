"""The run folder: the only interface between training and everything that reads results.

::

    <run>/config.yaml          the resolved configuration
    <run>/metrics.jsonl        one JSON object per evaluation (see METRIC_KEYS)
    <run>/summary.json         status, final metrics, best test accuracy, timings
    <run>/env.json             versions, device, seed, command line
    <run>/checkpoints/step_XXXXXXXX.safetensors   model + optimizer + RNG state
    <run>/model.safetensors    final weights (written at the end of a completed run)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from dropkit._io import atomic_write_text

__all__ = [
    "RunFiles",
    "METRIC_KEYS",
    "append_metrics",
    "read_metrics",
    "truncate_metrics",
    "read_summary",
    "read_config",
    "write_json",
    "load_model",
    "new_run_dir",
    "remove_if_empty",
]

METRIC_KEYS = (
    "step",  # optimizer steps done
    "epoch",  # fractional epochs done
    "train_loss",  # cross-entropy on a fixed train subset, eval mode (no dropout)
    "train_acc",  # accuracy on that subset, eval mode
    "test_loss",
    "test_acc",
    "gap",  # train_acc - test_acc: the generalisation gap
    "val_loss",  # on the held-out share of the training data (val_fraction), eval mode; None without one
    "val_acc",  # the best step is chosen on it
    "train_loss_running",  # mean training loss (with dropout) since the previous evaluation
    "p",  # mean nominal dropout rate over the model's dropout layers at this step
    "p_measured",  # fraction of units actually dropped in the last training step
    "lr",
    "wall_time",  # seconds of training so far (summed over resumed segments)
)


@dataclass(frozen=True)
class RunFiles:
    """Paths inside one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final_model(self) -> Path:
        return self.root / "model.safetensors"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line in a single write (a killed process leaves at most a partial last line, which
    :func:`read_metrics` ignores and a resume truncates)."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def read_metrics(path: Path | str) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl`` (a ``Path`` to the file or to its run folder); a torn last line is ignored."""
    path = Path(path)
    if path.is_dir():
        path = RunFiles(path).metrics
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only rows with ``step <= last_step`` (used on resume), atomically."""
    rows = [r for r in read_metrics(path) if r["step"] <= last_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_summary(run_dir: Path | str) -> dict[str, Any]:
    """The ``summary.json`` of a run folder as a dict."""
    return json.loads(RunFiles(Path(run_dir)).summary.read_text())


def read_config(run_dir: Path | str) -> Any:
    """The run's resolved :class:`~dropkit.train.config.Config`."""
    from dropkit.train.config import from_dict

    files = RunFiles(Path(run_dir))
    if not files.config.exists():
        raise FileNotFoundError(f"run folder {str(run_dir)!r} has no config.yaml: not a dropkit run")
    values = yaml.safe_load(files.config.read_text()) or {}
    # Runs made before the validation split existed trained on all their training data: keep them so.
    values.setdefault("val_fraction", 0.0)
    return from_dict(values)


def load_model(run_dir: Path | str, *, checkpoint: str = "final") -> tuple[Any, nn.Module]:
    """Rebuild a run's model and load its weights; returns ``(config, model)`` with the model in eval mode.

    A classification run's input shape and classes come from its dataset (loaded without downloading); a
    language-model run's (``gpt``, ``lstm-lm``) from its config's ``context_length`` and the vocabulary in
    its ``vocab.json``, so the corpus is not read.

    Args:
        run_dir: the run folder.
        checkpoint: ``"final"`` (``model.safetensors``), ``"last"`` (the newest checkpoint) or a file name
            in ``checkpoints/``.

    Raises:
        FileNotFoundError: no ``config.yaml``, no such weights, or a language-model run without its ``vocab.json``.
    """
    from safetensors.torch import load_file

    from dropkit.models import build_model
    from dropkit.train.checkpoint import list_checkpoints, load_checkpoint

    cfg = read_config(run_dir)
    files = RunFiles(Path(run_dir))
    model = build_model(cfg, *_model_shape(cfg, files))
    if checkpoint == "final":
        if not files.final_model.exists():
            raise FileNotFoundError(f"load_model: {str(files.final_model)!r} does not exist (run not completed?)")
        model.load_state_dict(load_file(str(files.final_model)))
    else:
        ckpts = list_checkpoints(files.checkpoints)
        path = ckpts[-1] if checkpoint == "last" and ckpts else files.checkpoints / checkpoint
        if not path.exists():
            raise FileNotFoundError(f"load_model: checkpoint {str(path)!r} does not exist")
        load_checkpoint(path, model, restore_rng=False)
    return cfg, model.eval()


def _model_shape(cfg: Any, files: RunFiles) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` the run's model was built with."""
    from dropkit.train.lm_task import LM_MODELS, VOCAB_FILE

    if cfg.model in LM_MODELS:
        from dropkit.data.text import CharVocab

        vocab_path = files.root / VOCAB_FILE
        if not vocab_path.is_file():
            raise FileNotFoundError(
                f"load_model: {str(vocab_path)!r} does not exist: the language-model run did not get far enough to "
                "write its vocabulary"
            )
        return (cfg.context_length,), CharVocab.from_json(json.loads(vocab_path.read_text())).size
    from dropkit.data import load_config_dataset

    data = load_config_dataset(cfg, download=False)
    return tuple(data.input_shape), int(data.num_classes)


def new_run_dir(stem: str, parent: str | Path = "runs") -> Path:
    """Create and return a fresh folder ``<parent>/<stem>-<YYYYmmdd-HHMMSS>`` for a run.

    The folder is created here (``mkdir`` fails if it exists), so two runs started in the same second,
    in one process or several, never share it: the second gets a ``-2`` suffix, the third ``-3``, ...

    Args:
        stem: the name part, e.g. the config's ``name``.
        parent: the folder that holds the runs (default: ``runs``, created if missing).

    Example:
        >>> import tempfile
        >>> from dropkit.train.run_dir import new_run_dir
        >>> root = tempfile.mkdtemp()
        >>> a, b = new_run_dir("seed", root), new_run_dir("seed", root)
        >>> a != b and a.is_dir() and b.name == a.name + "-2"
        True
    """
    base = Path(parent) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"new_run_dir: no free folder name for {str(base)!r} after 9999 tries")


def remove_if_empty(path: str | Path) -> bool:
    """Remove the folder ``path`` if it is empty (a run that failed before writing anything); return True if removed."""
    try:
        Path(path).rmdir()
        return True
    except OSError:  # not empty, or already gone
        return False
