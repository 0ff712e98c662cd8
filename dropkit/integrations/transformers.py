"""Hugging Face ``transformers``: a ``TrainerCallback`` for dropout-rate schedules and MC-dropout evaluation.

- :class:`DropoutSchedule` sets every dropout rate a model has from one of :mod:`dropkit.schedules`' rate
  functions (early / late dropout, Liu et al. 2023, https://arxiv.org/abs/2303.01500; curriculum dropout,
  Morerio et al. 2017, https://arxiv.org/abs/1703.06229; linear ramp; constant) at the start of every
  optimizer step. Hugging Face models hold attention dropout in three ways, and all three are set:

  * an ``nn.Dropout`` whose ``p`` the attention reads at forward time (BERT:
    ``dropout=0.0 if not self.training else self.dropout.p``; GPT-2's ``attn_dropout``);
  * a float attribute copied from the config when the model was built (Llama, Mistral, Qwen2:
    ``self.attention_dropout``), which changing ``config.attention_dropout`` afterwards does not reach;
  * the config itself, read at forward time (Persimmon: ``self.config.attention_dropout``; GPT-Neo's and
    Falcon's flash-attention paths), which changing the modules does not reach.

  Hidden, embedding and classifier dropout are ``nn.Dropout`` modules. Every config key whose name
  contains ``drop`` (``hidden_dropout_prob``, ``attention_probs_dropout_prob``, ``attn_pdrop``, ...) follows
  the schedule too, so a checkpoint's ``config.json`` records the rate in effect when it was saved; call
  :meth:`DropoutSchedule.restore` before ``save_pretrained`` to write the build-time rates.
- :func:`mc_evaluate` scores a ``Trainer``'s classifier on its evaluation set with T stochastic passes
  (MC dropout, Gal & Ghahramani 2016, https://arxiv.org/abs/1506.02142) against the deterministic pass:
  accuracy, NLL, Brier score, ECE, predictive entropy and mutual information, the metrics of
  ``dropkit uncertainty``, per example (sequence / image classification) or per labelled token (token
  classification, causal language models, with the labels shifted as their loss shifts them). Dropout is switched on with :func:`~dropkit.surgery.mc_mode`, so LayerNorm and
  BatchNorm stay in eval, and attention dropout keyed on the attention module's own ``training`` flag is
  on too.

Needs ``transformers`` (``pip install 'dropkit[transformers]'``). ``transformers`` imports torchvision when it
is installed; a torchvision build that does not match torch stops that import (the error says what to do);
without torchvision everything here works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dropkit._validation import check_bool, check_positive_int
from dropkit.integrations._imports import import_library
from dropkit.integrations._schedule import ModelRates, ScheduleSpec
from dropkit.surgery.stochastic import has_stochastic_layer
from dropkit.evaluation.uncertainty import Predictions, score
from dropkit.uncertainty.mc_predict import mc_predict

_tc = import_library("dropkit.integrations.transformers", "transformers.trainer_callback", package="transformers",
                     extra="transformers")
TrainerCallback = _tc.TrainerCallback

__all__ = ["DropoutSchedule", "mc_evaluate"]


class _TransformersOnly:
    """Refuse, with a clear message, to run as a Lightning callback: Lightning reads ``state_key`` and calls
    ``setup`` first, and ``on_exception`` when that fails."""

    def _refuse(self) -> TypeError:
        return TypeError(
            f"{type(self).__name__}: callback must be used with a transformers Trainer, got a Lightning Trainer; use "
            "dropkit.integrations.lightning.DropoutSchedule / MCDropout there"
        )

    @property
    def state_key(self) -> str:
        raise self._refuse()

    def setup(self, *args: Any, **kwargs: Any) -> None:
        raise self._refuse()

    def on_exception(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's hook after a failed ``fit``: nothing to undo."""


