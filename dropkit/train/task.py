"""What the training loop trains on: a task turns a dataset into batch tensors, a loss and eval metrics.

Two tasks, picked from the config by :func:`task_for`:

- :class:`ClassificationTask` (every image / signal dataset): ``x -> logits (N, C)``, cross-entropy,
  accuracy; the train metrics are measured on a fixed random subset of ``eval_train_samples`` rows.
- :class:`~dropkit.train.lm_task.LanguageModelTask` (text datasets, models ``gpt`` and ``lstm-lm``):
  next-character prediction on windows of ``block_size`` characters; loss, bits per character and
  perplexity.

The loop in :mod:`dropkit.train.trainer` is the same for both: batches are rows of ``train_x`` drawn
by a seeded per-epoch permutation, so resuming stays bit-identical.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit.train.distributed import DistContext

__all__ = ["TaskTensors", "Task", "ClassificationTask", "task_for"]


@dataclass(frozen=True)
class TaskTensors:
    """The tensors one run trains and evaluates on, already on the run's device.

    Args:
        train_x, train_y: the training rows; a step trains on ``train_x[idx]``, ``train_y[idx]``.
        sub_x, sub_y: the fixed train subset measured in eval mode (the "train" metrics).
        test_x, test_y: the held-out rows (the "test" metrics; the validation split for text).
        val_x, val_y: the validation rows held out from the training data, where the best step is chosen
            (``val_fraction``; empty for text, whose "test" rows are already its validation split).
        input_shape: one row of ``train_x`` without the batch dim (what the model builder gets).
        num_classes: output classes (the vocabulary size for text).
    """

    train_x: Tensor
    train_y: Tensor
    sub_x: Tensor
    sub_y: Tensor
    test_x: Tensor
    test_y: Tensor
    input_shape: tuple[int, ...]
    num_classes: int
    val_x: Tensor | None = None
    val_y: Tensor | None = None


class Task(ABC):
    """The interface :func:`dropkit.train.trainer.train_run` calls; see :class:`ClassificationTask`."""

    #: what ``summary["metric"]`` names: the metric reports rank runs by.
    metric = "test_acc"

    @abstractmethod
    def load(self, cfg: Any) -> Any:
        """The dataset ``cfg.dataset``, loaded into memory."""

    @abstractmethod
    def tensors(self, cfg: Any, data: Any, device: torch.device) -> TaskTensors:
        """The training rows, the eval subsets and the model's input shape and classes, on ``device``."""

    @abstractmethod
    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """The mean training loss of ``logits`` against ``target`` (what the optimiser minimises)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, dist: DistContext | None) -> dict[str, float]:
        """Eval-mode metrics of ``model`` on ``(x, y)``: at least ``loss`` and ``acc``."""

    def extra_row(self, train: dict[str, float], test: dict[str, float]) -> dict[str, Any]:
        """Metric columns beyond loss and accuracy (none for classification)."""
        return {}

    def write_files(self, root: Path, data: Any) -> None:
        """Files the run folder needs besides the trainer's own (none for classification)."""

    def observe(self, row: dict[str, Any]) -> None:
        """See every metrics row (old ones on resume too), e.g. to track the best loss."""

    def summary_extra(self) -> dict[str, Any]:
        """Fields added to ``summary.json``."""
        return {}

    def postfix(self, loss_value: float, row: dict[str, Any]) -> dict[str, str]:
        """What the progress bar shows after an evaluation."""
        return {"loss": f"{loss_value:.3f}", "train_acc": f"{row['train_acc']:.3f}", "test_acc": f"{row['test_acc']:.3f}"}


class ClassificationTask(Task):
    """Classify whole inputs: ``model(x) -> (N, num_classes)`` logits, cross-entropy and accuracy."""

    metric = "test_acc"

    def load(self, cfg: Any) -> Any:
        from dropkit.data import load_config_dataset

        return load_config_dataset(cfg)  # a built-in dataset or the user's files (dropkit.data.files)

    def tensors(self, cfg: Any, data: Any, device: torch.device) -> TaskTensors:
        from dropkit.train.validation import split_train_val

        train_idx, val_idx = split_train_val(len(data.train_x), cfg.val_fraction, cfg.seed)  # see dropkit.train.validation
        val_x, val_y = data.train_x[val_idx].to(device), data.train_y[val_idx].to(device)
        train_x, train_y = data.train_x[train_idx].to(device), data.train_y[train_idx].to(device)
        n_train = len(train_x)
        subset_gen = torch.Generator().manual_seed(cfg.seed + 7919)
        n_sub = min(cfg.eval_train_samples, n_train)
        sub_idx = torch.randperm(n_train, generator=subset_gen)[:n_sub].to(device)
        return TaskTensors(
            train_x, train_y, train_x[sub_idx], train_y[sub_idx], data.test_x.to(device), data.test_y.to(device),
            tuple(data.input_shape), int(data.num_classes), val_x, val_y,
        )

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target)

    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, dist: DistContext | None) -> dict[str, float]:
        from dropkit.train.trainer import evaluate

        if not len(x):
            return {"loss": float("nan"), "acc": float("nan")}
        loss, acc = evaluate(model, x, y, batch_size, dist)
        return {"loss": loss, "acc": acc}


def task_for(cfg: Any) -> Task:
    """The task of ``cfg``: language modelling for text datasets, classification otherwise.

    Raises:
        ValueError: a language model on a classification dataset, or a classifier on text.
    """
    from dropkit.data.corpora import is_text_dataset
    from dropkit.train.lm_task import LM_MODELS, LanguageModelTask

    text = is_text_dataset(cfg.dataset)
    if text and cfg.model not in LM_MODELS:
        raise ValueError(
            f"train: model must be one of {', '.join(map(repr, LM_MODELS))} for text dataset {cfg.dataset!r}, got {cfg.model!r}"
        )
    if not text and cfg.model in LM_MODELS:
        raise ValueError(
            f"train: model {cfg.model!r} is a language model; dataset must be a text dataset "
            f"('shakespeare-char' or 'text:PATH'), got {cfg.dataset!r}"
        )
    return LanguageModelTask() if text else ClassificationTask()
