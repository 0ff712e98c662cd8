"""dropkit.integrations.lightning with the real Lightning Trainer: schedules read back from the modules at
every step and logged, MC dropout in predict / test with BatchNorm statistics untouched, clear errors."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

L = pytest.importorskip("lightning")

from dropkit.integrations.lightning import DropoutSchedule, MCDropout, default_input  # noqa: E402
from dropkit.schedules import make_schedule  # noqa: E402
from dropkit.uncertainty import MCPrediction  # noqa: E402


def trainer_kwargs(tmp_path, **kw):
    base = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                default_root_dir=tmp_path, accelerator="cpu", devices=1)
    base.update(kw)
    return base


class Net(L.LightningModule):
    """An MLP with BatchNorm and two dropouts at different rates; records every dropout rate at each step."""

    def __init__(self, p1: float = 0.5, p2: float = 0.1, batchnorm: bool = True) -> None:
        super().__init__()
        norm = nn.BatchNorm1d(16) if batchnorm else nn.Identity()
        self.net = nn.Sequential(nn.Linear(4, 16), norm, nn.ReLU(), nn.Dropout(p1), nn.Linear(16, 16), nn.ReLU(),
                                 nn.Dropout(p2), nn.Linear(16, 3))
        self.seen: list[tuple[int, list[float]]] = []
        self.test_outputs: list[torch.Tensor] = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        self.seen.append((self.global_step, [m.p for m in self.modules() if isinstance(m, nn.Dropout)]))
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def test_step(self, batch, batch_idx):
        x, _ = batch
        self.test_outputs.append(torch.stack([self(x), self(x)]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def loader(n: int = 48, batch_size: int = 8, labels: bool = True):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    data = torch.utils.data.TensorDataset(x, torch.randint(0, 3, (n,), generator=g)) if labels else x
    return torch.utils.data.DataLoader(data, batch_size=batch_size)


SCHEDULES = [
    ("constant", {}),
    ("linear", {"start_p": 0.05}),
    ("early", {"cutoff": 3}),
    ("early", {"cutoff": 4, "linear": True}),
    ("late", {"cutoff": 0.5}),
    ("curriculum", {"gamma": 0.4}),
]


@pytest.mark.parametrize(("name", "options"), SCHEDULES, ids=[f"{n}-{sorted(o)}" for n, o in SCHEDULES])
def test_schedule_sets_every_dropout_each_step(tmp_path, name, options) -> None:
    steps = 6
    model = Net()
    sched = DropoutSchedule(name, p=0.4, **options)
    logger = L.pytorch.loggers.CSVLogger(tmp_path, name="log")
    trainer = L.Trainer(**trainer_kwargs(tmp_path, max_steps=steps, callbacks=[sched], logger=logger,
                                         log_every_n_steps=1))
    trainer.fit(model, loader())
    expected = make_schedule(name, 0.4, total_steps=steps, **options)
    # read back from the modules inside training_step, at every step
    assert [s for s, _ in model.seen] == list(range(steps))
    for step, rates in model.seen:
        assert rates == pytest.approx([expected(step)] * 2, abs=1e-12), step
    assert sched.history == [(s, pytest.approx(expected(s), abs=1e-12)) for s in range(steps)]
    assert set(sched.rates) == {"net.3.p", "net.6.p"}
    # logged once per step under "dropout_rate"
    with open(logger.log_dir + "/metrics.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("dropout_rate")]
    assert [int(r["step"]) for r in rows] == list(range(steps))
    assert [float(r["dropout_rate"]) for r in rows] == pytest.approx([expected(s) for s in range(steps)], abs=1e-6)


def test_schedule_is_not_constant_where_it_should_change(tmp_path) -> None:
    # the test above would pass with a callback that does nothing only if rates stayed at 0.5 / 0.1: check
    # the early schedule really moved both layers away from their build-time rates
    model = Net(0.5, 0.1)
    trainer = L.Trainer(**trainer_kwargs(tmp_path, max_steps=4, callbacks=[DropoutSchedule("early", p=0.3, cutoff=2)]))
    trainer.fit(model, loader())
    assert [r for _, r in model.seen] == [[0.3, 0.3], [0.3, 0.3], [0.0, 0.0], [0.0, 0.0]]


def test_gradient_accumulation_shares_one_rate_per_optimizer_step(tmp_path) -> None:
    model = Net()
    sched = DropoutSchedule("linear", p=0.3, total_steps=3)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=3, accumulate_grad_batches=2, callbacks=[sched])).fit(model, loader())
    assert [s for s, _ in model.seen] == [0, 0, 1, 1, 2, 2]
    assert [r[0] for _, r in model.seen] == pytest.approx([0.0, 0.0, 0.1, 0.1, 0.2, 0.2])


def test_relative_keeps_per_layer_ratio_and_a_callable_schedule(tmp_path) -> None:
    model = Net(0.5, 0.1)
    sched = DropoutSchedule(lambda step: 1.0 if step < 2 else 0.5, relative=True)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=4, callbacks=[sched])).fit(model, loader())
    assert [r for _, r in model.seen] == [[0.5, 0.1], [0.5, 0.1], [0.25, 0.05], [0.25, 0.05]]
    assert [r for _, r in sched.history] == pytest.approx([0.3, 0.3, 0.15, 0.15])


def test_second_fit_keeps_the_base_rates(tmp_path) -> None:
    model = Net(0.5, 0.1)
    sched = DropoutSchedule("late", relative=True, cutoff=2)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=3, callbacks=[sched])).fit(model, loader())
    assert model.seen[-1][1] == [0.5, 0.1]
    model.seen.clear()
    # a new trainer at step 0 again: the base is still 0.5 / 0.1, not the rates the first fit left behind
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=3, callbacks=[sched])).fit(model, loader())
    assert [r for _, r in model.seen] == [[0.0, 0.0], [0.0, 0.0], [0.5, 0.1]]


def test_resume_from_checkpoint_continues_the_schedule(tmp_path) -> None:
    torch.manual_seed(0)
    first = Net()
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=3, enable_checkpointing=True,
                               callbacks=[DropoutSchedule("linear", p=0.6, total_steps=6), ckpt_cb])).fit(first, loader())
    resumed = Net()
    sched = DropoutSchedule("linear", p=0.6, total_steps=6)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=6, callbacks=[sched])).fit(
        resumed, loader(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert [s for s, _ in sched.history] == [3, 4, 5]
    assert [r for _, rates in resumed.seen for r in rates] == pytest.approx([0.3, 0.3, 0.4, 0.4, 0.5, 0.5])


def test_a_wrapped_hugging_face_model_and_restore(tmp_path) -> None:
    # Persimmon's attention reads self.config.attention_dropout at forward time: the config follows too
    T = pytest.importorskip("transformers")

    class Wrapped(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.lm = T.PersimmonForSequenceClassification(T.PersimmonConfig(
                vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                max_position_embeddings=8, hidden_dropout=0.2, attention_dropout=0.4, pad_token_id=0))
            self.seen = []

        def training_step(self, batch, batch_idx):
            self.seen.append((self.lm.config.attention_dropout, self.lm.model.layers[0].dropout.p))
            return self.lm(input_ids=batch[0], labels=batch[1]).loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Wrapped()
    data = torch.utils.data.TensorDataset(torch.randint(1, 20, (8, 8)), torch.randint(0, 2, (8,)))
    sched = DropoutSchedule("late", relative=True, cutoff=1)
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=2, callbacks=[sched])).fit(
        model, torch.utils.data.DataLoader(data, batch_size=4))
    assert model.seen == [(0.0, 0.0), (0.4, 0.2)]
    assert "config.attention_dropout" in sched.rates
    model.lm.config.attention_dropout = 0.25  # restore() puts back the rates found when fit started
    sched.restore()
    assert model.lm.config.attention_dropout == 0.4 and model.lm.model.layers[0].dropout.p == 0.2


def test_schedule_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"schedule must be one of .*got 'erly' \(did you mean 'early'\?\)"):
        DropoutSchedule("erly", p=0.1, cutoff=2)
    with pytest.raises(ValueError, match="p must be in \\[0, 1\\], got 1.5"):
        DropoutSchedule("linear", p=1.5)
    with pytest.raises(ValueError, match="p must be given for schedule 'linear' with relative=False"):
        DropoutSchedule("linear")
    with pytest.raises(ValueError, match="p must be None when schedule is a callable"):
        DropoutSchedule(lambda s: 0.1, p=0.2)
    with pytest.raises(TypeError, match="schedule must be a schedule name or a callable"):
        DropoutSchedule(0.3)
    for bad in ("", 3):  # checked by ScheduleSpec, as the other arguments
        with pytest.raises(TypeError, match=f"DropoutSchedule: log_name must be a non-empty str or None, got {bad!r}"):
            DropoutSchedule("linear", p=0.1, log_name=bad)
    assert DropoutSchedule("linear", p=0.1, log_name=None).log_name is None
    with pytest.raises(ValueError, match="cutoff must be given for the 'early' schedule"):
        L.Trainer(**trainer_kwargs(tmp_path, max_steps=2, callbacks=[DropoutSchedule("early", p=0.1)])).fit(
            Net(), loader())

    class NoDropout(Net):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 3))

    with pytest.raises(ValueError, match="model must have at least one dropout layer.*got none in NoDropout"):
        L.Trainer(**trainer_kwargs(tmp_path, max_steps=2, callbacks=[DropoutSchedule("linear", p=0.1)])).fit(
            NoDropout(), loader())
    with pytest.raises(ValueError, match="every dropout rate of Net is 0"):
        L.Trainer(**trainer_kwargs(tmp_path, max_steps=2, callbacks=[DropoutSchedule("linear", relative=True)])).fit(
            Net(0.0, 0.0), loader())
    with pytest.raises(ValueError, match="total_steps must be given when the trainer's length is not known"):
        L.Trainer(**trainer_kwargs(tmp_path, max_steps=-1, max_epochs=-1, max_time={"seconds": 60},
                                   callbacks=[DropoutSchedule("linear", p=0.1)])).fit(Net(), loader())


def bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def trained_net(tmp_path) -> Net:
    model = Net()
    L.Trainer(**trainer_kwargs(tmp_path, max_steps=3)).fit(model, loader())
    return model


def test_predict_with_mc_samples_differs_between_passes_and_leaves_batchnorm_alone(tmp_path) -> None:
    model = trained_net(tmp_path)
    model.net[1].eval()  # mixed flags, to check each is restored
    flags = [m.training for m in model.modules()]
    before = bn_state(model)
    assert before["net.1.num_batches_tracked"].item() == 3
    trainer = L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout(samples=16, return_samples=True, seed=0)]))
    preds = trainer.predict(model, loader(24, labels=False))
    assert len(preds) == 3 and all(isinstance(p, MCPrediction) for p in preds)
    for p in preds:
        assert p.samples_used == 16 and p.samples.shape == (16, 8, 3)
        # every pair of passes differs: dropout is on
        flat = p.samples.flatten(1)
        assert all(not torch.equal(flat[i], flat[j]) for i in range(16) for j in range(i + 1, 16))
        assert torch.allclose(p.mean.sum(-1), torch.ones(8))
        assert bool((p.mutual_information > 0).all())
    after = bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # every flag is back as it was, the class's predict_step is back
    assert [m.training for m in model.modules()] == flags
    assert "predict_step" not in vars(model)
    # the same seed gives the same predictions
    again = L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout(samples=16, return_samples=True, seed=0)]))
    assert all(torch.equal(a.samples, b.samples) for a, b in zip(preds, again.predict(model, loader(24, labels=False))))


def test_predict_without_samples_keeps_the_modules_predict_step(tmp_path) -> None:
    model = trained_net(tmp_path)
    before = bn_state(model)
    data = loader(8, labels=False)
    plain = L.Trainer(**trainer_kwargs(tmp_path))
    a, b = plain.predict(model, data)[0], plain.predict(model, data)[0]
    assert torch.equal(a, b)  # Lightning's predict is deterministic: dropout is off (#21410)
    mc = L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout()]))
    c, d = mc.predict(model, data)[0], mc.predict(model, data)[0]
    assert c.shape == a.shape and not torch.equal(c, d)
    # BatchNorm stays in eval: its output in MC predict is its eval output exactly (running statistics)
    captured = []
    handle = model.net[1].register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))
    plain.predict(model, data)
    mc.predict(model, data)
    handle.remove()
    assert torch.equal(captured[0], captured[1])
    after = bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_test_loop_is_stochastic_with_the_callback_only(tmp_path) -> None:
    model = trained_net(tmp_path)
    before = bn_state(model)
    data = loader(16)
    L.Trainer(**trainer_kwargs(tmp_path)).test(model, data, verbose=False)
    assert all(torch.equal(o[0], o[1]) for o in model.test_outputs)
    model.test_outputs.clear()
    L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout()])).test(model, data, verbose=False)
    assert all(not torch.equal(o[0], o[1]) for o in model.test_outputs)
    after = bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_validate_stage_and_flags_back_for_training(tmp_path) -> None:
    class Val(Net):
        flags: list[bool] = []

        def training_step(self, batch, batch_idx):
            self.flags.append(all(m.training for m in self.modules()))
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch, batch_idx):
            self.test_outputs.append(torch.stack([self(batch[0]), self(batch[0])]))

    model = Val()
    # validation inside fit runs stochastically, and training after it is back in training mode
    trainer = L.Trainer(**trainer_kwargs(tmp_path, max_steps=4, val_check_interval=2, num_sanity_val_steps=0,
                                         callbacks=[MCDropout(stages="validate")]))
    trainer.fit(model, loader(), loader(16))
    assert model.test_outputs and all(not torch.equal(o[0], o[1]) for o in model.test_outputs)
    assert model.flags == [True] * 4  # BatchNorm included: training resumed in training mode
    before = bn_state(model)
    model.test_outputs.clear()
    L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout(stages=["validate"])])).validate(model, loader(16), verbose=False)
    assert all(not torch.equal(o[0], o[1]) for o in model.test_outputs)
    assert all(torch.equal(before[k], v) for k, v in bn_state(model).items())
    # predict is not among the stages: deterministic
    out = L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout(stages="validate")])).predict(model, loader(8, labels=False))
    again = L.Trainer(**trainer_kwargs(tmp_path)).predict(model, loader(8, labels=False))
    assert torch.equal(out[0], again[0])


def test_dropped_fraction_in_predict_matches_the_rate(tmp_path) -> None:
    # with the callback, the Dropout(0.5) layer zeroes about half its inputs in predict
    model = trained_net(tmp_path)
    zeros = []

    def hook(m, i, o):
        zeros.append(((o == 0) & (i[0] != 0)).sum().item() / max((i[0] != 0).sum().item(), 1))
        zeros.append((i[0] != 0).sum().item())

    handle = model.net[3].register_forward_hook(hook)
    L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout()])).predict(model, loader(200, 200, labels=False))
    handle.remove()
    frac, n = zeros
    assert abs(frac - 0.5) < 6 * math.sqrt(0.25 / n)


def test_mc_dropout_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 0"):
        MCDropout(samples=0)
    with pytest.raises(ValueError, match="stages must be one of 'predict', 'test', 'validate', got 'fit'"):
        MCDropout(stages=("fit",))
    with pytest.raises(ValueError, match="task must be one of"):
        MCDropout(task="segmentation")
    with pytest.raises(TypeError, match="input_fn must be callable"):
        MCDropout(input_fn="x")
    with pytest.raises(TypeError, match="batch must be a Tensor or a tuple / list .* got dict"):
        default_input({"x": torch.zeros(1)})
    model = Net(0.0, 0.0)
    with pytest.raises(ValueError, match="must contain a stochastic layer .* got Net with none"):
        L.Trainer(**trainer_kwargs(tmp_path, callbacks=[MCDropout(samples=4)])).predict(model, loader(8, labels=False))
    assert "predict_step" not in vars(model)


def test_lightning_callbacks_refuse_a_transformers_trainer(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    model = transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    for cb, hint in ((DropoutSchedule("linear", p=0.1), "transformers.DropoutSchedule"), (MCDropout(), "transformers.mc_evaluate")):
        with pytest.raises(TypeError, match=f"must be used with lightning.pytorch.Trainer, got a transformers Trainer; use dropkit.integrations.{hint}"):
            transformers.Trainer(model=model, args=args, callbacks=[cb])