class DropoutSchedule(_TransformersOnly, TrainerCallback):
    """A ``TrainerCallback`` that sets every dropout rate of the model from a schedule at each optimizer step.

    The step is ``state.global_step`` (optimizer steps taken so far, 0 at the first), so training resumed
    from a checkpoint continues the schedule and the micro-batches of one accumulation step share a rate.
    The rates found when training starts are the base rates (reused by a second ``train()`` on the same
    model). The rate in effect is added to every training log (``logs[log_name]``, also in
    ``state.log_history`` and so in ``trainer_state.json``); reporting callbacks listed before this one
    (``report_to``) are called first and do not see it. :attr:`history` has one entry per step.

    Args:
        schedule: a name in :data:`~dropkit.schedules.SCHEDULE_NAMES` (``"constant"``, ``"linear"``,
            ``"early"``, ``"late"``, ``"curriculum"``) or a callable ``step -> value`` (default: ``"linear"``).
        p: peak of a named schedule: the rate (probability of **dropping**) every dropout gets when
            ``relative=False`` (required then); the peak factor when ``relative=True`` (default: None, 1.0).
        relative: the value multiplies each rate as the model was built (attention and hidden dropout keep
            their ratio) instead of replacing it (default: False).
        total_steps: the run's length in optimizer steps (default: None: ``state.max_steps``).
        cutoff: ``"early"`` / ``"late"``: switching step (required); ``"linear"``: end of the ramp (default:
            None: ``total_steps``); a fraction in ``(0, 1)`` or a whole step.
        start_p: ``"linear"``: value at step 0 (default: 0.0).
        linear: ``"early"``: decrease linearly to 0 instead of holding ``p`` (default: False).
        gamma: ``"curriculum"``: speed > 0 (default: None, ``10 / total_steps``).
        select: ``(name, module) -> bool`` choosing the modules (default: None: every ``nn.Dropout*``,
            dropout-named module and attention module holding a float dropout rate).
        configs: also set the dropout keys of the model's configs (default: True).
        log_name: key added to the training logs, or None (default: ``"dropout_rate"``).

    Attributes:
        history: ``[(step, rate), ...]``, one entry per optimizer step; ``rate`` is the mean over the
            module rates (over those built > 0 when ``relative``).
        rates: every scheduled rate by name (``"bert.encoder.layer.0.attention.self.dropout.p"``,
            ``"config.attention_probs_dropout_prob"``), read back from the modules and configs.

    Example:
        >>> import tempfile, torch, transformers
        >>> from dropkit.integrations.transformers import DropoutSchedule
        >>> config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ...                                  intermediate_size=32, max_position_embeddings=8)
        >>> model = transformers.BertForSequenceClassification(config)
        >>> data = [{"input_ids": torch.randint(0, 30, (8,)), "labels": torch.tensor(i % 2)} for i in range(16)]
        >>> args = transformers.TrainingArguments(tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=4,
        ...                                       report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no")
        >>> sched = DropoutSchedule("late", p=0.2, cutoff=2)
        >>> trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[sched])
        >>> trainer.remove_callback(transformers.PrinterCallback)  # keeps this example's output quiet
        >>> _ = trainer.train()
        >>> sched.history, model.config.attention_probs_dropout_prob
        ([(0, 0.0), (1, 0.0), (2, 0.2), (3, 0.2)], 0.2)
    """

    def __init__(
        self,
        schedule: str | Callable[[int], float] = "linear",
        p: float | None = None,
        *,
        relative: bool = False,
        total_steps: int | None = None,
        cutoff: float | int | None = None,
        start_p: float = 0.0,
        linear: bool = False,
        gamma: float | None = None,
        select: Callable[[str, nn.Module], bool] | None = None,
        configs: bool = True,
        log_name: str | None = "dropout_rate",
    ) -> None:
        self.spec = ScheduleSpec(
            type(self).__name__, schedule, p, relative=relative, total_steps=total_steps, cutoff=cutoff,
            start_p=start_p, linear=linear, gamma=gamma, select=select, configs=configs, log_name=log_name,
        )
        self.log_name = self.spec.log_name
        self._rates: ModelRates | None = None
        self._model_id: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: nn.Module | None = None, **kwargs: Any) -> None:
        where = type(self).__name__
        if model is None:
            raise ValueError(f"{where}: the Trainer must pass its model to on_train_begin, got None")
        if self._rates is not None and self._model_id == id(model):
            return
        total = self.spec.total_steps
        if total is None and isinstance(self.spec.schedule, str):
            total = int(state.max_steps)
            if total < 1:
                raise ValueError(f"{where}: total_steps must be given when state.max_steps is unknown, got {total}")
        self._rates = self.spec.build(model, total)
        self._model_id = id(model)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._rates is None:
            raise RuntimeError(f"{type(self).__name__}: on_step_begin before on_train_begin; add the callback to the Trainer")
        self._rates.step(int(state.global_step))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.log_name is None or self._rates is None or not self._rates.history or logs is None:
            return
        if "loss" not in logs and "train_loss" not in logs:
            return  # evaluation and other logs
        rate = self._rates.history[-1][1]
        logs[self.log_name] = rate
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1][self.log_name] = rate

    def restore(self) -> None:
        """Put every rate (modules and configs) back as it was when training started."""
        if self._rates is not None:
            self._rates.restore()

    @property
    def history(self) -> list[tuple[int, float]]:
        return [] if self._rates is None else list(self._rates.history)

    @property
    def rates(self) -> dict[str, float]:
        return {} if self._rates is None else self._rates.rates

    def __repr__(self) -> str:
        return repr(self.spec)


