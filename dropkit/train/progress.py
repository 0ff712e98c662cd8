"""Training progress: a tqdm bar on a terminal, one log line per evaluation everywhere else.

On a terminal the bar shows steps, speed and the latest loss and accuracies, and stays on screen after
the run (``leave=True``) as the record of what ran. Where stderr is not a terminal (a log file, CI,
``nohup``) a bar would be either invisible or a wall of carriage returns, so each evaluation logs one
line instead, as Keras' ``fit(verbose=2)`` does per epoch::

    step 200/1000 - epoch 11.1 - loss 0.3121 - train_acc 0.9120 - test_acc 0.8840 - p 0.500 - 1.3 s
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

__all__ = ["Progress", "format_eval_line"]

log = logging.getLogger("dropkit.train")


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_eval_line(row: dict[str, Any], total_steps: int, loss: float | None = None) -> str:
    """The line logged for one evaluation row of ``metrics.jsonl``.

    Args:
        row: the metrics row (``step``, ``epoch``, ``train_acc``, ``test_acc``, ``p``, ``wall_time``, ...).
        total_steps: the run's number of steps.
        loss: the training loss of the last step (default: the row's ``train_loss_running``).

    Example:
        >>> format_eval_line({"step": 200, "epoch": 11.1, "train_acc": 0.912, "test_acc": 0.884, "p": 0.5,
        ...                   "wall_time": 1.31, "train_loss_running": 0.31211}, 1000)
        'step 200/1000 - epoch 11.1 - loss 0.3121 - train_acc 0.9120 - test_acc 0.8840 - p 0.500 - 1.3 s'
    """
    loss = row.get("train_loss_running") if loss is None else loss
    parts = [f"step {row['step']}/{total_steps}", f"epoch {_fmt(row.get('epoch'), '.1f')}", f"loss {_fmt(loss, '.4f')}"]
    for key in ("train_acc", "val_acc", "test_acc"):
        if key in row:
            parts.append(f"{key} {_fmt(row[key], '.4f')}")
    parts.append(f"p {_fmt(row.get('p'), '.3f')}")
    parts.append(f"{_fmt(row.get('wall_time'), '.1f')} s")
    return " - ".join(parts)


class Progress:
    """Progress of one training run: a bar on a terminal, else a log line per evaluation.

    Args:
        total: the run's number of steps.
        initial: steps already done (a resumed run).
        enabled: False shows nothing (``--no-progress``, sweep trials, DDP ranks other than 0).
        stream: where the bar goes and whose ``isatty()`` decides (default: ``sys.stderr``).

    Example:
        >>> import io
        >>> p = Progress(10, 0, stream=io.StringIO())  # not a terminal: no bar
        >>> p.bar is None and p.lines
        True
    """

    def __init__(self, total: int, initial: int = 0, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        stream = sys.stderr if stream is None else stream
        tty = enabled and bool(getattr(stream, "isatty", lambda: False)())
        self.total = total
        self.lines = enabled and not tty
        self.bar: Any = None
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True, file=stream, mininterval=0.5)

    def update(self, n: int = 1) -> None:
        """``n`` more steps done."""
        if self.bar is not None:
            self.bar.update(n)

    def evaluated(self, row: dict[str, Any], loss: float | None = None) -> None:
        """Show an evaluation: on the bar (terminal) or as one log line."""
        if self.bar is not None:
            shown = {"loss": f"{loss:.3f}"} if loss is not None else {}
            shown.update({k: f"{row[k]:.3f}" for k in ("train_acc", "val_acc", "test_acc") if row.get(k) is not None})
            self.bar.set_postfix(shown)
        elif self.lines:
            log.info("%s", format_eval_line(row, self.total, loss))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
