"""Lightning callbacks: dropout-rate schedules during ``fit`` and MC dropout in ``predict`` / ``test``.

- :class:`DropoutSchedule` sets every dropout rate of the ``LightningModule`` from one of
  :mod:`dropkit.schedules`' rate functions (constant, linear ramp, early / late dropout of Liu et al. 2023,
  https://arxiv.org/abs/2303.01500, curriculum dropout of Morerio et al. 2017,
  https://arxiv.org/abs/1703.06229) before each optimizer step, and logs the rate applied.
- :class:`MCDropout` keeps dropout stochastic in ``Trainer.predict`` and ``Trainer.test`` while
  normalisation layers stay in eval (:func:`~dropkit.surgery.mc_mode`), and with ``samples=T`` makes
  ``predict`` return :func:`~dropkit.uncertainty.mc_predict`'s :class:`~dropkit.uncertainty.MCPrediction`
  per batch (Gal & Ghahramani 2016, https://arxiv.org/abs/1506.02142). Lightning calls ``model.eval()``
  before ``predict`` and ``test`` and treats dropout in those loops as "working as intended"
  (Lightning-AI/pytorch-lightning#21410); calling ``model.train()`` instead would also put BatchNorm in
  training mode and overwrite its running statistics. The callback switches the flags after Lightning's
  ``eval()`` (in ``on_predict_start`` / ``on_test_start``) and restores every module's flag at the end.

Needs ``lightning`` (``pip install 'dropkit[lightning]'``); ``pytorch_lightning`` users: these callbacks
subclass ``lightning.pytorch.Callback``, the same package under its unified name.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from dropkit._validation import check_bool, check_choice, check_positive_int
from dropkit.integrations._imports import import_library
from dropkit.integrations._schedule import ModelRates, ScheduleSpec
from dropkit.surgery.mc_mode import mc_mode
from dropkit.surgery.stochastic import has_stochastic_layer
from dropkit.uncertainty.mc_predict import OUTPUTS, TASKS, MCPrediction, mc_predict

_pl = import_library("dropkit.integrations.lightning", "lightning.pytorch", package="lightning", extra="lightning")
Callback = _pl.Callback

__all__ = ["DropoutSchedule", "MCDropout", "default_input"]

STAGES = ("predict", "test", "validate")


class _LightningOnly:
    """Refuse, with a clear message, to run as a Hugging Face ``TrainerCallback`` (whose first event is
    ``on_init_end(args, state, control)``)."""

    def on_init_end(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        raise TypeError(
            f"{name}: callback must be used with lightning.pytorch.Trainer, got a transformers Trainer; use "
            f"dropkit.integrations.transformers.{'DropoutSchedule' if name == 'DropoutSchedule' else 'mc_evaluate'} there"
        )


class DropoutSchedule(_LightningOnly, Callback):
    """Set the model's dropout rates from a schedule before every optimizer step, and log the rate applied.

    The step is ``trainer.global_step`` (optimizer steps taken so far, 0 at the first batch), so a run
    resumed from a checkpoint continues the schedule where it stopped, and the batches of one gradient-
    accumulation step share a rate. The rates found when ``fit`` starts are the base rates (reused by later
    ``fit`` calls on the same module); after ``fit`` the modules keep the last rate applied (:meth:`restore`
    puts the base rates back). A wrapped Hugging Face model's attention dropout is reached wherever it is held
    (see :mod:`dropkit.integrations.transformers`).

    Args:
        schedule: a name in :data:`~dropkit.schedules.SCHEDULE_NAMES` (``"constant"``, ``"linear"``,
            ``"early"``, ``"late"``, ``"curriculum"``; see :func:`~dropkit.schedules.make_schedule`) or a
            callable ``step -> value`` (default: ``"linear"``).
        p: peak of a named schedule: the rate (probability of **dropping**) every selected layer gets when
            ``relative=False`` (required then); the peak factor when ``relative=True`` (default: None, 1.0).
        relative: the schedule's value multiplies each layer's own rate (as built) instead of replacing it,
            keeping per-layer differences such as depth-wise DropPath rates; ``dropkit train`` applies
            ``p_schedule`` this way (default: False).
        total_steps: the run's length in optimizer steps, for named schedules (default: None:
            ``trainer.estimated_stepping_batches``).
        cutoff: ``"early"`` / ``"late"``: the switching step (required); ``"linear"``: end of the ramp
            (default: None: ``total_steps``); a fraction in ``(0, 1)`` or a whole step.
        start_p: ``"linear"``: the value at step 0 (default: 0.0).
        linear: ``"early"``: decrease linearly to 0 instead of holding ``p`` (default: False).
        gamma: ``"curriculum"``: speed > 0 (default: None, ``10 / total_steps``).
        select: ``(name, module) -> bool`` choosing the modules (default: None: every dropout-like module,
            see :func:`dropkit.integrations._schedule.is_rate_module`).
        configs: also set the dropout keys of a wrapped Hugging Face model's ``config`` (default: True).
        log_name: key under which ``LightningModule.log`` records the rate each step (``on_step=True``),
            or None to log nothing (default: ``"dropout_rate"``).

    Attributes:
        history: ``[(step, rate), ...]``, one entry per training batch.
        rates: the current rate of every scheduled attribute, read back from the modules.

    Raises:
        ValueError: an unknown schedule name, a bad rate, no dropout in the model, or ``relative=True`` on a
            model whose rates are all 0.

    Example:
        >>> import lightning as L, torch
        >>> from torch import nn
        >>> from dropkit.integrations.lightning import DropoutSchedule
        >>> class Net(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
        ...     def training_step(self, batch, batch_idx):
        ...         x, y = batch
        ...         return nn.functional.cross_entropy(self.net(x), y)
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.1)
        >>> data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
        >>> sched = DropoutSchedule("early", p=0.3, cutoff=2)
        >>> trainer = L.Trainer(max_steps=4, callbacks=[sched], logger=False, enable_checkpointing=False,
        ...                     enable_progress_bar=False, enable_model_summary=False)
        >>> trainer.fit(Net(), torch.utils.data.DataLoader(data, batch_size=8))
        >>> sched.history
        [(0, 0.3), (1, 0.3), (2, 0.0), (3, 0.0)]
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
        self._module_id: int | None = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        if self._rates is not None and self._module_id == id(pl_module):
            return  # a second fit on the same module: keep the base rates found the first time
        total = None
        if self.spec.total_steps is None and isinstance(self.spec.schedule, str):
            estimated = trainer.estimated_stepping_batches
            if not (isinstance(estimated, (int, float)) and math.isfinite(estimated)):
                raise ValueError(
                    f"{type(self).__name__}: total_steps must be given when the trainer's length is not known (set "
                    f"max_steps or max_epochs), got trainer.estimated_stepping_batches={estimated!r}"
                )
            total = int(estimated)
        self._rates = self.spec.build(pl_module, total)
        self._module_id = id(pl_module)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        assert self._rates is not None, "setup(stage='fit') builds the rates"
        rate = self._rates.step(int(trainer.global_step))
        if self.log_name is not None:
            pl_module.log(self.log_name, rate, on_step=True, on_epoch=False)

    def restore(self) -> None:
        """Put every scheduled rate (modules and configs) back as it was when ``fit`` first started."""
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


