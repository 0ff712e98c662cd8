"""Character-level language modelling as a training task: windows, next-character loss, bits per character.

A training row is a window of ``context_length + 1`` consecutive characters of the training split:
``x = ids[i : i + T]``, ``y = ids[i + 1 : i + T + 1]`` for every start ``i`` (overlapping windows,
built as a strided view: no copy). A step draws ``batch_size`` starts from the seeded per-epoch
permutation of the trainer (nanoGPT draws them with replacement; the distribution of a batch is the same).

Evaluation (eval mode, no dropout) reads **non-overlapping** windows, so every character of the
validation split is predicted once, from a context of up to ``context_length`` characters (as nanoGPT's
``estimate_loss``, which averages 200 random windows instead). ``eval_windows`` caps the number of
windows of each split (evenly spaced through it); the train metrics use as many training windows as
the validation split has (at most ``eval_windows``), evenly spaced.

Metrics per split: ``loss`` (mean cross-entropy in nats per character), ``acc`` (next-character
accuracy), ``bpc = loss / ln 2`` (bits per character) and ``ppl = exp(loss)`` (perplexity).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit.data.text import VAL_FRACTION, TextCorpus
from dropkit.train.distributed import DistContext
from dropkit.train.task import Task, TaskTensors

__all__ = ["LM_MODELS", "LanguageModelTask", "VOCAB_FILE", "eval_windows", "lm_metrics", "truncate_corpus"]

#: The models that read ``(N, T)`` ids and return ``(N, T, V)`` logits.
LM_MODELS = ("gpt", "lstm-lm")
#: The run-folder file that holds the vocabulary (read by ``dropkit sample``).
VOCAB_FILE = "vocab.json"


def lm_metrics(loss: float, acc: float) -> dict[str, float]:
    """``loss`` (nats per character) with its bits per character and perplexity.

    Example:
        >>> m = lm_metrics(math.log(2.0), 0.5)
        >>> round(m["bpc"], 6), round(m["ppl"], 6)
        (1.0, 2.0)
    """
    return {"loss": loss, "acc": acc, "bpc": loss / math.log(2.0), "ppl": math.exp(loss) if loss < 700 else math.inf}


def eval_windows(ids: Tensor, block_size: int, limit: int | None) -> tuple[Tensor, Tensor]:
    """Non-overlapping ``(x, y)`` windows of ``ids``, at most ``limit`` of them, evenly spaced.

    Example:
        >>> x, y = eval_windows(torch.arange(10), 3, None)
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    """
    w = ids.unfold(0, block_size + 1, block_size)
    if limit is not None and len(w) > limit:
        pick = torch.linspace(0, len(w) - 1, limit).round().long().to(ids.device)
        w = w[pick]
    return w[:, :-1], w[:, 1:]


def truncate_corpus(corpus: TextCorpus, max_chars: int | None) -> TextCorpus:
    """The first ``max_chars`` characters of ``corpus``, split 90/10 again; the vocabulary is kept whole
    (so prompts and samples use the same ids as on the full corpus). ``None``: ``corpus`` itself.

    Example:
        >>> from dropkit.data.text import char_corpus
        >>> c = truncate_corpus(char_corpus("abcdefghij" * 10, "toy", source="x"), 20)
        >>> c.num_train, c.num_val, c.vocab.size
        (18, 2, 10)
    """
    if max_chars is None or max_chars >= corpus.num_train + corpus.num_val:
        return corpus
    ids = torch.cat([corpus.train_ids, corpus.val_ids])[:max_chars]
    n_train = int(max_chars * (1.0 - VAL_FRACTION))
    return dataclasses.replace(corpus, train_ids=ids[:n_train].clone(), val_ids=ids[n_train:].clone(),
                               name=f"{corpus.name}[:{max_chars}]")


class LanguageModelTask(Task):
    """Next-character prediction with a model that maps ``(N, T)`` ids to ``(N, T, V)`` logits."""

    metric = "test_loss"

    def __init__(self) -> None:
        self.best: dict[str, Any] = {"test_loss": math.inf, "step": -1}
        self.last: dict[str, Any] = {}

    def load(self, cfg: Any) -> Any:
        from dropkit.data.corpora import load_corpus

        corpus = load_corpus(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download)
        return truncate_corpus(corpus, cfg.max_chars)

    def tensors(self, cfg: Any, data: Any, device: torch.device) -> TaskTensors:
        t = int(cfg.context_length)
        where = f"train: dataset {cfg.dataset!r}"
        for split, ids in (("train", data.train_ids), ("validation", data.val_ids)):
            if ids.numel() < t + 1:
                raise ValueError(
                    f"{where}: context_length must be smaller than the {split} split ({ids.numel()} characters), got {t}"
                )
        train = data.train_ids.to(device)
        windows = train.unfold(0, t + 1, 1)  # (N - T, T + 1), a view
        test_x, test_y = eval_windows(data.val_ids.to(device), t, cfg.eval_windows)
        n_sub = min(len(test_x), cfg.eval_windows or len(test_x))
        sub_x, sub_y = eval_windows(train, t, n_sub)
        return TaskTensors(windows[:, :-1], windows[:, 1:], sub_x, sub_y, test_x, test_y, (t,), data.vocab.size)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits.flatten(0, -2), target.flatten())

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, dist: DistContext | None) -> dict[str, float]:
        was_training = model.training
        model.eval()
        n = x.numel()
        if dist is not None and dist.active:
            x, y = x.tensor_split(dist.world_size)[dist.rank], y.tensor_split(dist.world_size)[dist.rank]
        sums = torch.zeros(2, dtype=torch.float64, device=x.device)  # [loss sum, correct]
        rows = max(1, batch_size // max(1, x.shape[1]))  # eval_batch_size counts characters here
        for i in range(0, len(x), rows):
            logits = model(x[i : i + rows]).float()
            target = y[i : i + rows]
            sums[0] += F.cross_entropy(logits.flatten(0, -2), target.flatten(), reduction="sum").double()
            sums[1] += (logits.argmax(-1) == target).sum()
        model.train(was_training)
        if dist is not None and dist.active:
            sums = dist.sum(sums)
        n = max(n, 1)
        return lm_metrics(float(sums[0]) / n, float(sums[1]) / n)

    def extra_row(self, train: dict[str, float], test: dict[str, float]) -> dict[str, Any]:
        return {"train_bpc": train["bpc"], "test_bpc": test["bpc"], "train_ppl": train["ppl"], "test_ppl": test["ppl"]}

    def write_files(self, root: Path, data: Any) -> None:
        from dropkit.train.run_dir import write_json

        write_json(root / VOCAB_FILE, {**data.vocab.to_json(), "dataset": data.name, "corpus": data.corpus,
                                       "source": data.source, "sha256": data.sha256,
                                       "num_train": data.num_train, "num_val": data.num_val})

    def observe(self, row: dict[str, Any]) -> None:
        self.last = row
        if row["test_loss"] < self.best["test_loss"]:
            self.best = {"test_loss": row["test_loss"], "step": row["step"]}

    def summary_extra(self) -> dict[str, Any]:
        final = {k: self.last.get(k) for k in ("train_loss", "test_loss", "train_bpc", "test_bpc", "test_ppl")}
        return {"metric": "test_loss", **final, "best_test_loss": self.best["test_loss"], "best_loss_step": self.best["step"]}

    def postfix(self, loss_value: float, row: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{loss_value:.3f}", "train_loss": f"{row['train_loss']:.3f}", "val_loss": f"{row['test_loss']:.3f}"}
