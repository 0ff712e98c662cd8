"""Log a run's metrics to TensorBoard while it trains (``dropkit train --tensorboard``).

:class:`TensorBoardLogger` is an ``on_eval`` callback of :func:`~dropkit.train.trainer.train_run`: every
metrics row becomes scalars ``accuracy/train``, ``accuracy/test``, ``loss/train``, ``loss/test``,
``loss/train_running``, ``gap``, ``dropout/p``, ``dropout/p_measured`` and ``lr`` at the row's step, in
``<run>/tensorboard/``. View with ``tensorboard --logdir <run>/tensorboard``. Under DDP only rank 0
creates one. Needs the ``tensorboard`` package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TensorBoardLogger", "SCALARS"]

# metrics.jsonl key -> TensorBoard tag.
SCALARS = {
    "train_acc": "accuracy/train",
    "test_acc": "accuracy/test",
    "train_loss": "loss/train",
    "test_loss": "loss/test",
    "train_loss_running": "loss/train_running",
    "gap": "gap",
    "p": "dropout/p",
    "p_measured": "dropout/p_measured",
    "lr": "lr",
}


class TensorBoardLogger:
    """Write every metrics row to TensorBoard event files under ``<run_dir>/tensorboard``.

    The event file is opened at the first row with ``purge_step`` set to that row's step, so a
    resumed run hides the points its crashed predecessor logged after the checkpoint it resumes
    from (they would otherwise show twice). Rows must arrive in step order, as the trainer sends them.

    Args:
        run_dir: the run folder.

    Raises:
        ImportError: the ``tensorboard`` package is not installed (raised here, before training).

    Example:
        >>> import tempfile
        >>> from dropkit.report.tensorboard import TensorBoardLogger
        >>> logger = TensorBoardLogger(tempfile.mkdtemp())
        >>> logger({"step": 0, "test_acc": 0.5, "p_measured": None})
        >>> logger.close()
    """

    def __init__(self, run_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "train: --tensorboard needs the tensorboard package; install it with pip install tensorboard"
            ) from None
        self.log_dir = Path(run_dir) / "tensorboard"
        self._writer_cls = SummaryWriter
        self._writer: Any = None

    def __call__(self, row: dict[str, Any]) -> None:
        step = int(row["step"])
        if self._writer is None:
            self._writer = self._writer_cls(log_dir=str(self.log_dir), purge_step=step)
        for key, tag in SCALARS.items():
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(tag, float(value), step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