def default_input(batch: Any) -> Tensor:
    """The model input of a batch: the batch itself when it is a tensor, else the first item of a tuple / list.

    Example:
        >>> import torch
        >>> default_input((torch.zeros(2, 3), torch.ones(2))).shape
        torch.Size([2, 3])
    """
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    raise TypeError(
        f"MCDropout: batch must be a Tensor or a tuple / list whose first item is the input Tensor, got "
        f"{type(batch).__name__}; pass input_fn=lambda batch: ... returning the model's input"
    )


class MCDropout(_LightningOnly, Callback):
    """Keep dropout stochastic in ``Trainer.predict`` / ``Trainer.test`` with normalisation in eval; with
    ``samples=T``, ``predict`` returns an :class:`~dropkit.uncertainty.MCPrediction` per batch.

    Inside the chosen loops every module's ``training`` flag is set as :func:`~dropkit.surgery.mc_mode`
    sets it (``True`` except normalisation layers and modules holding running statistics, which stay in
    eval, so BatchNorm statistics are never updated); each module's flag is restored when the loop ends.
    With ``samples=None`` the module's own ``predict_step`` / ``test_step`` run as written, each call one
    stochastic pass. With ``samples=T`` the ``predict_step`` is replaced, for that loop only, by
    :func:`~dropkit.uncertainty.mc_predict` on ``input_fn(batch)`` (``T`` passes through the module's
    ``forward``, replicated along the batch dimension). In ``test_step`` call ``mc_predict(self, x, T)``
    yourself to score T passes.

    Args:
        samples: T, the passes per batch in ``predict`` (default: None: keep ``predict_step`` as it is).
        stages: the loops to run stochastically, among ``"predict"``, ``"test"``, ``"validate"`` (default:
            ``("predict", "test")``; ``"validate"`` also covers validation inside ``fit``).
        task: ``"classification"`` (logits ``(N, C)``) or ``"regression"`` (default: ``"classification"``).
        output: classification outputs are ``"logits"``, ``"log_probs"`` or ``"probs"`` (default: ``"logits"``).
        output_transform: maps the ``forward`` output to a tensor (default: None).
        seed: batch ``i`` of dataloader ``j`` uses ``seed + i + 1_000_003 j``, so predictions do not depend on
            the global RNG (default: None: the global RNG).
        chunk_size: passes per replicated forward call (default: None: chosen from a memory budget).
        return_samples: keep every pass in ``MCPrediction.samples`` (default: False).
        input_fn: ``batch -> Tensor`` giving the model input (default: None: :func:`default_input`).
        keep_eval: extra modules to keep in eval, as in :func:`~dropkit.surgery.mc_mode` (default: None).

    Raises:
        ValueError: a bad argument, or (when a loop starts) a module with no stochastic layer.

    Example:
        >>> import lightning as L, torch
        >>> from torch import nn
        >>> from dropkit.integrations.lightning import MCDropout
        >>> class Net(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
        ...     def forward(self, x):
        ...         return self.net(x)
        >>> loader = torch.utils.data.DataLoader(torch.randn(10, 4), batch_size=5)
        >>> trainer = L.Trainer(callbacks=[MCDropout(samples=20, seed=0)], logger=False,
        ...                     enable_progress_bar=False, enable_model_summary=False)
        >>> preds = trainer.predict(Net(), loader)
        >>> len(preds), preds[0].samples_used, tuple(preds[0].mean.shape), tuple(preds[0].mutual_information.shape)
        (2, 20, (5, 3), (5,))
    """

    def __init__(
        self,
        samples: int | None = None,
        *,
        stages: Sequence[str] = ("predict", "test"),
        task: str = "classification",
        output: str = "logits",
        output_transform: Callable[[Any], Tensor] | None = None,
        seed: int | None = None,
        chunk_size: int | None = None,
        return_samples: bool = False,
        input_fn: Callable[[Any], Tensor] | None = None,
        keep_eval: type | tuple[type, ...] | Callable[[str, nn.Module], bool] | None = None,
    ) -> None:
        where = type(self).__name__
        if samples is not None:
            samples = check_positive_int(where, "samples", samples)
        if isinstance(stages, str):
            stages = (stages,)
        stages = tuple(check_choice(where, "stages", s, STAGES) for s in stages)
        if not stages:
            raise ValueError(f"{where}: stages must name at least one of {', '.join(STAGES)}, got ()")
        if seed is not None:
            seed = check_positive_int(where, "seed", seed, minimum=0)
        if chunk_size is not None:
            chunk_size = check_positive_int(where, "chunk_size", chunk_size)
        for name, fn in (("output_transform", output_transform), ("input_fn", input_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{where}: {name} must be callable, got {type(fn).__name__}")
        self.samples = samples
        self.stages = stages
        self.task = check_choice(where, "task", task, TASKS)
        self.output = check_choice(where, "output", output, OUTPUTS)
        self.output_transform = output_transform
        self.seed = seed
        self.chunk_size = chunk_size
        self.return_samples = check_bool(where, "return_samples", return_samples)
        self.input_fn = default_input if input_fn is None else input_fn
        self.keep_eval = keep_eval
        self._stack: contextlib.ExitStack | None = None

    # --- entering and leaving MC mode -------------------------------------------------------------
    def _enter(self, pl_module: Any, stage: str) -> None:
        if stage not in self.stages:
            return
        if not has_stochastic_layer(pl_module):
            raise ValueError(
                f"{type(self).__name__}: the LightningModule must contain a stochastic layer (dropout, DropPath, ... "
                f"with a rate > 0) for stochastic {stage}, got {type(pl_module).__name__} with none; add dropout "
                "(dropkit.surgery.insert_dropout) or build it with a rate"
            )
        self._exit(pl_module)
        stack = contextlib.ExitStack()
        stack.enter_context(mc_mode(pl_module, keep_eval=self.keep_eval))
        if stage == "predict" and self.samples is not None:
            pl_module.predict_step = self._mc_predict_step(pl_module)
            stack.callback(_forget_attribute, pl_module, "predict_step")
        self._stack = stack

    def _exit(self, pl_module: Any) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    def _mc_predict_step(self, pl_module: Any) -> Callable[..., MCPrediction]:
        def predict_step(batch: Any, batch_idx: int = 0, dataloader_idx: int = 0) -> MCPrediction:
            seed = None if self.seed is None else self.seed + batch_idx + 1_000_003 * dataloader_idx
            return mc_predict(
                pl_module, self.input_fn(batch), self.samples, task=self.task, output=self.output,
                output_transform=self.output_transform, seed=seed, chunk_size=self.chunk_size,
                return_samples=self.return_samples,
            )

        return predict_step

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._enter(pl_module, "predict")

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._exit(pl_module)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._enter(pl_module, "test")

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._exit(pl_module)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._enter(pl_module, "validate")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._exit(pl_module)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._exit(pl_module)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(samples={self.samples}, stages={self.stages})"


def _forget_attribute(obj: Any, name: str) -> None:
    """Remove an instance attribute set over a method, so the class's method shows again."""
    if name in vars(obj):
        delattr(obj, name)