class _KeywordModel(nn.Module):
    """Call a Hugging Face model with its main input as the one positional tensor that
    :func:`~dropkit.uncertainty.mc_predict` replicates along the batch; the other per-row inputs
    (``attention_mask``, ``token_type_ids``, ...) are repeated to match, and the logits are returned."""

    def __init__(self, model: nn.Module, input_key: str, others: dict[str, Any], rows: int) -> None:
        super().__init__()
        self.model = model
        self.input_key = input_key
        self.others = others
        self.rows = rows

    def forward(self, x: Tensor) -> Tensor:
        reps = x.shape[0] // self.rows
        kw = {
            k: v.repeat(reps, *([1] * (v.dim() - 1))) if isinstance(v, Tensor) and v.dim() and v.shape[0] == self.rows else v
            for k, v in self.others.items()
        }
        return _logits("mc_evaluate", self.model(**{self.input_key: x}, **kw))


def _logits(where: str, out: Any) -> Tensor:
    logits = getattr(out, "logits", None)
    if logits is None and isinstance(out, (tuple, list)) and out:
        logits = out[0]
    if logits is None and isinstance(out, Tensor):
        logits = out
    if not isinstance(logits, Tensor):
        raise TypeError(f"{where}: the model output must have .logits, got {type(out).__name__}")
    if logits.dim() not in (2, 3) or logits.shape[-1] < 2:
        raise ValueError(
            f"{where}: needs classification logits of shape (N, C) or per-token logits (N, L, C), C >= 2, got shape "
            f"{tuple(logits.shape)}"
        )
    return logits


IGNORE_INDEX = -100  # the label Hugging Face's collators and losses leave out (padding, prompt tokens)


def _scored_rows(
    where: str, probs: Tensor, ent: Tensor, mi: Tensor | None, y: Tensor, shift: bool
) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    """The rows that are scored: ``(N, C)`` as they are; ``(N, L, C)`` one row per token, position ``t``
    scored against label ``t + 1`` when ``shift`` (causal LMs), labels equal to -100 left out."""
    if probs.dim() == 2:
        if y.dim() != 1 or y.shape[0] != probs.shape[0]:
            raise ValueError(f"{where}: labels must have shape ({probs.shape[0]},) for logits {tuple(probs.shape)}, got {tuple(y.shape)}")
        return probs, ent, mi, y
    if tuple(y.shape) != tuple(probs.shape[:2]):
        raise ValueError(f"{where}: labels must have shape {tuple(probs.shape[:2])} for per-token logits "
                         f"{tuple(probs.shape)}, got {tuple(y.shape)}")
    if shift:
        probs, ent, y = probs[:, :-1], ent[:, :-1], y[:, 1:]
        mi = None if mi is None else mi[:, :-1]
    keep = y != IGNORE_INDEX
    return probs[keep], ent[keep], None if mi is None else mi[keep], y[keep]


def _is_causal_lm(model: nn.Module) -> bool:
    return type(model).__name__.endswith(("ForCausalLM", "LMHeadModel"))


def mc_evaluate(
    trainer: Any,
    eval_dataset: Any = None,
    *,
    samples: int = 20,
    seed: int = 0,
    label_key: str = "labels",
    input_key: str | None = None,
    deterministic: bool = True,
    shift_labels: bool | None = None,
    metric_key_prefix: str = "mc",
    log: bool = True,
) -> dict[str, float]:
    """Evaluate a ``transformers.Trainer``'s classifier with MC dropout and score it with :mod:`dropkit.uncertainty`.

    Batches come from ``trainer.get_eval_dataloader(eval_dataset)`` (the Trainer's collator, batch size and
    column handling) on ``trainer.args.device``. Each batch runs ``samples`` stochastic passes through
    :func:`~dropkit.uncertainty.mc_predict` (seed ``seed + i`` for batch ``i``, so the result does not
    depend on the global RNG), and, with ``deterministic=True``, one pass in eval mode; every module's
    ``training`` flag is restored afterwards.

    Args:
        trainer: a ``transformers.Trainer`` whose model returns classification logits ``(N, C)`` (sequence or
            image classification) or per-token logits ``(N, L, C)`` (token classification, language models:
            every labelled token is one scored row).
        eval_dataset: the data (default: None: ``trainer.eval_dataset``).
        samples: T, stochastic passes per batch (default: 20).
        seed: seeds the dropout masks (default: 0).
        label_key: the batch key holding class indices (default: ``"labels"``).
        input_key: the batch key of the input replicated over passes (default: None: the model's
            ``main_input_name``, e.g. ``"input_ids"`` or ``"pixel_values"``).
        deterministic: also score the deterministic (eval-mode) pass (default: True).
        shift_labels: with per-token logits ``(N, L, C)``, score position ``t`` against label ``t + 1``, as
            causal LMs' losses do (default: None: True for ``*ForCausalLM`` / ``*LMHeadModel`` classes).
            Tokens labelled -100 are left out.
        metric_key_prefix: prefix of the MC metric names (default: ``"mc"``; the deterministic ones get
            ``"<prefix>_deterministic"``).
        log: also record the metrics with ``trainer.log`` (log history, reporting callbacks) (default: True).

    Returns:
        ``{"mc_accuracy", "mc_nll", "mc_brier", "mc_ece", "mc_mean_entropy", "mc_mean_mutual_information",
        "mc_seconds", "mc_samples", "mc_rows"}`` (NLL and entropies in nats; ECE over 15 bins; rows: the
        examples or tokens scored) and, with
        ``deterministic``, the same scores as ``"mc_deterministic_accuracy"``, ...

    Raises:
        TypeError: ``trainer`` is not a ``transformers.Trainer``.
        ValueError: no stochastic layer, missing label or input key, logits not ``(N, C)`` / ``(N, L, C)``,
            labels of another shape, no data.

    Example:
        >>> import tempfile, torch, transformers
        >>> from dropkit.integrations.transformers import mc_evaluate
        >>> config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ...                                  intermediate_size=32, max_position_embeddings=8)
        >>> model = transformers.BertForSequenceClassification(config)
        >>> data = [{"input_ids": torch.randint(0, 30, (8,)), "labels": torch.tensor(i % 2)} for i in range(12)]
        >>> args = transformers.TrainingArguments(tempfile.mkdtemp(), per_device_eval_batch_size=6, report_to=[],
        ...                                       use_cpu=True, disable_tqdm=True)
        >>> trainer = transformers.Trainer(model=model, args=args, eval_dataset=data)
        >>> metrics = mc_evaluate(trainer, samples=10, log=False)
        >>> sorted(k for k in metrics if not k.startswith("mc_deterministic"))  # doctest: +NORMALIZE_WHITESPACE
        ['mc_accuracy', 'mc_brier', 'mc_ece', 'mc_mean_entropy', 'mc_mean_mutual_information', 'mc_nll',
         'mc_rows', 'mc_samples', 'mc_seconds']
        >>> metrics["mc_mean_mutual_information"] > 0
        True
    """
    where = "mc_evaluate"
    import transformers

    if not isinstance(trainer, transformers.Trainer):
        hint = (" use dropkit.integrations.lightning.MCDropout with a Lightning Trainer"
                if type(trainer).__module__.startswith(("lightning", "pytorch_lightning")) else "")
        raise TypeError(f"{where}: trainer must be a transformers.Trainer, got {type(trainer).__name__};{hint}".rstrip(";"))
    samples = check_positive_int(where, "samples", samples)
    seed = check_positive_int(where, "seed", seed, minimum=0)
    if not isinstance(metric_key_prefix, str) or not metric_key_prefix:
        raise TypeError(f"{where}: metric_key_prefix must be a non-empty str, got {metric_key_prefix!r}")
    model = trainer.model
    if not has_stochastic_layer(model):
        raise ValueError(
            f"{where}: the model must contain a stochastic layer (dropout with a rate > 0), got {type(model).__name__} "
            f"with none, so all {samples} passes would be identical; build it with hidden_dropout_prob > 0 (or the "
            "model's dropout keys) or add dropout with dropkit.surgery.insert_dropout"
        )
    input_key = input_key or getattr(model, "main_input_name", "input_ids")
    shift = _is_causal_lm(model) if shift_labels is None else check_bool(where, "shift_labels", shift_labels)
    loader = trainer.get_eval_dataloader(eval_dataset)
    device = trainer.args.device
    mc_probs, mc_ent, mc_mi, det_probs, det_ent, labels = [], [], [], [], [], []
    mc_seconds = det_seconds = 0.0
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        for i, batch in enumerate(loader):
            batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in dict(batch).items()}
            for key, what in ((label_key, "label_key"), (input_key, "input_key")):
                if key not in batch:
                    raise ValueError(f"{where}: {what} must name a key of the batch ({', '.join(sorted(batch))}), got {key!r}")
            y = batch.pop(label_key)
            x = batch.pop(input_key)
            t0 = time.perf_counter()
            pred = mc_predict(_KeywordModel(model, input_key, batch, x.shape[0]), x, samples, seed=seed + i,
                              reuse_prefix=False)
            mc_seconds += time.perf_counter() - t0
            rows = _scored_rows(where, pred.mean.double().cpu(), pred.entropy.double().cpu(),
                                pred.mutual_information.double().cpu(), y.long().cpu(), shift)
            mc_probs.append(rows[0])
            mc_ent.append(rows[1])
            mc_mi.append(rows[2])
            labels.append(rows[3])
            if deterministic:
                t0 = time.perf_counter()
                with torch.no_grad():
                    p = torch.softmax(_logits(where, model(**{input_key: x}, **batch)).double(), -1).cpu()
                det_seconds += time.perf_counter() - t0
                rows = _scored_rows(where, p, -(p * p.clamp_min(1e-30).log()).sum(-1), None, y.long().cpu(), shift)
                det_probs.append(rows[0])
                det_ent.append(rows[1])
    finally:
        for m, flag in flags:  # each module's own flag, mixed flags included
            m.training = flag
    if not labels or not sum(len(t) for t in labels):
        raise ValueError(f"{where}: eval_dataset must have at least one labelled row, got none")
    y = torch.cat(labels)
    prefix = metric_key_prefix
    mc = score(Predictions(torch.cat(mc_probs), torch.cat(mc_ent), torch.cat(mc_mi), mc_seconds), y)
    metrics = {f"{prefix}_{k}": v for k, v in mc.items()}
    metrics[f"{prefix}_samples"] = samples
    metrics[f"{prefix}_rows"] = int(y.numel())
    if deterministic:
        det = score(Predictions(torch.cat(det_probs), torch.cat(det_ent), None, det_seconds), y)
        metrics.update({f"{prefix}_deterministic_{k}": v for k, v in det.items()})
    if log:
        trainer.log(dict(metrics))
    return metrics

